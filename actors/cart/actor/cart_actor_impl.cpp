#include "actors/cart/actor/cart_actor_impl.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/ref_counted.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cart/actor/event_codec.hpp"
#include "actors/cart/actor/write_pipeline.hpp"
#include "runtime/core/caf_shims.hpp"
#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"

// Memory. A node keeps up to millions of carts resident, so what one cart
// costs is what matters here (bench_memory measures it):
//   * CAF's own part of an actor (scheduled_actor, its mailbox, control
//     block: about 1 KiB) is fixed;
//   * the cart's own fields are kept to what every resident cart needs (id,
//     last use, incarnation, and of its write pipeline the model and the
//     last tag); what only some carts need for a while
//     (the writes in flight and the mutations queued behind them, idempotent
//     replies, watchers, a queued fault injection) lives in one `cart_extra`,
//     allocated on first use and freed once empty again;
//   * the behavior is built once per cart_spawner and shared by all its
//     carts: the handlers capture nothing and find their cart through
//     `cart_impl::current()`, set while CAF runs the cart (resume);
//   * no CAF receive timeout (`caf::after`) for idle passivation: it keeps a
//     clock entry per resident cart (three allocations, ~200 B) and sends
//     every message the cart handles through the clock thread. Whoever holds
//     the carts (the shard) sweeps them instead (cart_spawner::looks_idle,
//     idle_check_atom);
//   * CAF 0.17 keeps a request's timeout in its clock until the timeout is
//     due, even when the response came long before (three allocations and a
//     strong reference to the cart, for journal_timeout): a cart cancels the
//     timeout of its journal requests once the response is in.

// Writes. The cart's write path (admit, queue, stall, acknowledge in order)
// is a write_pipeline (write_pipeline.hpp, with its rules and states); this
// file is its glue: the cart is the pipeline's host, which sends the appends
// it plans to the journal, feeds it the journal's answers and answers the
// requests.

namespace cartd {

namespace {

using clock_type = std::chrono::steady_clock;

/// What a request with an Idempotency-Key produced.
struct remembered_reply {
  std::string digest;
  /// The cart after the request, as encode_state wrote it.
  std::string state;
  int64_t recorded_at_ms = 0;
};

/// What a cart needs only now and then; see "Memory" above.
struct cart_extra {
  /// Front ends keeping a copy of this cart (watch_atom): each gets every
  /// stored change before its requester's reply, and gone_atom at the end.
  std::vector<cart_watcher_actor> watchers;
  /// The writes in flight and the changes queued behind them.
  write_queues<caf::typed_response_promise<cart_view>> writes;
  /// A queued fault injection being carried out (answered by the crash).
  caf::typed_response_promise<cart_view> crash_request;
  /// Idempotency-Key -> original reply, within retention.
  std::unordered_map<std::string, remembered_reply> replies;
};

int64_t retention_ms(const cart_settings& settings) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             settings.idempotency_retention)
      .count();
}

bool is_journal_error(const caf::error& err, journal_errc code) {
  return err.category() == caf::atom("journal") &&
         err.code() == static_cast<uint8_t>(code);
}

/// How a journal append ended, for the write pipeline. The journal said no
/// (after its retries, or a conflict): nothing was stored. The journal does
/// not know (unknown_outcome: its store lost the commit's outcome), or
/// anything else (no answer in time, the journal gone): the write may have
/// landed or may still land; the cart stops and its next incarnation reads
/// the journal.
write_failure failure_of(const caf::error& err) {
  if (is_journal_error(err, journal_errc::unavailable))
    return write_failure::unavailable;
  if (is_journal_error(err, journal_errc::conflict))
    return write_failure::conflict;
  if (is_journal_error(err, journal_errc::unknown_outcome))
    return write_failure::unknown;
  return write_failure::unknown;
}

/// The pipeline's form of a change request.
write_request to_write_request(cart_mutation& m) {
  write_request result;
  result.command = to_command(m);
  if (m.has_expected_version)
    result.expected_version = m.expected_version;
  if (!m.idempotency_key.empty()) {
    result.request_digest = request_digest(m);
    result.idempotency_key = std::move(m.idempotency_key);
  }
  result.request_id = std::move(m.request_id);
  return result;
}

/// What a cart answers: the front end's interface and its shard's.
using cart_impl_actor = cart_actor::extend_with<cart_control_actor>;

cart_impl_actor::behavior_type make_cart_behavior();

/// A random non-zero 64-bit number: a cart incarnation's id (see
/// "Incarnations" in cart_actor.hpp). Each scheduler thread seeds its own
/// generator once from std::random_device.
uint64_t draw_incarnation() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device source;
    return (uint64_t{source()} << 32) ^ source();
  }()};
  for (;;)
    if (auto x = engine(); x != 0)
      return x;
}

} // namespace

// -- what carts share ---------------------------------------------------------

struct cart_spawner::shared : caf::ref_counted {
  shared(journal_actor journal, std::shared_ptr<const cart_settings> settings)
      : journal(std::move(journal)), settings(std::move(settings)),
        behavior(make_cart_behavior()) {
    // nop
  }

  journal_actor journal;
  std::shared_ptr<const cart_settings> settings;
  /// The behavior of every cart: handlers without captures.
  cart_impl_actor::behavior_type behavior;
};

namespace {

// -- the cart -----------------------------------------------------------------

class cart_impl final : public cart_impl_actor::base {
public:
  using super = cart_impl_actor::base;

  /// Which cart runs on this thread (see "Memory" above).
  using running = caf_shims::running_actor<cart_impl>;

  /// What the write pipeline answers (see write_pipeline's Host).
  using promise_type = caf::typed_response_promise<cart_view>;

  cart_impl(caf::actor_config& cfg, std::string id,
            caf::intrusive_ptr<const cart_spawner::shared> shared)
      : super(cfg), id_(std::move(id)), shared_(std::move(shared)),
        incarnation_(draw_incarnation()) {
    set_exception_handler(
        [](caf::scheduled_actor* ptr, std::exception_ptr& ep) -> caf::error {
          return static_cast<cart_impl*>(ptr)->on_exception(ep);
        });
  }

  const char* name() const override { return "cartd.cart"; }

  /// This incarnation's id: carried by every view it produces and by its
  /// gone_atom, and the tag of its journal appends.
  uint64_t incarnation() const noexcept { return incarnation_; }

  /// The cart whose message CAF is handling on this thread. Only valid in
  /// the handlers of the shared behavior.
  static cart_impl& current() {
    auto* self = running::get();
    if (self == nullptr) {
      // Only cart_impl::resume runs the shared behavior.
      log().critical("cart handler called outside of a cart");
      std::terminate();
    }
    return *self;
  }

  resume_result resume(caf::execution_unit* ctx, size_t max) override {
    return running::resume(this, [&] { return super::resume(ctx, max); });
  }

  // -- handlers of the shared behavior ----------------------------------------

  caf::result<cart_view> on_get(const std::string& request_id) {
    if (!serving())
      return lease_ended();
    touch();
    log({{"cart", id_}, {"request_id", request_id}})
        .debug("cart {}: read requested", id_);
    return make_view(id_, pipeline_.state());
  }

  caf::result<cart_view> on_watch(cart_watcher_actor& watcher,
                                  const std::string& request_id) {
    if (!serving())
      return lease_ended();
    touch();
    log({{"cart", id_}, {"request_id", request_id}})
        .debug("cart {}: read requested (watched)", id_);
    if (watcher) {
      auto& watchers = extra().watchers;
      if (std::find(watchers.begin(), watchers.end(), watcher) ==
          watchers.end())
        watchers.push_back(std::move(watcher));
    }
    return make_view(id_, pipeline_.state());
  }

  caf::result<cart_view> on_mutation(cart_mutation& m) {
    if (!serving())
      return lease_ended();
    touch();
    log({{"cart", id_}, {"request_id", m.request_id}})
        .debug("cart {}: {} requested", id_, to_string(m.kind));
    pipeline_.admit(to_write_request(m), make_response_promise<cart_view>(),
                    *this);
    trim();
    return caf::delegated<cart_view>{};
  }

  caf::result<cart_view> on_crash_request() {
    if (!serving())
      return lease_ended();
    if (!settings().fault_injection)
      return make_error(cart_errc::unavailable, "fault injection is off");
    if (pipeline_.idle(*this))
      throw std::runtime_error("injected fault");
    // Crash in order, after the writes in flight, like any other command.
    pipeline_.crash_requested(make_response_promise<cart_view>(), *this);
    return caf::delegated<cart_view>{};
  }

  bool on_passivate() {
    // A cart in use stays: evicting it would only bounce the requests
    // already on their way to it (the resident cap is soft). A cart just
    // activated counts as in use: the request that activated it is still on
    // its way (evicting it then bounced that request, and under a tight cap
    // the retries could lose the race every time).
    if (clock_type::now() - last_active() < settings().min_residency)
      return false;
    pipeline_.passivate(*this);
    return true;
  }

  /// The node no longer owns this cart: stop once the writes in flight are
  /// done (changes arriving meanwhile are still decided and sent, like
  /// during any passivation), whenever it was last used.
  bool on_release() {
    pipeline_.passivate(*this);
    return true;
  }

  /// Idle passivation (see "Memory" above): quit unless a request came in
  /// within the idle timeout or something is in flight. True: quitting.
  bool on_idle_check() {
    auto idle = settings().idle_timeout;
    if (idle.count() > 0 && idle_for(clock_type::now()) >= idle &&
        pipeline_.idle(*this)) {
      quit();
      return true;
    }
    return false;
  }

  /// How long no request reached this cart (read by the sweeping shard).
  clock_type::duration idle_for(clock_type::time_point now) const {
    return now - last_active();
  }

protected:
  behavior_type make_behavior() override {
    // Activation: nothing else is handled until recovery is done.
    auto keys_since = journal_now_ms() - retention_ms(settings());
    request(shared_->journal, settings().journal_timeout, recover_atom::value,
            id_, keys_since)
        .await(
            [this](journal_recovery& stored) {
              forget_request_timeout();
              if (!recover(stored))
                quit(make_error(cart_errc::storage_failure, "corrupt"));
              trim();
            },
            [this](caf::error& err) {
              forget_request_timeout(err);
              log({{"cart", id_}})
                  .warn("cart {}: recovery failed: {}", id_,
                        system().render(err));
              quit(std::move(err));
            });
    return shared_->behavior;
  }

  /// Runs whenever this incarnation ends, whatever the reason: watchers
  /// drop their copies, and the cart lets go of its data at once (the
  /// actor object itself lives on while handles to it exist).
  void on_exit() override {
    if (extra_ != nullptr)
      for (auto& watcher : extra_->watchers)
        caf::anon_send(watcher, gone_atom::value, id_, incarnation_);
    extra_.reset();
    pipeline_.reset();
    shared_.reset();
  }

private:
  /// The client view of `state` held by this incarnation (hides the free
  /// make_view: every view a cart produces names its incarnation).
  cart_view make_view(const std::string& id, const cart& state) const {
    return cartd::make_view(id, state, incarnation_);
  }

  template <class>
  friend class cartd::write_pipeline;

  const cart_settings& settings() const { return *shared_->settings; }

  clock_type::time_point last_active() const {
    return clock_type::time_point{
        clock_type::duration{last_active_.load(std::memory_order_relaxed)}};
  }

  void touch() {
    last_active_.store(clock_type::now().time_since_epoch().count(),
                       std::memory_order_relaxed);
  }

  cart_extra& extra() {
    if (extra_ == nullptr)
      extra_ = std::make_unique<cart_extra>();
    return *extra_;
  }

  /// Frees `extra_` once it holds nothing.
  void trim() {
    if (extra_ != nullptr && extra_->writes.empty() &&
        extra_->watchers.empty() && extra_->replies.empty() &&
        !extra_->crash_request.pending())
      extra_.reset();
  }

  /// Called in a journal response handler: CAF 0.17 would keep the
  /// request's timeout until it is due (see "Memory" above).
  void forget_request_timeout() { caf_shims::cancel_request_timeout(this); }

  void forget_request_timeout(const caf::error& err) {
    caf_shims::cancel_request_timeout(this, err);
  }

  void remember(const std::string& key, remembered_reply reply) {
    auto& replies = extra().replies;
    if (replies.size() >= 64) {
      auto horizon = journal_now_ms() - retention_ms(settings());
      for (auto i = replies.begin(); i != replies.end();)
        i = i->second.recorded_at_ms < horizon ? replies.erase(i) : ++i;
    }
    replies.insert_or_assign(key, std::move(reply));
  }

  // -- the write pipeline's host ----------------------------------------------

  write_queues<promise_type>& queues() { return extra().writes; }

  write_queues<promise_type>* queues_if_any() {
    return extra_ != nullptr ? &extra_->writes : nullptr;
  }

  const cart_limits& limits() const { return settings().limits; }

  size_t max_pending() const { return settings().max_pending; }

  bool replay(write_request& req, promise_type& promise) {
    if (extra_ == nullptr)
      return false;
    auto& replies = extra_->replies;
    auto i = replies.find(req.idempotency_key);
    if (i == replies.end())
      return false;
    auto horizon = journal_now_ms() - retention_ms(settings());
    if (i->second.recorded_at_ms < horizon) {
      replies.erase(i);
      return false;
    }
    if (i->second.digest != req.request_digest) {
      promise.deliver(make_error(cart_errc::idempotency_key_reused));
      return true;
    }
    if (auto original = decode_state(i->second.state)) {
      auto view = make_view(id_, *original);
      view.replayed = true;
      promise.deliver(std::move(view));
      return true;
    }
    return false;
  }

  void send_append(const append_plan& plan, write_request& req) {
    journal_append append;
    append.stream = id_;
    append.expected_seq = plan.expected_seq;
    append.expected_tag = plan.expected_tag;
    append.tag = plan.tag;
    append.payloads.reserve(plan.events.size());
    for (auto& ev : plan.events)
      append.payloads.push_back(encode_event(ev));
    auto every = settings().snapshot_every;
    bool keyed = req.keyed();
    bool snapshot =
        every > 0 && plan.next.version / every > plan.expected_seq / every;
    std::string encoded;
    if (keyed || snapshot)
      encoded = encode_state(plan.next);
    if (snapshot)
      append.snapshot = encoded;
    append.request_id = req.request_id;
    if (keyed) {
      append.idempotency_key = req.idempotency_key;
      append.request_digest = req.request_digest;
      append.response = encoded;
    }
    request(shared_->journal, settings().journal_timeout, append_atom::value,
            std::move(append))
        .then(
            [this, key = std::move(req.idempotency_key),
             digest = std::move(req.request_digest),
             encoded = std::move(encoded)](uint64_t) mutable {
              forget_request_timeout();
              if (!key.empty())
                remember(key,
                         remembered_reply{std::move(digest), std::move(encoded),
                                          journal_now_ms()});
              pipeline_.stored(*this);
              trim();
            },
            [this, request_id = std::move(req.request_id)](caf::error& err) {
              forget_request_timeout(err);
              if (is_journal_error(err, journal_errc::fenced)) {
                // Nothing of it was stored, nor of the writes sent behind
                // it (they extend its event); another node may own the cart
                // by now, so this one must not serve it any more.
                log({{"cart", id_}, {"request_id", request_id}})
                    .debug("cart {}: {}", id_, system().render(err));
                end_service(cart_errc::unavailable, no_member);
                return;
              }
              if (!pipeline_.behind_failure(*this))
                log({{"cart", id_}, {"request_id", request_id}})
                    .warn("cart {}: write failed: {}", id_,
                          system().render(err));
              pipeline_.failed(failure_of(err), system().render(err), *this);
              trim();
            });
  }

  void stored(promise_type& promise, const cart& state) {
    auto view = make_view(id_, state);
    for (auto& watcher : extra_->watchers)
      send(watcher, changed_atom::value, view);
    promise.deliver(std::move(view));
  }

  void fail(promise_type& promise, cart_errc code, std::string detail) {
    promise.deliver(make_error(code, std::move(detail)));
  }

  void crash(promise_type&& promise) {
    extra().crash_request = std::move(promise);
    throw std::runtime_error("injected fault");
  }

  void stop(cart_errc code, std::string detail) {
    quit(make_error(code, std::move(detail)));
  }

  void passivate() { quit(); }

  // -- cluster membership -----------------------------------------------------

  /// Whether this node may serve carts (always, outside a cluster).
  bool serving() const {
    auto& lease = settings().lease;
    return lease == nullptr || lease->valid();
  }

  /// The lease ended: the cart stops, since another node may take it over
  /// once the lease lapsed in the database. Its writes in flight may still
  /// commit (the journal's fence holds until this node's row is removed).
  caf::error lease_ended() {
    end_service(cart_errc::timeout, no_lease);
    return make_error(cart_errc::unavailable, no_lease);
  }

  /// Answers the writes in flight with `in_flight` (unavailable: certainly
  /// not stored; timeout: they may have been) and the queued ones with
  /// unavailable, and stops the cart.
  void end_service(cart_errc in_flight, const char* why) {
    if (auto* q = queues_if_any()) {
      std::string detail = why;
      if (in_flight != cart_errc::unavailable)
        detail += "; the change may or may not have been applied";
      for (auto& w : q->in_flight)
        fail(w.promise, in_flight, detail);
      q->in_flight.clear();
      for (auto& job : q->pending)
        fail(job.promise, cart_errc::unavailable, why);
      q->pending.clear();
      q->stall = write_stall::none;
    }
    // A normal exit, like a passivation: not a crash for the shard to
    // restart (nor to count toward its restart limit); the next request
    // activates the cart again, from the journal.
    quit();
  }

  static constexpr const char* no_member =
      "this node is no longer a member of the cluster";
  static constexpr const char* no_lease =
      "this node's cluster lease is not valid (it is no longer a member of "
      "the cluster, or cannot reach the membership table)";

  // Adopts what the journal holds for this cart; false if it is unreadable.
  bool recover(journal_recovery& stored) {
    cart current;
    if (!stored.snapshot.empty()) {
      auto snapshot = decode_state(stored.snapshot);
      if (!snapshot || snapshot->version != stored.snapshot_seq) {
        log({{"cart", id_}})
            .error("cart {}: unreadable snapshot at {}", id_,
                   stored.snapshot_seq);
        return false;
      }
      current = std::move(*snapshot);
    }
    for (auto& record : stored.events) {
      auto ev = decode_event(record.payload);
      if (!ev || record.seq != current.version + 1) {
        log({{"cart", id_}})
            .error("cart {}: unreadable event {}", id_, record.seq);
        return false;
      }
      apply_in_place(current, *ev);
    }
    pipeline_.recovered(std::move(current), stored.last_tag);
    for (auto& record : stored.idempotency)
      extra().replies.insert_or_assign(
          record.key,
          remembered_reply{std::move(record.request_digest),
                           std::move(record.response), record.recorded_at_ms});
    return true;
  }

  caf::error on_exception(std::exception_ptr& ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      // keep the generic description
    }
    log({{"cart", id_}}).error("cart {} crashed: {}", id_, what);
    // Queued commands never ran: their clients may simply retry. The writes
    // in flight may still commit: say so, never "not applied".
    pipeline_.crashed(*this);
    if (extra_ != nullptr && extra_->crash_request.pending())
      extra_->crash_request.deliver(make_error(cart_errc::crashed, what));
    return make_error(cart_errc::crashed, what);
  }

  std::string id_;
  caf::intrusive_ptr<const cart_spawner::shared> shared_;
  /// When the cart was activated or last handled a get or a change
  /// (steady_clock ticks); also read by the shard's idle sweep.
  std::atomic<clock_type::rep> last_active_{
      clock_type::now().time_since_epoch().count()};
  /// Present while any of its parts is in use.
  std::unique_ptr<cart_extra> extra_;
  /// The acknowledged state and the write path; its jobs in extra_->writes.
  write_pipeline<promise_type> pipeline_;
  /// See incarnation().
  uint64_t incarnation_;
};

cart_impl_actor::behavior_type make_cart_behavior() {
  return {
      [](caf::get_atom,
         const std::string& request_id) -> caf::result<cart_view> {
        return cart_impl::current().on_get(request_id);
      },
      [](watch_atom, cart_watcher_actor& watcher,
         const std::string& request_id) -> caf::result<cart_view> {
        return cart_impl::current().on_watch(watcher, request_id);
      },
      [](cart_mutation& m) -> caf::result<cart_view> {
        return cart_impl::current().on_mutation(m);
      },
      [](crash_atom) -> caf::result<cart_view> {
        return cart_impl::current().on_crash_request();
      },
      [](passivate_atom) { return cart_impl::current().on_passivate(); },
      [](idle_check_atom) { return cart_impl::current().on_idle_check(); },
      [](release_atom) { return cart_impl::current().on_release(); },
  };
}

} // namespace

// -- cart_spawner -------------------------------------------------------------

cart_spawner::cart_spawner(journal_actor journal,
                           std::shared_ptr<const cart_settings> settings)
    : shared_(
          caf::make_counted<shared>(std::move(journal), std::move(settings))) {
  // nop
}

cart_spawner::cart_spawner(const cart_spawner&) = default;

cart_spawner::cart_spawner(cart_spawner&&) noexcept = default;

cart_spawner& cart_spawner::operator=(const cart_spawner&) = default;

cart_spawner& cart_spawner::operator=(cart_spawner&&) noexcept = default;

cart_spawner::~cart_spawner() = default;

cart_actor cart_spawner::spawn(caf::event_based_actor* parent,
                               std::string id) const {
  return parent->spawn<cart_impl>(std::move(id), shared_);
}

caf::timespan cart_spawner::sweep_interval() const {
  auto idle = shared_->settings->idle_timeout;
  if (idle.count() <= 0)
    return caf::timespan{0};
  return std::max(idle / 4, caf::timespan{std::chrono::milliseconds{1}});
}

bool cart_spawner::looks_idle(const caf::actor& cart) const {
  auto idle = shared_->settings->idle_timeout;
  if (idle.count() <= 0 || !cart)
    return false;
  // Only carts spawned by a cart_spawner come here; last_active_ is atomic.
  return caf_shims::local_actor<cart_impl>(cart).idle_for(clock_type::now()) >=
         idle;
}

} // namespace cartd
