#pragma once

// A cart's writes, from admission to acknowledgement: which change may be
// sent to the journal now, which waits, which is answered at once, and in
// what order the answers go out. No CAF: the cart actor (cart_actor_impl.cpp)
// is the glue that sends what this class asks it to send and feeds it the
// journal's answers; write_pipeline_test drives it through every state.
//
// Pipelined writes. A change waits for the journal's fsync, which is most of
// its latency; a cart with changes queued does not wait for one write's
// acknowledgement before it sends the next: it decides each change against
// the state after the writes in flight and sends its append right away (up
// to max_writes_in_flight), so the journal commits them together.
// Acknowledgements come back in order (one journal, one stream, batches in
// order), and the cart adopts each state and answers each request in that
// order. Still, the cart never runs ahead of its journal: state() is only
// ever what the journal acknowledged.
//
// States (several hold at once):
//   idle         nothing in flight, nothing queued;
//   writing      1..max_writes_in_flight appends in flight, oldest first;
//   queued       changes wait behind them (at most max_pending; beyond:
//                cart_errc::overloaded). A change with an Idempotency-Key and
//                a queued fault injection run alone: nothing else is in
//                flight with them, so a retry always finds the reply of the
//                request it repeats;
//   stalled      nothing new is sent until the writes in flight are back:
//                the next change was refused against their state, which is
//                not stored yet (and may never be), or one of them failed;
//   passivating  asked to passivate while writing: quits once idle.
//
// Appends (contract 1 of the journal): each append names the exact event it
// extends: expected_seq, and expected_tag, the tag stored with that event
// (the last tag recovered for the first append, the cart's own incarnation
// for an append behind its own writes); its events carry tag = incarnation.
// The journal refuses an append that extends anything else, so an append
// sent behind a failed one can never be stored on top of another writer's
// event: that rule is the journal's, in one place. What the pipeline keeps
// is only its consequence for the answers: once a write failed, the writes
// sent behind it come back failed too; they are answered storage_failure and
// the cart serves on (after `unavailable`; after a conflict or an unknown
// outcome it stops, its state may be stale).
//
// Memory: a resident cart holds a write_pipeline: its acknowledged state and
// the last tag, nothing else. The writes in flight, the jobs queued and the
// stall live in a write_queues the host allocates on first use and may free
// once empty (see "Memory" in cart_actor_impl.cpp).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/cart/model/cart.hpp"

namespace cartd {

/// Most appends one cart has in flight at once.
constexpr size_t max_writes_in_flight = 32;

/// A change as the pipeline runs it.
struct write_request {
  cart_command command;
  /// Refuse unless the cart is at this version (HTTP If-Match).
  std::optional<uint64_t> expected_version;
  /// The client's Idempotency-Key (empty: none).
  std::string idempotency_key;
  /// What the host needs to remember the reply of a keyed change (the
  /// pipeline does not read it).
  std::string request_digest;
  /// The HTTP request's id, for log lines (the pipeline does not read it).
  std::string request_id;

  bool keyed() const noexcept { return !idempotency_key.empty(); }
};

/// One append the host sends now.
struct append_plan {
  /// The sequence number (cart version) the append extends.
  uint64_t expected_seq = 0;
  /// The tag stored with the event at expected_seq, as this cart knows it.
  uint64_t expected_tag = 0;
  /// Stored with the append's events: the cart's incarnation.
  uint64_t tag = 0;
  /// What to store.
  const std::vector<cart_event>& events;
  /// The cart once the append (and every one before it) is stored.
  const cart& next;
};

/// How a write the journal answered with an error ended.
enum class write_failure : uint8_t {
  /// The journal could not store it (after its retries); nothing stored.
  unavailable,
  /// The append did not extend the stream's last event; nothing stored.
  conflict,
  /// No answer in time, or the journal is gone: it may still be stored.
  unknown,
};

/// A change (or a fault injection) waiting to be sent.
template <class Promise>
struct write_job {
  write_request request;
  Promise promise;
  /// A fault injection queued behind writes: crash when its turn comes.
  bool crash = false;
};

/// An append sent and not answered yet.
template <class Promise>
struct write_in_flight {
  Promise promise;
  /// The cart once this append (and every one before it) is stored.
  cart next;
  bool keyed = false;
};

/// Why a pipeline sends nothing new until its writes in flight are back.
enum class write_stall : uint8_t {
  none,
  /// The next change was refused against the state in flight.
  refused,
  /// A write failed: those in flight were sent behind it.
  failed,
};

/// What a pipeline holds only while it writes: its jobs and its state. The
/// host keeps it, allocated on first use; it may free it once empty (an
/// idle pipeline has nothing here worth keeping).
template <class Promise>
struct write_queues {
  /// Oldest first, at most max_writes_in_flight. Vectors: an empty
  /// std::deque allocates 600 bytes.
  std::vector<write_in_flight<Promise>> in_flight;
  /// Oldest first.
  std::vector<write_job<Promise>> pending;
  /// Reset once nothing is in flight.
  write_stall stall = write_stall::none;
  /// Asked to passivate while writing: passivate once idle.
  bool passivating = false;

  /// Nothing in flight and nothing queued (nothing waits unless something
  /// is in flight).
  bool empty() const noexcept { return in_flight.empty() && pending.empty(); }
};

namespace detail {

/// What decide() says to `request` against `base`: the events, or the error
/// (version_mismatch included) with its detail.
struct write_verdict {
  std::vector<cart_event> events;
  cart_errc error = cart_errc::none;
  std::string detail;
};

write_verdict decide_write(const cart& base, const write_request& request,
                           const cart_limits& limits);

} // namespace detail

/// The write path of one cart; `Promise` answers one request (movable). The
/// events take the `Host`, what the pipeline drives:
///
///   write_queues<Promise>& queues();         // allocate on first use
///   write_queues<Promise>* queues_if_any();  // never allocates
///   uint64_t incarnation() const;            // non-zero
///   const cart_limits& limits() const;
///   size_t max_pending() const;
///   bool replay(write_request&, Promise&);
///       // a keyed change is about to run: answer it from the remembered
///       // reply if it is a retry (or a reused key); true: answered
///   void send_append(const append_plan&, write_request&);
///       // send this append now (it may take the request's strings)
///   void stored(Promise&, const cart& state);  // answer a stored write
///   void fail(Promise&, cart_errc, std::string detail);
///   void crash(Promise&&);  // carry out a queued fault injection
///   void stop(cart_errc, std::string detail);  // end the incarnation
///   void passivate();                          // end it normally
///
/// Each call into the pipeline runs to completion before the next (the host
/// is an actor); the host does not free its queues during one.
template <class Promise>
class write_pipeline {
public:
  using job_type = write_job<Promise>;
  using queues_type = write_queues<Promise>;

  // -- inspectors -------------------------------------------------------------

  /// The last state the journal acknowledged.
  const cart& state() const noexcept { return state_; }

  /// The tag of the event at state().version (0 for version 0 or a v1
  /// event).
  uint64_t last_tag() const noexcept { return last_tag_; }

  /// The writes in flight of the pipeline whose host is `host`.
  template <class Host>
  static size_t in_flight(Host& host) {
    auto* q = host.queues_if_any();
    return q != nullptr ? q->in_flight.size() : 0;
  }

  /// Nothing in flight and nothing queued.
  template <class Host>
  static bool idle(Host& host) {
    return in_flight(host) == 0;
  }

  /// Whether nothing new may be sent until the writes in flight are back.
  template <class Host>
  static bool stalled(Host& host) {
    auto* q = host.queues_if_any();
    return q != nullptr && q->stall != write_stall::none;
  }

  /// Whether the writes in flight were sent behind one that failed.
  template <class Host>
  static bool behind_failure(Host& host) {
    auto* q = host.queues_if_any();
    return q != nullptr && q->stall == write_stall::failed;
  }

  // -- events -----------------------------------------------------------------

  /// The cart recovered `state`, whose last event carries `tag`.
  void recovered(cart state, uint64_t tag) {
    state_ = std::move(state);
    last_tag_ = tag;
  }

  /// A change arrives: sent, answered at once (refused, a retry, overloaded)
  /// or queued.
  template <class Host>
  void admit(write_request request, Promise promise, Host& host) {
    job_type job{std::move(request), std::move(promise), false};
    auto* q = host.queues_if_any();
    if ((q != nullptr && !q->pending.empty()) || !can_start(job, q)) {
      auto& queues = host.queues();
      if (queues.pending.size() >= host.max_pending()) {
        host.fail(job.promise, cart_errc::overloaded,
                  "too many changes queued for this cart");
        return;
      }
      queues.pending.push_back(std::move(job));
      return;
    }
    start(std::move(job), host);
  }

  /// A fault injection: carried out now when idle, else in order behind the
  /// changes before it (not bounded by max_pending).
  template <class Host>
  void crash_requested(Promise promise, Host& host) {
    if (idle(host)) {
      host.crash(std::move(promise));
      return;
    }
    host.queues().pending.push_back(
        job_type{write_request{}, std::move(promise), true});
  }

  /// The oldest write in flight is stored.
  template <class Host>
  void stored(Host& host) {
    auto& q = *host.queues_if_any();
    auto w = std::move(q.in_flight.front());
    q.in_flight.erase(q.in_flight.begin());
    if (q.in_flight.empty())
      q.stall = write_stall::none;
    // A write sent behind a failed one is never stored (the journal's rule,
    // see the top of this file): this one extends the state before it.
    state_ = std::move(w.next);
    last_tag_ = host.incarnation();
    host.stored(w.promise, state_);
    drain(host);
  }

  /// The oldest write in flight failed; `detail` says why (for the answers).
  template <class Host>
  void failed(write_failure why, const std::string& detail, Host& host) {
    auto& q = *host.queues_if_any();
    auto w = std::move(q.in_flight.front());
    q.in_flight.erase(q.in_flight.begin());
    bool doomed = q.stall == write_stall::failed;
    if (q.in_flight.empty())
      q.stall = write_stall::none;
    bool refused = why != write_failure::unknown;
    auto code = refused ? cart_errc::storage_failure : cart_errc::timeout;
    host.fail(w.promise, code, detail);
    if (doomed && refused) {
      // Sent behind a write that failed: it could not be stored.
      drain(host);
      return;
    }
    if (why != write_failure::unavailable) {
      // A conflict (someone else wrote this stream) or an unknown outcome
      // (the write may still land): the state may be stale. Stop; the next
      // request activates the cart from the journal. The writes sent behind
      // this one share its fate.
      if (refused)
        stop(cart_errc::storage_failure, {}, host);
      else
        stop(cart_errc::timeout, detail, host);
      return;
    }
    // Nothing was stored: the writes sent behind this one extend an event
    // that does not exist and will come back failed (pipeline state, not a
    // correctness rule: the journal refuses them). Send nothing new until
    // they are back, then go on from state().
    if (!q.in_flight.empty())
      q.stall = write_stall::failed;
    drain(host);
  }

  /// Forgets the state (the incarnation ended; its jobs are answered).
  void reset() { *this = write_pipeline{}; }

  /// Passivation was asked for: passivates now when idle, else once idle.
  template <class Host>
  void passivate(Host& host) {
    if (idle(host))
      host.passivate();
    else
      host.queues().passivating = true;
  }

  /// The cart crashed: queued changes never ran, and are answered
  /// unavailable; the writes in flight may still commit, and are answered
  /// crashed (a fault injection being carried out is the host's to answer).
  /// The pipeline is idle afterwards.
  template <class Host>
  void crashed(Host& host) {
    auto* q = host.queues_if_any();
    if (q != nullptr) {
      for (auto& job : q->pending)
        host.fail(job.promise, cart_errc::unavailable, "restarting");
      q->pending.clear();
      for (auto& w : q->in_flight)
        host.fail(w.promise, cart_errc::crashed,
                  "the change may have been applied; retry with the same "
                  "Idempotency-Key to find out");
      q->in_flight.clear();
      q->stall = write_stall::none;
    }
  }

private:
  bool can_start(const job_type& job, const queues_type* q) const {
    if (q == nullptr || q->in_flight.empty())
      return true;
    if (q->in_flight.size() >= max_writes_in_flight || job.crash ||
        job.request.keyed())
      return false;
    return q->stall == write_stall::none && !q->in_flight.back().keyed;
  }

  // Runs one job to the point where it waits for the journal, or answers it
  // at once when it is refused or is a retry.
  template <class Host>
  void start(job_type job, Host& host) {
    if (job.crash) {
      host.crash(std::move(job.promise));
      return;
    }
    if (job.request.keyed() && host.replay(job.request, job.promise))
      return;
    auto* q = host.queues_if_any();
    // The state this change applies to: after the writes in flight.
    bool behind = q != nullptr && !q->in_flight.empty();
    const cart& base = behind ? q->in_flight.back().next : state_;
    auto verdict = detail::decide_write(base, job.request, host.limits());
    if (verdict.error != cart_errc::none) {
      if (behind) {
        // Refused against a state that is not stored yet (and may never
        // be): decide again once the writes in flight are back.
        q->stall = write_stall::refused;
        q->pending.insert(q->pending.begin(), std::move(job));
        return;
      }
      host.fail(job.promise, verdict.error, std::move(verdict.detail));
      return;
    }
    // The state after the change, computed ahead but adopted only once the
    // journal has it.
    auto next = base;
    for (auto& ev : verdict.events)
      apply_in_place(next, ev);
    bool keyed = job.request.keyed();
    auto incarnation = host.incarnation();
    append_plan plan{base.version, behind ? incarnation : last_tag_,
                     incarnation, verdict.events, next};
    host.send_append(plan, job.request); // may take the request's strings
    host.queues().in_flight.push_back(write_in_flight<Promise>{
        std::move(job.promise), std::move(next), keyed});
  }

  // Answers the writes in flight with (code, detail) and the queued ones
  // with unavailable, and stops the cart.
  template <class Host>
  void stop(cart_errc code, const std::string& detail, Host& host) {
    if (auto* q = host.queues_if_any()) {
      for (auto& w : q->in_flight)
        host.fail(w.promise, code, detail);
      q->in_flight.clear();
      for (auto& job : q->pending)
        host.fail(job.promise, cart_errc::unavailable, {});
      q->pending.clear();
      q->stall = write_stall::none;
    }
    host.stop(code, detail);
  }

  // Sends queued jobs, oldest first, while they may go; passivates once idle
  // if asked to.
  template <class Host>
  void drain(Host& host) {
    auto* q = host.queues_if_any();
    while (q != nullptr && !q->pending.empty() &&
           can_start(q->pending.front(), q)) {
      auto job = std::move(q->pending.front());
      q->pending.erase(q->pending.begin());
      start(std::move(job), host);
    }
    if (q != nullptr && q->passivating && q->in_flight.empty())
      host.passivate();
  }

  /// The last state the journal acknowledged.
  cart state_;
  /// The tag of the event at state_.version.
  uint64_t last_tag_ = 0;
};

} // namespace cartd
