#include "runtime/journal/journal_actor_impl.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <iterator>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/spawn_options.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"
#include "runtime/journal/journal_workers.hpp"
#include "runtime/metrics/node_metrics.hpp"

// Who runs what. The journal actor is a coordinator on the scheduler: it
// queues appends, decides what to commit and what to read when, and never
// calls a backend that blocks. The backend it was given (the writer) runs on
// a worker actor of its own, one commit at a time; readers (open_reader) run
// on one worker each. Over a backend that blocks, the workers are detached
// (a thread each). A backend that does not block runs on the scheduler:
// with readers, on worker actors there too (the same protocol, and what the
// deterministic tests hold and release); without readers (the memory
// journal), the coordinator calls it itself, as there is nothing to overlap
// and a worker would cost two messages per commit.

namespace cartd {

namespace {

using clock_type = caf::actor_clock;
using promise_type = caf::typed_response_promise<uint64_t>;
using journal_workers::commit_atom;
using journal_workers::commit_batch;
using journal_workers::commit_on;
using journal_workers::commit_outcome;
using journal_workers::open_atom;
using journal_workers::opened_readers;
using journal_workers::read_on;
using journal_workers::reader_actor;
using journal_workers::reader_impl;
using journal_workers::results_type;
using journal_workers::writer_actor;
using journal_workers::writer_impl;

// The coordinator's own retry timer (never leaves the node).
using retry_atom = caf::atom_constant<caf::atom("jretry")>;

constexpr auto first_backoff = std::chrono::milliseconds{5};
constexpr auto max_backoff = std::chrono::milliseconds{200};

// -- the coordinator ----------------------------------------------------------

struct journal_state {
  std::shared_ptr<journal_backend> backend;
  journal_settings settings;
  /// Null: the coordinator calls the backend itself (see the top).
  writer_actor writer;
  struct reader_slot {
    reader_actor handle;
    /// Reads sent and not answered yet.
    size_t busy = 0;
  };
  std::vector<reader_slot> readers;
  /// Where the next tie between equally busy readers goes.
  size_t next_reader = 0;
  /// The batch being committed (or retried), and its promises.
  std::shared_ptr<std::vector<journal_append>> current;
  std::vector<promise_type> current_promises;
  /// `current` is with the writer.
  bool committing = false;
  /// `current` failed to commit and a retry_atom is scheduled.
  bool retrying = false;
  /// An attempt at `current` ended with an unknown outcome: it may be
  /// stored, so it is retried with append_batch_again and never answered
  /// unavailable.
  bool again = false;
  clock_type::time_point first_failure;
  caf::timespan backoff{0};
  /// When the commit of `current` went to the writer (metrics; wall time,
  /// not the actor clock, which is virtual in tests).
  std::chrono::steady_clock::time_point commit_started;
  /// Appends that arrived since `current` was taken.
  std::vector<journal_append> pending;
  std::vector<promise_type> pending_promises;
  /// A flush_atom is on its way to us.
  bool flush_scheduled = false;
  /// Recoveries waiting for the verdict on appends to their stream that
  /// arrived before them (see on_recover).
  struct deferred_recovery {
    std::string stream;
    int64_t keys_since_ms;
    caf::typed_response_promise<journal_recovery> promise;
  };
  std::vector<deferred_recovery> deferred;
  /// Reads sent to a worker and not answered yet.
  size_t reads_in_flight = 0;
  /// Health: the last commit failed; the last read failed.
  bool commit_failing = false;
  bool read_failing = false;
  /// Shutting down: everything handed over is answered, then we quit with
  /// `exit_reason`.
  bool closing = false;
  caf::error exit_reason;
  /// quit() was called.
  bool quitting = false;

  journal_state() = default;

  journal_state(const journal_state&) = delete;

  journal_state& operator=(const journal_state&) = delete;

  // Runs however the coordinator ends: its workers end with it (a worker
  // busy with a call ends after it).
  ~journal_state() {
    if (writer)
      caf::anon_send_exit(writer, caf::exit_reason::kill);
    for (auto& r : readers)
      caf::anon_send_exit(r.handle, caf::exit_reason::kill);
  }

  static inline const char* name = "cartd.journal";
};

// A journal_actor plus the messages it sends itself (the world only ever
// holds the journal_actor part).
using journal_impl_actor = journal_actor::extend<caf::reacts_to<flush_atom>,
                                                 caf::reacts_to<retry_atom>>;

using journal_self = journal_impl_actor::stateful_pointer<journal_state>;

bool is_journal_error(const caf::error& err, journal_errc code) {
  return err.category() == caf::atom("journal") &&
         err.code() == static_cast<uint8_t>(code);
}

/// The store is out of reach (as opposed to a refused or unreadable item).
bool is_outage(const caf::error& err) {
  return is_journal_error(err, journal_errc::unavailable) ||
         is_journal_error(err, journal_errc::unknown_outcome);
}

bool commit_failed(const results_type& results) {
  return !results.empty() &&
         std::all_of(results.begin(), results.end(),
                     [](const auto& x) { return !x && is_outage(x.error()); });
}

bool outcome_unknown(const results_type& results) {
  return std::any_of(results.begin(), results.end(), [](const auto& x) {
    return !x && is_journal_error(x.error(), journal_errc::unknown_outcome);
  });
}

void update_health(journal_state& st) {
  if (st.settings.health)
    st.settings.health->available.store(!st.commit_failing && !st.read_failing);
}

bool writer_free(const journal_state& st) {
  return !st.committing && !st.retrying && st.current == nullptr;
}

bool has_appends_for(const journal_state& st, const std::string& stream) {
  auto same = [&](const journal_append& x) { return x.stream == stream; };
  return (st.current != nullptr &&
          std::any_of(st.current->begin(), st.current->end(), same)) ||
         std::any_of(st.pending.begin(), st.pending.end(), same);
}

void schedule_flush(journal_self self) {
  auto& st = self->state;
  if (st.flush_scheduled || !writer_free(st) || st.pending.empty())
    return;
  st.flush_scheduled = true;
  // Lands behind every append already in the mailbox: those join the batch.
  self->send(self, flush_atom::value);
}

void maybe_quit(journal_self self) {
  auto& st = self->state;
  if (st.closing && !st.quitting && st.current == nullptr &&
      st.pending.empty() && st.deferred.empty() && st.reads_in_flight == 0) {
    st.quitting = true;
    self->quit(st.exit_reason);
  }
}

// A worker ended before us, which only a bug does (workers turn exceptions
// into errors): answer what we can and end too; the supervisor starts the
// journal again. A commit that was with the writer may have happened.
void lose_worker(journal_self self, caf::error reason) {
  auto& st = self->state;
  if (st.quitting)
    return;
  log().error("journal: a worker ended: {}", self->system().render(reason));
  auto current_error = st.committing || st.again ? journal_errc::unknown_outcome
                                                 : journal_errc::unavailable;
  for (auto& p : st.current_promises)
    p.deliver(make_error(current_error, "journal worker ended"));
  for (auto& p : st.pending_promises)
    p.deliver(make_error(journal_errc::unavailable, "journal worker ended"));
  for (auto& x : st.deferred)
    x.promise.deliver(
        make_error(journal_errc::unavailable, "journal worker ended"));
  st.current = nullptr;
  st.current_promises.clear();
  st.pending.clear();
  st.pending_promises.clear();
  st.deferred.clear();
  st.quitting = true;
  self->quit(
      reason ? reason
             : make_error(journal_errc::unavailable, "journal worker ended"));
}

void start_commit(journal_self self);

void serve_deferred(journal_self self);

void on_read(journal_self self, caf::expected<journal_recovery>& result,
             const std::string& stream,
             caf::typed_response_promise<journal_recovery>& promise) {
  auto& st = self->state;
  if (result) {
    st.read_failing = false;
    update_health(st);
    promise.deliver(std::move(*result));
    return;
  }
  log().warn("journal recovery of {} failed: {}", stream,
             self->system().render(result.error()));
  if (is_outage(result.error())) {
    st.read_failing = true;
    update_health(st);
  }
  promise.deliver(std::move(result.error()));
}

void on_read_done(journal_self self, const reader_actor& worker,
                  caf::expected<journal_recovery>& result,
                  const std::string& stream,
                  caf::typed_response_promise<journal_recovery>& promise) {
  auto& st = self->state;
  --st.reads_in_flight;
  for (auto& r : st.readers)
    if (r.handle == worker && r.busy > 0)
      --r.busy;
  on_read(self, result, stream, promise);
  maybe_quit(self);
}

// Sends a read to the least busy reader (ties in turn), else to the writer
// (behind its commit, if any), or runs it here.
void start_read(journal_self self, std::string stream, int64_t keys_since_ms,
                caf::typed_response_promise<journal_recovery> promise) {
  auto& st = self->state;
  if (st.writer == nullptr) {
    auto result = read_on(*st.backend, stream, keys_since_ms);
    on_read(self, result, stream, promise);
    return;
  }
  reader_actor worker = st.writer;
  journal_state::reader_slot* slot = nullptr;
  if (!st.readers.empty()) {
    auto n = st.readers.size();
    for (size_t i = 0; i < n; ++i) {
      auto& candidate = st.readers[(st.next_reader + i) % n];
      if (slot == nullptr || candidate.busy < slot->busy)
        slot = &candidate;
    }
    st.next_reader = (st.next_reader + 1) % n;
    ++slot->busy;
    worker = slot->handle;
  }
  ++st.reads_in_flight;
  self->request(worker, caf::infinite, recover_atom::value, stream,
                keys_since_ms)
      .then(
          [self, worker, stream, promise](journal_recovery& x) mutable {
            caf::expected<journal_recovery> result{std::move(x)};
            on_read_done(self, worker, result, stream, promise);
          },
          [self, worker, stream, promise](caf::error& err) mutable {
            caf::expected<journal_recovery> result{std::move(err)};
            on_read_done(self, worker, result, stream, promise);
          });
}

// The request ids of a batch, for its log lines: `one` when a single
// request made it, else up to 8 in `many` ("a,b,...,+N more").
struct batch_request_ids {
  std::string one;
  std::string many;
};

batch_request_ids request_ids_of(const std::vector<journal_append>& batch) {
  batch_request_ids result;
  size_t total = 0;
  size_t listed = 0;
  for (auto& x : batch) {
    if (x.request_id.empty())
      continue;
    ++total;
    if (listed < 8) {
      if (!result.many.empty())
        result.many += ',';
      result.many += x.request_id;
      ++listed;
    }
  }
  if (total > listed)
    result.many += ",+" + std::to_string(total - listed) + " more";
  if (total == 1)
    result.one = std::move(result.many);
  return result;
}

// Answers the batch's appends: `results`, unless the commit failed and is
// retried.
void on_committed(journal_self self, results_type& results) {
  auto& st = self->state;
  st.committing = false;
  if (auto& m = st.settings.metrics) {
    m->journal_commit_duration.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                      st.commit_started)
            .count());
    m->journal_batch_size.observe(
        static_cast<double>(st.current_promises.size()));
    if (commit_failed(results))
      m->journal_errors.inc();
    else
      m->journal_appends.inc(static_cast<uint64_t>(
          std::count_if(results.begin(), results.end(),
                        [](auto& x) { return static_cast<bool>(x); })));
  }
  if (results.size() != st.current_promises.size()) {
    // A backend that breaks its contract: nobody knows what it stored.
    log().error("journal: {} answered {} of {} appends", st.backend->name(),
                results.size(), st.current_promises.size());
    results.assign(st.current_promises.size(),
                   make_error(journal_errc::unknown_outcome,
                              "the journal backend answered a batch short"));
  }
  if (commit_failed(results)) {
    st.commit_failing = true;
    update_health(st);
    if (outcome_unknown(results))
      st.again = true;
    // The actor clock: virtual time under CAF's test coordinator.
    auto now = self->clock().now();
    if (st.backoff.count() == 0) {
      st.first_failure = now;
      st.backoff = first_backoff;
    }
    auto err = self->system().render(results.front().error());
    if (!st.closing && now - st.first_failure < st.settings.retry_for) {
      auto ids = request_ids_of(*st.current);
      log({{"request_id", ids.one}, {"request_ids", ids.many}})
          .warn(
              "journal commit of {} appends failed ({}); retrying in {} ms",
              st.current->size(), err,
              std::chrono::duration_cast<std::chrono::milliseconds>(st.backoff)
                  .count());
      st.retrying = true;
      self->delayed_send(self, st.backoff, retry_atom::value);
      st.backoff = std::min<caf::timespan>(st.backoff * 2, max_backoff);
      return;
    }
    auto ids = request_ids_of(*st.current);
    log({{"request_id", ids.one}, {"request_ids", ids.many}})
        .error("journal commit of {} appends failed for good: {}",
               st.current->size(), err);
    if (st.again && !outcome_unknown(results)) {
      // The last attempt was refused, but an earlier one may have landed.
      for (auto& x : results)
        x = make_error(journal_errc::unknown_outcome,
                       "an earlier attempt's outcome is unknown");
    }
  } else {
    st.commit_failing = false;
    st.read_failing = false;
    update_health(st);
  }
  st.backoff = caf::timespan{0};
  st.again = false;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i])
      st.current_promises[i].deliver(*results[i]);
    else
      st.current_promises[i].deliver(std::move(results[i].error()));
  }
  st.current = nullptr;
  st.current_promises.clear();
  serve_deferred(self);
  if (st.closing)
    start_commit(self);
  else
    schedule_flush(self);
}

// Hands `current` (refilled from `pending` when empty) to the writer, or
// commits it here.
void start_commit(journal_self self) {
  auto& st = self->state;
  if (st.committing || st.retrying)
    return;
  if (st.current == nullptr) {
    if (st.pending.empty()) {
      maybe_quit(self);
      return;
    }
    auto take = std::min(st.pending.size(), st.settings.max_batch);
    auto end = st.pending.begin() + static_cast<ptrdiff_t>(take);
    st.current = std::make_shared<std::vector<journal_append>>(
        std::make_move_iterator(st.pending.begin()),
        std::make_move_iterator(end));
    st.pending.erase(st.pending.begin(), end);
    auto pend = st.pending_promises.begin() + static_cast<ptrdiff_t>(take);
    st.current_promises.assign(
        std::make_move_iterator(st.pending_promises.begin()),
        std::make_move_iterator(pend));
    st.pending_promises.erase(st.pending_promises.begin(), pend);
  }
  st.committing = true;
  if (st.settings.metrics)
    st.commit_started = std::chrono::steady_clock::now();
  commit_batch batch{st.current, st.again};
  if (st.writer == nullptr) {
    auto results = commit_on(*st.backend, batch);
    on_committed(self, results);
    return;
  }
  self->request(st.writer, caf::infinite, commit_atom::value, std::move(batch))
      .then([self](commit_outcome& x) { on_committed(self, x.results); },
            [self](caf::error& err) { lose_worker(self, std::move(err)); });
}

// A recovery sees every append to its stream that reached the journal before
// it: it waits until those are committed or, while a failed commit is being
// retried, failed for good. (A cart that gave up on a write and was
// activated again must not read the state from before a write that is still
// going to land.) Then it goes to a reader.
void serve_deferred(journal_self self) {
  auto& st = self->state;
  if (st.deferred.empty())
    return;
  auto waiting = std::move(st.deferred);
  st.deferred.clear();
  for (auto& x : waiting) {
    if (has_appends_for(st, x.stream))
      st.deferred.push_back(std::move(x));
    else
      start_read(self, std::move(x.stream), x.keys_since_ms,
                 std::move(x.promise));
  }
}

void close(journal_self self, caf::error reason) {
  auto& st = self->state;
  st.closing = true;
  st.exit_reason = std::move(reason);
  if (st.retrying) {
    // The last attempt, now.
    st.retrying = false;
    st.committing = false;
  }
  start_commit(self);
  maybe_quit(self);
}

journal_impl_actor::behavior_type
journal_impl(journal_self self, std::shared_ptr<journal_backend> backend,
             journal_settings settings) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.settings = std::move(settings);
  if (st.settings.max_batch == 0)
    st.settings.max_batch = 1;
  update_health(st);
  auto add_reader = [self](std::shared_ptr<journal_backend> reader,
                           bool detached) {
    auto& st = self->state;
    reader_actor handle;
    if (detached)
      handle = self->spawn<caf::detached + caf::monitored>(reader_impl,
                                                           std::move(reader));
    else
      handle = self->spawn<caf::monitored>(reader_impl, std::move(reader));
    st.readers.push_back(journal_state::reader_slot{std::move(handle), 0});
  };
  if (!st.backend->blocks()) {
    // Opening a reader does not block either: open them here.
    for (size_t i = 0; i < st.settings.readers; ++i) {
      auto reader = st.backend->open_reader();
      if (!reader || *reader == nullptr)
        break;
      add_reader(std::shared_ptr<journal_backend>{std::move(*reader)}, false);
    }
    if (!st.readers.empty())
      st.writer = self->spawn<caf::monitored>(writer_impl, st.backend);
  } else {
    st.writer =
        self->spawn<caf::detached + caf::monitored>(writer_impl, st.backend);
    if (st.settings.readers > 0)
      self->request(st.writer, caf::infinite, open_atom::value,
                    static_cast<uint64_t>(st.settings.readers))
          .then(
              [self, add_reader](opened_readers& x) {
                for (auto& reader : x.readers)
                  add_reader(std::move(reader), true);
                log().info("journal ({}): {} readers",
                           self->state.backend->name(),
                           self->state.readers.size());
              },
              [](caf::error&) {
                // The writer is gone; its down message ends us.
              });
  }
  self->set_down_handler(
      [self](caf::down_msg& msg) { lose_worker(self, std::move(msg.reason)); });
  // On shutdown, whatever was handed to us is committed (or failed) before
  // we go: no append or recovery is ever left unanswered.
  self->set_exit_handler(
      [self](caf::exit_msg& msg) { close(self, std::move(msg.reason)); });
  return {
      [self](append_atom, journal_append& req) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto promise = self->make_response_promise<uint64_t>();
        st.pending.push_back(std::move(req));
        st.pending_promises.push_back(promise);
        if (st.closing || st.pending.size() >= st.settings.max_batch)
          start_commit(self);
        schedule_flush(self);
        return promise;
      },
      [self](flush_atom) {
        self->state.flush_scheduled = false;
        start_commit(self);
      },
      [self](retry_atom) {
        auto& st = self->state;
        if (!st.retrying)
          return; // closing made the last attempt already
        st.retrying = false;
        start_commit(self);
      },
      [self](recover_atom, std::string& stream,
             int64_t keys_since_ms) -> caf::result<journal_recovery> {
        auto& st = self->state;
        auto promise = self->make_response_promise<journal_recovery>();
        if (!has_appends_for(st, stream)) {
          start_read(self, std::move(stream), keys_since_ms, promise);
          return promise;
        }
        st.deferred.push_back(journal_state::deferred_recovery{
            std::move(stream), keys_since_ms, promise});
        // Its stream's appends go first.
        start_commit(self);
        schedule_flush(self);
        return promise;
      },
  };
}

} // namespace

journal_actor spawn_journal(caf::event_based_actor* parent,
                            std::shared_ptr<journal_backend> backend,
                            journal_settings settings) {
  return parent->spawn(journal_impl, std::move(backend), std::move(settings));
}

} // namespace cartd
