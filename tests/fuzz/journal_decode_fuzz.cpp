// What a cart does with the bytes its journal hands back when it recovers
// (cart_actor_impl.cpp, recover): decode the snapshot, decode each event and
// apply it, from arbitrary bytes. Whatever it reads must not crash it or
// overflow (UBSan); what it accepts must survive a round trip through the
// encoders, and a snapshot it accepts is a cart within the cart's rules (the
// events after it are facts: apply takes them as they are).
//
// Input: a snapshot (or none) and event payloads, taken by
// FuzzedDataProvider.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "actors/cart/actor/event_codec.hpp"
#include "actors/cart/model/cart.hpp"

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

void check_round_trip(const cart& state) {
  auto decoded = decode_state(encode_state(state));
  FUZZ_CHECK(decoded && *decoded == state);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp{data, size};
  cart current;
  if (fdp.ConsumeBool()) {
    auto snapshot = decode_state(fdp.ConsumeRandomLengthString(4096));
    if (!snapshot)
      return 0; // recover refuses an unreadable snapshot
    current = std::move(*snapshot);
    for (auto& [item, quantity] : current.lines) {
      FUZZ_CHECK(valid_item_id(item));
      FUZZ_CHECK(quantity >= 1 && quantity <= max_line_quantity);
    }
    check_round_trip(current);
  }
  while (fdp.remaining_bytes() > 0) {
    auto ev = decode_event(fdp.ConsumeRandomLengthString(1024));
    if (!ev)
      return 0; // recover refuses an unreadable event
    auto again = decode_event(encode_event(*ev));
    FUZZ_CHECK(again && *again == *ev);
    auto version = current.version;
    apply_in_place(current, *ev);
    FUZZ_CHECK(current.version == version + 1);
    check_round_trip(current);
  }
  return 0;
}
