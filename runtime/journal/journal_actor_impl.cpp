#include "runtime/journal/journal_actor_impl.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/spawn_options.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"

namespace cartd {

namespace {

using clock_type = caf::actor_clock;
using promise_type = caf::typed_response_promise<uint64_t>;

constexpr auto first_backoff = std::chrono::milliseconds{5};
constexpr auto max_backoff = std::chrono::milliseconds{200};

struct journal_state {
  std::shared_ptr<journal_backend> backend;
  journal_settings settings;
  /// The batch being committed (or retried).
  std::vector<journal_append> current;
  std::vector<promise_type> current_promises;
  /// Appends that arrived since `current` was taken.
  std::vector<journal_append> pending;
  std::vector<promise_type> pending_promises;
  /// A flush_atom is on its way to us.
  bool flush_scheduled = false;
  /// `current` failed to commit and a retry is scheduled.
  bool retrying = false;
  clock_type::time_point first_failure;
  caf::timespan backoff{0};
  /// Recoveries waiting for the verdict on appends to their stream that
  /// arrived before them (see `try_recover`).
  struct deferred_recovery {
    std::string stream;
    int64_t keys_since_ms;
    caf::typed_response_promise<journal_recovery> promise;
  };
  std::vector<deferred_recovery> deferred;

  static inline const char* name = "cartd.journal";
};

// A journal_actor plus the flush_atom it sends itself (the world only ever
// holds the journal_actor part).
using journal_impl_actor = journal_actor::extend<caf::reacts_to<flush_atom>>;

using journal_self = journal_impl_actor::stateful_pointer<journal_state>;

bool commit_failed(const std::vector<caf::expected<uint64_t>>& results) {
  return !results.empty() &&
         std::all_of(results.begin(), results.end(), [](const auto& x) {
           return !x && x.error().category() == caf::atom("journal") &&
                  x.error().code() ==
                      static_cast<uint8_t>(journal_errc::unavailable);
         });
}

void schedule_flush(journal_self self) {
  auto& st = self->state;
  if (st.flush_scheduled || st.retrying || st.pending.empty())
    return;
  st.flush_scheduled = true;
  // Lands behind every append already in the mailbox: those join the batch.
  self->send(self, flush_atom::value);
}

// Commits `current` (refilled from `pending` when empty). Returns false when
// the commit failed and a retry is scheduled.
bool flush(journal_self self, bool final_attempt) {
  auto& st = self->state;
  if (st.current.empty()) {
    auto take = std::min(st.pending.size(), st.settings.max_batch);
    auto end = st.pending.begin() + static_cast<ptrdiff_t>(take);
    st.current.assign(std::make_move_iterator(st.pending.begin()),
                      std::make_move_iterator(end));
    st.pending.erase(st.pending.begin(), end);
    auto pend = st.pending_promises.begin() + static_cast<ptrdiff_t>(take);
    st.current_promises.assign(
        std::make_move_iterator(st.pending_promises.begin()),
        std::make_move_iterator(pend));
    st.pending_promises.erase(st.pending_promises.begin(), pend);
  }
  if (st.current.empty())
    return true;
  auto results = st.backend->append_batch(st.current);
  if (commit_failed(results) && !final_attempt) {
    // The actor clock: virtual time under CAF's test coordinator.
    auto now = self->clock().now();
    if (!st.retrying) {
      st.retrying = true;
      st.first_failure = now;
      st.backoff = first_backoff;
    }
    if (now - st.first_failure < st.settings.retry_for) {
      log().warn(
          "journal commit of {} appends failed ({}); retrying in {} ms",
          st.current.size(), self->system().render(results.front().error()),
          std::chrono::duration_cast<std::chrono::milliseconds>(st.backoff)
              .count());
      self->delayed_send(self, st.backoff, flush_atom::value);
      st.backoff = std::min<caf::timespan>(st.backoff * 2, max_backoff);
      return false;
    }
    log().error("journal commit of {} appends failed for good: {}",
                st.current.size(),
                self->system().render(results.front().error()));
  }
  st.retrying = false;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i])
      st.current_promises[i].deliver(*results[i]);
    else
      st.current_promises[i].deliver(std::move(results[i].error()));
  }
  st.current.clear();
  st.current_promises.clear();
  return true;
}

bool has_appends_for(const journal_state& st, const std::string& stream) {
  auto same = [&](const journal_append& x) { return x.stream == stream; };
  return std::any_of(st.current.begin(), st.current.end(), same) ||
         std::any_of(st.pending.begin(), st.pending.end(), same);
}

caf::expected<journal_recovery> read_stream(journal_self self,
                                            const std::string& stream,
                                            int64_t keys_since_ms) {
  auto result = self->state.backend->recover(stream, keys_since_ms);
  if (!result)
    log().warn("journal recovery of {} failed: {}", stream,
               self->system().render(result.error()));
  return result;
}

// A recovery sees every append to its stream that reached the journal before
// it: those are committed first, or, while a failed commit is being retried,
// the recovery waits for the verdict. (A cart that gave up on a write and
// was activated again must not read the state from before a write that is
// still going to land.) Returns false when deferred.
bool try_recover(journal_self self, const std::string& stream,
                 int64_t keys_since_ms,
                 caf::typed_response_promise<journal_recovery>& promise) {
  auto& st = self->state;
  while (!st.retrying && has_appends_for(st, stream))
    if (!flush(self, false))
      break;
  if (has_appends_for(st, stream))
    return false;
  auto result = read_stream(self, stream, keys_since_ms);
  if (result)
    promise.deliver(std::move(*result));
  else
    promise.deliver(std::move(result.error()));
  return true;
}

void serve_deferred(journal_self self) {
  auto& st = self->state;
  if (st.deferred.empty() || st.retrying)
    return;
  auto waiting = std::move(st.deferred);
  st.deferred.clear();
  for (auto& x : waiting)
    if (!try_recover(self, x.stream, x.keys_since_ms, x.promise))
      st.deferred.push_back(std::move(x));
}

journal_impl_actor::behavior_type
journal_impl(journal_self self, std::shared_ptr<journal_backend> backend,
             journal_settings settings) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.settings = settings;
  if (st.settings.max_batch == 0)
    st.settings.max_batch = 1;
  // On shutdown, whatever was handed to us is committed (or failed) before
  // we go: no append is ever left unanswered.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    while (!st.current.empty() || !st.pending.empty())
      flush(self, true);
    serve_deferred(self);
    self->quit(msg.reason);
  });
  return {
      [self](append_atom, journal_append& req) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto promise = self->make_response_promise<uint64_t>();
        st.pending.push_back(std::move(req));
        st.pending_promises.push_back(promise);
        if (st.pending.size() >= st.settings.max_batch && st.current.empty() &&
            !st.retrying)
          flush(self, false);
        schedule_flush(self);
        return promise;
      },
      [self](flush_atom) {
        auto& st = self->state;
        st.flush_scheduled = false;
        if (flush(self, false)) {
          serve_deferred(self);
          schedule_flush(self);
        }
      },
      [self](recover_atom, std::string& stream,
             int64_t keys_since_ms) -> caf::result<journal_recovery> {
        auto& st = self->state;
        if (st.pending.empty() && st.current.empty()) {
          auto result = read_stream(self, stream, keys_since_ms);
          if (!result)
            return std::move(result.error());
          return std::move(*result);
        }
        auto promise = self->make_response_promise<journal_recovery>();
        if (!try_recover(self, stream, keys_since_ms, promise))
          st.deferred.push_back(journal_state::deferred_recovery{
              std::move(stream), keys_since_ms, promise});
        schedule_flush(self);
        return promise;
      },
  };
}

} // namespace

journal_actor spawn_journal(caf::event_based_actor* parent,
                            std::shared_ptr<journal_backend> backend,
                            journal_settings settings) {
  if (!backend->blocks())
    return parent->spawn(journal_impl, std::move(backend), settings);
  return parent->spawn<caf::detached>(journal_impl, std::move(backend),
                                      settings);
}

} // namespace cartd
