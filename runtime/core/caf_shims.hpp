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
//   * a terminated broker's mailbox     (bindings/http)
//
// Two seams of the HTTP server rely on CAF internals through CAF's own
// extension points instead, each with its test: aborting a connection
// (bindings/http/connection_abort.hpp) and the paced acceptor
// (bindings/http/paced_acceptor.hpp).

#include <cstdint>
#include <limits>

#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/detail/sync_request_bouncer.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/optional.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>
#include <caf/timespan.hpp>

namespace cartd::caf_shims {

// -- HTTP direct socket writes ------------------------------------------------

/// The socket of the TCP connection `hdl`, or -1 when its id cannot be one.
///
/// Assumes what CAF 0.17.6's default multiplexer does
/// (`network::conn_hdl_from_socket`): a connection handle's id is the file
/// descriptor of its socket. The HTTP server writes responses to that socket
/// itself (bindings/http/socket_writes.hpp) and checks per connection that
/// the socket's ports are the connection's before it does.
/// Test: tests/bindings/http/socket_writes_test.cpp
/// (`a_connection_handle_names_the_socket_of_its_connection`).
inline int socket_of(caf::io::connection_handle hdl) noexcept {
  auto id = hdl.id();
  if (id < 0 || id > std::numeric_limits<int>::max())
    return -1;
  return static_cast<int>(id);
}

// -- the cart's shared behavior -----------------------------------------------

/// The actor of class `T` that CAF runs on this thread, for a behavior built
/// once and shared by every actor of the class (its handlers capture
/// nothing, so an actor costs no copy of it). `T` overrides resume:
///
///   resume_result resume(caf::execution_unit* ctx, size_t max) override {
///     return running_actor<T>::resume(this, [&] {
///       return super::resume(ctx, max);
///     });
///   }
///
/// and a shared handler finds its actor with running_actor<T>::get().
///
/// Assumes (CAF 0.17.6): a scheduled actor's handlers (behavior, response
/// handlers, default and exception handlers) run only inside its virtual
/// resumable::resume, on the thread that called it, and every scheduler
/// (work stealing, sharing, test_coordinator, a detached actor's private
/// thread) runs actors through it. Nested resumes (test_coordinator's
/// inline enqueues) restore the outer actor.
/// Test: tests/runtime/core/caf_shims_cart_test.cpp, "shared behavior".
template <class T>
class running_actor {
public:
  /// The actor whose resume() runs on this thread (nullptr: none).
  static T* get() noexcept { return current_; }

  /// Calls `resume` (the actor's base class resume) with `self` running.
  template <class Resume>
  static caf::resumable::resume_result resume(T* self, Resume&& resume) {
    struct restore {
      T* prev;
      ~restore() { current_ = prev; }
    } guard{current_};
    current_ = self;
    return resume();
  }

private:
  static inline thread_local T* current_ = nullptr;
};

// -- request timeouts ---------------------------------------------------------

/// Drops the timeout of the request whose response `self` is handling now;
/// call it in the response handler. After an error, pass it: a
/// request_timeout error is the timeout itself, already gone.
///
/// Why: CAF 0.17.6 keeps a request's timeout in the actor clock until it is
/// due, even once the response is in: three allocations and a strong
/// reference to `self` per request, for as long as the timeout.
///
/// Assumes (CAF 0.17.6): request(dest, timeout, ...) registers the timeout
/// as clock().set_request_timeout(due, self, id.response_id()); while the
/// response handler runs, current_message_id() is that response id; and
/// actor_clock::cancel_request_timeout(self, id) removes exactly that entry.
/// Test: tests/runtime/core/caf_shims_cart_test.cpp, "request timeouts".
inline void cancel_request_timeout(caf::scheduled_actor* self) {
  self->clock().cancel_request_timeout(self, self->current_message_id());
}

inline void cancel_request_timeout(caf::scheduled_actor* self,
                                   const caf::error& err) {
  if (err != caf::sec::request_timeout)
    cancel_request_timeout(self);
}

// -- the shard's idle sweep ---------------------------------------------------

/// The object of class `T` behind `handle`, an actor this node spawned as a
/// `T`: lets another actor read what `T` keeps in atomics (the shard reads
/// when its carts were last used) without a message per actor. The handle
/// keeps the object alive, also after the actor terminated.
///
/// Assumes (CAF 0.17.6): a local actor's handle points to its control block,
/// allocated together with the actor object (actor_storage<T>);
/// actor_cast<abstract_actor*> returns that object; its destructor runs only
/// once the last strong reference is gone. Never true for a proxy of a
/// remote actor: only handles this node spawned as a `T` may come here.
/// Test: tests/runtime/core/caf_shims_cart_test.cpp, "local actor".
template <class T, class Handle>
const T& local_actor(const Handle& handle) noexcept {
  return *static_cast<const T*>(caf::actor_cast<caf::abstract_actor*>(handle));
}

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

// -- a terminated broker's mailbox ------------------------------------------

/// Closes the mailbox of `self`, a broker that is terminating, and drops what
/// waits in it (a request among it gets `reason` as its error). Call it from
/// a functor attached to the broker (attach_functor): it runs while the
/// broker terminates.
///
/// Why: CAF 0.17.6's abstract_broker::cleanup skips scheduled_actor::cleanup,
/// which closes and empties the mailbox of every other actor. A terminated
/// broker's mailbox stays open: whatever is sent to it afterwards is queued,
/// never run, and freed only with the broker. A queued message that holds a
/// strong reference to the broker (its own delayed tick, whose sender it is;
/// a message carrying its handle) then keeps it alive forever, and the
/// broker, its mailbox and everything they hold leak at shutdown.
///
/// Assumes (CAF 0.17.6): attachables run in the broker's cleanup on the
/// broker's own thread, its mailbox's only reader; mailbox().close() moves
/// the queued messages into mailbox().queue(), which new_round empties as
/// scheduled_actor::cleanup does; a closed mailbox rejects (and a request,
/// bounces) whatever comes later.
/// Test: tests/bindings/http/server_shutdown_test.cpp.
inline void close_mailbox(caf::scheduled_actor* self,
                          const caf::error& reason) {
  auto& box = self->mailbox();
  if (box.closed())
    return;
  box.close();
  self->get_normal_queue().flush_cache();
  self->get_urgent_queue().flush_cache();
  caf::detail::sync_request_bouncer bounce{reason};
  while (box.queue().new_round(1000, bounce).consumed_items) {
    // next round
  }
}

} // namespace cartd::caf_shims
