// A cart driven by fuzzed requests, the way the cart routes decode them:
// path segment, headers and JSON body decoded and validated
// (bindings/cart_http/request_decoding.hpp), then decide and apply
// (actors/cart/model). Checks that a refusal is a 4xx or a model error and
// changes nothing, that an accepted command yields one event that keeps the
// cart within its rules, and that every event and the cart after it survive
// the journal codecs' round trips (actors/cart/actor/event_codec.hpp).
//
// Input: a sequence of requests, each a route, headers, a path segment and a
// body, taken by FuzzedDataProvider.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "actors/cart/actor/event_codec.hpp"
#include "actors/cart/model/cart.hpp"
#include "actors/cart/protocol/cart_actor.hpp"
#include "bindings/cart_http/request_decoding.hpp"

namespace {

using namespace cartd;

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                   #cond);                                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (false)

enum route : uint8_t { add, set, remove, remove_one, clear, check_out };

const char* const content_types[] = {
    "application/json",
    "Application/Problem+JSON; charset=utf-8",
    "text/plain",
    "",
};

// Decodes a request for `r` into `m` as cart_routes does; false if refused
// (then with a 4xx).
bool decode(route r, const http::request& req, const std::string& segment,
            cart_mutation& m) {
  auto refused = [](const std::optional<http::response>& res) {
    if (!res)
      return false;
    FUZZ_CHECK(res->status >= 400 && res->status < 500);
    return true;
  };
  if (r == add || r == set) {
    auto parsed = r == add ? parse_json_body(req, {"item", "quantity"})
                           : parse_json_body(req, {"quantity"});
    if (refused(parsed.error))
      return false;
    FUZZ_CHECK(parsed.body.is_object());
    std::optional<int64_t> quantity;
    if (r == add) {
      m.kind = mutation_kind::add_item;
      if (refused(read_item(parsed.body, m.item)))
        return false;
      FUZZ_CHECK(valid_item_id(m.item));
      if (refused(read_quantity(parsed.body, "quantity", quantity)))
        return false;
      m.quantity = quantity.value_or(1);
    } else {
      m.kind = mutation_kind::set_item_quantity;
      if (refused(read_quantity(parsed.body, "quantity", quantity)) ||
          !quantity)
        return false;
      m.quantity = *quantity;
    }
    FUZZ_CHECK(m.quantity <= max_quantity_per_change);
  }
  if (r == set || r == remove || r == remove_one) {
    auto item = decode_item_id(segment);
    if (!item)
      return false;
    FUZZ_CHECK(valid_item_id(*item));
    m.item = std::move(*item);
    if (r == remove)
      m.kind = mutation_kind::remove_item;
    if (r == remove_one)
      m.kind = mutation_kind::remove_one_unit;
  }
  if (r == clear)
    m.kind = mutation_kind::clear_cart;
  if (r == check_out)
    m.kind = mutation_kind::checkout;
  return !refused(read_if_match(req, m)) &&
         !refused(read_idempotency_key(req, m));
}

void check_rules(const cart& state, const cart_limits& limits) {
  FUZZ_CHECK(state.lines.size() <= limits.max_lines);
  for (auto& [item, quantity] : state.lines) {
    FUZZ_CHECK(valid_item_id(item));
    FUZZ_CHECK(quantity >= 1 && quantity <= max_line_quantity);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp{data, size};
  cart_limits limits;
  limits.max_lines = fdp.ConsumeIntegralInRange<size_t>(1, 4);
  cart state;
  for (int step = 0; step < 32 && fdp.remaining_bytes() > 0; ++step) {
    auto r = static_cast<route>(fdp.ConsumeIntegralInRange<int>(0, 5));
    http::request req;
    req.has_length = fdp.ConsumeBool();
    auto type = content_types[fdp.ConsumeIntegralInRange<size_t>(0, 3)];
    if (*type != '\0')
      req.msg.set(boost::beast::http::field::content_type, type);
    if (fdp.ConsumeBool())
      req.msg.set(boost::beast::http::field::if_match,
                  fdp.ConsumeRandomLengthString(24));
    if (fdp.ConsumeBool())
      req.msg.set("Idempotency-Key", fdp.ConsumeRandomLengthString(160));
    auto segment = fdp.ConsumeRandomLengthString(160);
    req.msg.body() = fdp.ConsumeRandomLengthString(4096);
    cart_mutation m;
    if (!decode(r, req, segment, m))
      continue;
    auto before = state;
    auto d = decide(state, to_command(m), limits);
    if (!d.accepted()) {
      FUZZ_CHECK(d.error >= cart_errc::invalid_item_id &&
                 d.error <= cart_errc::item_not_found);
      FUZZ_CHECK(d.events.empty());
      continue;
    }
    FUZZ_CHECK(d.events.size() == 1);
    FUZZ_CHECK(!state.checked_out);
    for (auto& ev : d.events) {
      auto decoded = decode_event(encode_event(ev));
      FUZZ_CHECK(decoded && *decoded == ev);
      auto next = cartd::apply(state, ev);
      apply_in_place(state, ev);
      FUZZ_CHECK(next == state);
    }
    FUZZ_CHECK(state.version == before.version + 1);
    check_rules(state, limits);
    auto snapshot = decode_state(encode_state(state));
    FUZZ_CHECK(snapshot && *snapshot == state);
  }
  return 0;
}
