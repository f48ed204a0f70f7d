#include "actors/cart/actor/event_codec.hpp"

#include <cstdint>

#include <nlohmann/json.hpp>

namespace cartd {

namespace {

constexpr int format_version = 1;

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

} // namespace

namespace {

// Appends `str` as a JSON string; nlohmann does the escaping. The events'
// fixed shape is written directly: an nlohmann object tree per event cost
// about 8k instructions, a tenth of a whole durable add.
void append_json_string(std::string& out, const std::string& str) {
  out += nlohmann::json(str).dump(-1, ' ', false,
                                  nlohmann::json::error_handler_t::replace);
}

void append_item_event(std::string& out, const char* type,
                       const std::string& item) {
  out += "{\"v\":1,\"type\":\"";
  out += type;
  out += "\",\"item\":";
  append_json_string(out, item);
}

void append_quantity(std::string& out, int64_t quantity) {
  out += ",\"quantity\":";
  out += std::to_string(quantity);
}

} // namespace

std::string encode_event(const cart_event& ev) {
  static_assert(format_version == 1, "update the literals below");
  std::string out;
  out.reserve(64);
  std::visit(overload{
                 [&](const item_added& x) {
                   append_item_event(out, "item_added", x.item);
                   append_quantity(out, x.quantity);
                   out += '}';
                 },
                 [&](const item_quantity_set& x) {
                   append_item_event(out, "item_quantity_set", x.item);
                   append_quantity(out, x.quantity);
                   out += '}';
                 },
                 [&](const item_removed& x) {
                   append_item_event(out, "item_removed", x.item);
                   out += '}';
                 },
                 [&](const cart_cleared&) {
                   out += R"({"v":1,"type":"cart_cleared"})";
                 },
                 [&](const cart_checked_out&) {
                   out += R"({"v":1,"type":"cart_checked_out"})";
                 },
             },
             ev);
  return out;
}

std::optional<cart_event> decode_event(const std::string& payload) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  auto v = j.find("v");
  auto type = j.find("type");
  if (v == j.end() || *v != format_version || type == j.end() ||
      !type->is_string())
    return std::nullopt;
  // Only what decide can produce: a cart recovered from other values could
  // break its rules (and a line could overflow).
  auto item = [&]() -> std::optional<std::string> {
    auto i = j.find("item");
    if (i == j.end() || !i->is_string() ||
        !valid_item_id(i->get_ref<const std::string&>()))
      return std::nullopt;
    return i->get<std::string>();
  };
  auto quantity = [&](int64_t max) -> std::optional<int64_t> {
    auto i = j.find("quantity");
    if (i == j.end() || !i->is_number_integer())
      return std::nullopt;
    auto q = i->get<int64_t>();
    if (i->is_number_unsigned() && i->get<uint64_t>() > uint64_t{INT64_MAX})
      return std::nullopt;
    if (q < 1 || q > max)
      return std::nullopt;
    return q;
  };
  const auto& name = type->get_ref<const std::string&>();
  if (name == "item_added" || name == "item_quantity_set") {
    auto x = item();
    auto q = quantity(name == "item_added" ? max_quantity_per_change
                                           : max_line_quantity);
    if (!x || !q)
      return std::nullopt;
    if (name == "item_added")
      return cart_event{item_added{std::move(*x), *q}};
    return cart_event{item_quantity_set{std::move(*x), *q}};
  }
  if (name == "item_removed") {
    auto x = item();
    if (!x)
      return std::nullopt;
    return cart_event{item_removed{std::move(*x)}};
  }
  if (name == "cart_cleared")
    return cart_event{cart_cleared{}};
  if (name == "cart_checked_out")
    return cart_event{cart_checked_out{}};
  return std::nullopt;
}

std::string encode_state(const cart& state) {
  nlohmann::ordered_json j;
  j["v"] = format_version;
  auto lines = nlohmann::ordered_json::object();
  for (auto& [item, quantity] : state.lines)
    lines[item] = quantity;
  j["lines"] = std::move(lines);
  j["checked_out"] = state.checked_out;
  j["version"] = state.version;
  return j.dump();
}

std::optional<cart> decode_state(const std::string& payload) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  auto v = j.find("v");
  auto lines = j.find("lines");
  auto checked_out = j.find("checked_out");
  auto version = j.find("version");
  if (v == j.end() || *v != format_version || lines == j.end() ||
      !lines->is_object() || checked_out == j.end() ||
      !checked_out->is_boolean() || version == j.end() ||
      !version->is_number_unsigned())
    return std::nullopt;
  cart result;
  for (auto& [item, quantity] : lines->items()) {
    // Only a cart within the rules (see decode_event).
    if (!quantity.is_number_integer() || !valid_item_id(item) ||
        (quantity.is_number_unsigned() &&
         quantity.get<uint64_t>() > uint64_t{INT64_MAX}))
      return std::nullopt;
    auto q = quantity.get<int64_t>();
    if (q < 1 || q > max_line_quantity)
      return std::nullopt;
    result.lines.emplace(item, q);
  }
  result.checked_out = checked_out->get<bool>();
  result.version = version->get<uint64_t>();
  return result;
}

} // namespace cartd
