#pragma once

// Every place cartd relies on an internal of CAF 0.17.6 (not a documented,
// stable API) goes through this header, and nowhere else. Each shim says
// which assumption it makes and names the test that fails loudly if a CAF
// upgrade breaks it. When CAF is upgraded, this header and those tests are
// the list to go through.
//
// Sections (one per user of an internal):
//   * HTTP direct socket writes        (bindings/http)
//   * the cart's shared behavior        (actors/cart)
//   * request timeouts                  (actors/cart)
//   * the shard's idle sweep            (actors/cart)
//   * supervisor timers                 (runtime/supervision)

#include <cstdint>

#include <caf/fwd.hpp>
#include <caf/optional.hpp>
#include <caf/timespan.hpp>

namespace cartd::caf_shims {

// -- HTTP direct socket writes ------------------------------------------------

// -- the cart's shared behavior -----------------------------------------------

// -- request timeouts ---------------------------------------------------------

// -- the shard's idle sweep ---------------------------------------------------

// -- supervisor timers --------------------------------------------------------

// Assumption (CAF 0.17.6): a message an actor sends itself with delayed_send
// and that its behavior does not match reaches the actor's default handler
// (set_default_handler), where current_sender() is the actor itself and the
// message_view's content() is a type_erased_tuple that match_elements and
// get_as read. supervisor_core owns no clause of its host's behavior, so it
// carries its kill timers through the host's default handler. CAF 0.18
// changes the default handler's argument to caf::message and removes
// type_erased_tuple: these two functions are what to rewrite then.
// Guarded by tests/runtime/supervision/supervisor_timers_test.cpp.

/// A timer an actor sent itself with send_self_timer.
struct self_timer {
  caf::atom_value tag;
  uint64_t arg;
};

/// Sends `self` the timer (tag, arg) after `delay`, to be recognized by
/// read_self_timer in its default handler. `tag` must match no clause of
/// `self`'s behavior.
void send_self_timer(caf::event_based_actor* self, caf::timespan delay,
                     caf::atom_value tag, uint64_t arg);

/// Returns the timer the default handler of `self` is looking at if `msg`
/// is one that `self` sent itself with send_self_timer; none for anything
/// else (also for the same content from another sender).
caf::optional<self_timer> read_self_timer(caf::scheduled_actor* self,
                                          caf::message_view& msg);

} // namespace cartd::caf_shims
