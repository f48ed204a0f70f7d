#include "actors/cart/model/cart.hpp"

#include <type_traits>
#include <utility>

namespace cartd {

namespace {

// -- decide helpers -----------------------------------------------------------

decision accept(cart_event ev) {
  decision result;
  result.events.push_back(std::move(ev));
  return result;
}

decision refuse(cart_errc error) {
  decision result;
  result.error = error;
  return result;
}

bool in_range(int64_t quantity, int64_t min) noexcept {
  return quantity >= min && quantity <= max_quantity_per_change;
}

// Each command first validates its own arguments, then the cart's status, then
// the rules that depend on the lines. A malformed request therefore gets the
// same answer whatever state the cart is in.
struct decider {
  const cart& state;
  const cart_limits& limits;

  bool has_room_for_new_line() const noexcept {
    return state.lines.size() < limits.max_lines;
  }

  decision operator()(const add_item& cmd) const {
    if (!valid_item_id(cmd.item))
      return refuse(cart_errc::invalid_item_id);
    if (!in_range(cmd.quantity, min_add_quantity))
      return refuse(cart_errc::invalid_quantity);
    if (state.checked_out)
      return refuse(cart_errc::checked_out);
    auto i = state.lines.find(cmd.item);
    if (i == state.lines.end()) {
      if (!has_room_for_new_line())
        return refuse(cart_errc::cart_full);
    } else if (i->second > max_line_quantity - cmd.quantity) {
      return refuse(cart_errc::line_quantity_exceeded);
    }
    return accept(item_added{cmd.item, cmd.quantity});
  }

  decision operator()(const set_item_quantity& cmd) const {
    if (!valid_item_id(cmd.item))
      return refuse(cart_errc::invalid_item_id);
    if (!in_range(cmd.quantity, 0))
      return refuse(cart_errc::invalid_quantity);
    if (state.checked_out)
      return refuse(cart_errc::checked_out);
    auto i = state.lines.find(cmd.item);
    if (cmd.quantity == 0) {
      if (i == state.lines.end())
        return refuse(cart_errc::item_not_found);
      return accept(item_removed{cmd.item});
    }
    if (i == state.lines.end() && !has_room_for_new_line())
      return refuse(cart_errc::cart_full);
    return accept(item_quantity_set{cmd.item, cmd.quantity});
  }

  decision operator()(const remove_item& cmd) const {
    if (!valid_item_id(cmd.item))
      return refuse(cart_errc::invalid_item_id);
    if (state.checked_out)
      return refuse(cart_errc::checked_out);
    if (state.lines.count(cmd.item) == 0)
      return refuse(cart_errc::item_not_found);
    return accept(item_removed{cmd.item});
  }

  decision operator()(const remove_one_unit& cmd) const {
    if (!valid_item_id(cmd.item))
      return refuse(cart_errc::invalid_item_id);
    if (state.checked_out)
      return refuse(cart_errc::checked_out);
    auto i = state.lines.find(cmd.item);
    if (i == state.lines.end())
      return refuse(cart_errc::item_not_found);
    if (i->second <= 1)
      return accept(item_removed{cmd.item});
    return accept(item_quantity_set{cmd.item, i->second - 1});
  }

  decision operator()(const clear_cart&) const {
    if (state.checked_out)
      return refuse(cart_errc::checked_out);
    return accept(cart_cleared{});
  }

  decision operator()(const checkout&) const {
    if (state.checked_out)
      return refuse(cart_errc::checked_out);
    if (state.lines.empty())
      return refuse(cart_errc::empty_cart);
    return accept(cart_checked_out{});
  }
};

// -- apply helpers ------------------------------------------------------------

struct applier {
  cart& state;

  void operator()(const item_added& ev) { state.lines[ev.item] += ev.quantity; }

  void operator()(const item_quantity_set& ev) {
    state.lines[ev.item] = ev.quantity;
  }

  void operator()(const item_removed& ev) { state.lines.erase(ev.item); }

  void operator()(const cart_cleared&) { state.lines.clear(); }

  void operator()(const cart_checked_out&) { state.checked_out = true; }
};

// -- event equality -----------------------------------------------------------

bool same(const item_added& x, const item_added& y) noexcept {
  return x.item == y.item && x.quantity == y.quantity;
}

bool same(const item_quantity_set& x, const item_quantity_set& y) noexcept {
  return x.item == y.item && x.quantity == y.quantity;
}

bool same(const item_removed& x, const item_removed& y) noexcept {
  return x.item == y.item;
}

bool same(const cart_cleared&, const cart_cleared&) noexcept {
  return true;
}

bool same(const cart_checked_out&, const cart_checked_out&) noexcept {
  return true;
}

// -- validation helpers -------------------------------------------------------

// Decodes the code point starting at `pos` and moves `pos` past it. Returns -1
// for anything that is not well-formed UTF-8 (Unicode table 3-7): stray
// continuation bytes, truncated sequences, overlong forms, surrogates and
// values above U+10FFFF.
int32_t next_code_point(std::string_view str, size_t& pos) noexcept {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(str[i]); };
  uint32_t lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return static_cast<int32_t>(lead);
  }
  size_t size = 0;
  uint32_t code_point = 0;
  uint32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    size = 2;
    code_point = lead & 0x1F;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    size = 3;
    code_point = lead & 0x0F;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    size = 4;
    code_point = lead & 0x07;
    min = 0x10000;
  } else {
    return -1;
  }
  if (str.size() - pos < size)
    return -1;
  for (size_t i = 1; i < size; ++i) {
    auto next = byte(pos + i);
    if ((next & 0xC0) != 0x80)
      return -1;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  if (code_point < min || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF))
    return -1;
  pos += size;
  return static_cast<int32_t>(code_point);
}

bool is_control(int32_t code_point) noexcept {
  return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F);
}

bool is_cart_id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' || c == '-';
}

} // namespace

// -- errors -------------------------------------------------------------------

const char* to_string(cart_errc x) noexcept {
  switch (x) {
  case cart_errc::none:
    return "none";
  case cart_errc::invalid_item_id:
    return "invalid_item_id";
  case cart_errc::invalid_quantity:
    return "invalid_quantity";
  case cart_errc::line_quantity_exceeded:
    return "line_quantity_exceeded";
  case cart_errc::cart_full:
    return "cart_full";
  case cart_errc::checked_out:
    return "checked_out";
  case cart_errc::empty_cart:
    return "empty_cart";
  case cart_errc::item_not_found:
    return "item_not_found";
  case cart_errc::version_mismatch:
    return "version_mismatch";
  case cart_errc::invalid_cart_id:
    return "invalid_cart_id";
  case cart_errc::overloaded:
    return "overloaded";
  case cart_errc::unavailable:
    return "unavailable";
  case cart_errc::storage_failure:
    return "storage_failure";
  case cart_errc::crashed:
    return "crashed";
  case cart_errc::timeout:
    return "timeout";
  case cart_errc::idempotency_key_reused:
    return "idempotency_key_reused";
  }
  // No default above, so the compiler flags an enumerator without a name.
  return "unknown";
}

// -- state --------------------------------------------------------------------

int64_t cart::total_quantity() const noexcept {
  int64_t result = 0;
  for (const auto& line : lines)
    result += line.second;
  return result;
}

bool operator==(const cart& x, const cart& y) noexcept {
  return x.lines == y.lines && x.checked_out == y.checked_out &&
         x.version == y.version;
}

bool operator==(const cart_event& x, const cart_event& y) noexcept {
  if (x.index() != y.index())
    return false;
  // std::visit throws on a valueless variant; this function is noexcept.
  if (x.valueless_by_exception())
    return true;
  return std::visit(
      [&y](const auto& lhs) {
        using type = std::decay_t<decltype(lhs)>;
        return same(lhs, *std::get_if<type>(&y));
      },
      x);
}

// -- validation ---------------------------------------------------------------

bool valid_item_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_item_id_size)
    return false;
  size_t pos = 0;
  while (pos < id.size()) {
    auto code_point = next_code_point(id, pos);
    if (code_point < 0 || is_control(code_point))
      return false;
  }
  return true;
}

bool valid_cart_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_cart_id_size)
    return false;
  for (auto c : id)
    if (!is_cart_id_char(c))
      return false;
  return true;
}

// -- rules --------------------------------------------------------------------

decision decide(const cart& state, const cart_command& cmd,
                const cart_limits& limits) {
  return std::visit(decider{state, limits}, cmd);
}

cart apply(cart state, const cart_event& ev) {
  apply_in_place(state, ev);
  return state;
}

void apply_in_place(cart& state, const cart_event& ev) {
  std::visit(applier{state}, ev);
  ++state.version;
}

} // namespace cartd
