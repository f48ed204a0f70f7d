#include "actors/cart/directory/cart_directory.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>
#include <caf/replies_to.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>

#include "runtime/cluster/placement.hpp"
#include "runtime/core/caf_shims.hpp"
#include "runtime/core/log.hpp"
#include "runtime/metrics/node_metrics.hpp"

namespace cartd {

namespace {

using clock_type = std::chrono::steady_clock;
using supervision::supervisor_core;

// -- shard --------------------------------------------------------------------

/// What the directory asks a shard (the shard's public interface; it also
/// sends itself sweep_atom and wake_atom):
///
///   (resolve_atom, std::string cart_id) -> cart_actor
///     the running cart `cart_id`, activated if needed; cart_errc::unavailable
///     while it is given up or cannot be activated
///   (release_atom, owners, self) -> size_t
///   (lookup_atom, std::string cart_id) -> cart_actor
///     as cart_directory_control_actor, for this shard's carts
using cart_shard_actor = cart_directory_control_actor::extend<
    caf::replies_to<resolve_atom, std::string>::with<cart_actor>>;

using wake_atom = caf::atom_constant<caf::atom("wake")>;

/// Sent to self every cart_spawner::sweep_interval: passivate idle carts.
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

/// Idle checks in flight at most: asking many carts at once would make
/// them runnable at once, and CAF 0.17's work stealing takes O(n) per steal
/// from a long queue (see supervision's stop_window).
constexpr size_t idle_check_window = 256;

struct shard_state {
  std::unique_ptr<supervisor_core> core;
  /// Spawns this shard's carts; also how to sweep them for idleness.
  std::optional<cart_spawner> spawner;
  /// The sweep in progress: carts that looked idle and are not asked yet,
  /// and how many idle checks are in flight.
  std::vector<caf::actor> idle_backlog;
  size_t idle_checks = 0;
  /// Given-up carts and when they may be activated again.
  std::unordered_map<std::string, clock_type::time_point> unavailable_until;
  /// Resident cap of this shard (0: none) and its carts, most recently
  /// resolved first. Only maintained when there is a cap.
  size_t max_resident = 0;
  std::list<std::string> lru;
  std::unordered_map<std::string, std::list<std::string>::iterator> lru_pos;
  /// Carts told to passivate that have not stopped yet, and the resolves
  /// waiting for them to stop: handing out the stopping incarnation would
  /// only bounce requests, starting a second one would make two writers.
  std::unordered_map<std::string,
                     std::vector<caf::typed_response_promise<cart_actor>>>
      passivating;
  /// Releases in progress (release_atom): the carts each still waits for.
  struct release {
    std::unordered_set<std::string> running;
    size_t count = 0;
    caf::typed_response_promise<size_t> promise;
  };
  std::list<release> releases;
  /// The node's metrics (null: off) and the carts this shard added to
  /// cartd_carts_resident, taken back when the shard ends (a shard that
  /// crashed or restarts with its parents never sees its carts stop).
  std::shared_ptr<metrics::node_metrics> metrics;
  int64_t resident = 0;

  ~shard_state() {
    if (metrics)
      metrics->carts_resident.dec(resident);
  }

  void count_activation() {
    if (!metrics)
      return;
    ++resident;
    metrics->carts_resident.inc();
    metrics->cart_activations.inc();
  }

  /// A cart stopped (`passivated`: by itself, not given up after crashes).
  void count_stop(bool passivated) {
    if (!metrics)
      return;
    --resident;
    metrics->carts_resident.dec();
    if (passivated)
      metrics->cart_passivations.inc();
  }

  void forget(const std::string& id) {
    auto i = lru_pos.find(id);
    if (i == lru_pos.end())
      return;
    lru.erase(i->second);
    lru_pos.erase(i);
  }

  static inline const char* name = "cartd.cart_shard";
};

using shard_self = caf::stateful_actor<shard_state>*;

void on_passivation_refused(shard_self self, const std::string& id);

// Asks carts of the idle backlog whether they passivate, at most
// idle_check_window at a time.
void check_idle_carts(shard_self self) {
  auto& st = self->state;
  while (st.idle_checks < idle_check_window && !st.idle_backlog.empty()) {
    auto cart = std::move(st.idle_backlog.back());
    st.idle_backlog.pop_back();
    ++st.idle_checks;
    // No timeout: the cart answers, or CAF does when it is gone.
    self->request(caf::actor_cast<cart_control_actor>(cart), caf::infinite,
                  idle_check_atom::value)
        .then(
            [self](bool) {
              --self->state.idle_checks;
              check_idle_carts(self);
            },
            [self](caf::error&) {
              --self->state.idle_checks;
              check_idle_carts(self);
            });
  }
}

// Starts a sweep for idle carts unless the last one is still going.
void sweep_idle_carts(shard_self self) {
  auto& st = self->state;
  if (st.core->shutting_down()) {
    st.idle_backlog.clear();
    return;
  }
  if (!st.idle_backlog.empty() || st.idle_checks > 0)
    return;
  st.core->for_each_dynamic([&st](const std::string&, const caf::actor& cart) {
    if (st.spawner->looks_idle(cart))
      st.idle_backlog.push_back(cart);
  });
  check_idle_carts(self);
}

// Returns the running cart `id`, activating it if needed, and keeps the
// shard within its resident cap.
caf::expected<cart_actor> activate(shard_self self, const std::string& id) {
  auto& st = self->state;
  if (!st.unavailable_until.empty()) {
    auto i = st.unavailable_until.find(id);
    if (i != st.unavailable_until.end()) {
      if (clock_type::now() < i->second)
        return make_error(cart_errc::unavailable,
                          "cart stopped after repeated crashes");
      st.unavailable_until.erase(i);
    }
  }
  bool started = st.metrics && !st.core->find_dynamic(id);
  auto child = st.core->start_dynamic(id);
  if (!child)
    return make_error(cart_errc::unavailable, "cart cannot be activated");
  if (started)
    st.count_activation();
  if (st.max_resident > 0) {
    // Approximate LRU: hot carts are cached by the HTTP routes and resolve
    // rarely, so a hot cart may passivate; it then simply activates again
    // from the journal.
    auto pos = st.lru_pos.find(id);
    if (pos != st.lru_pos.end())
      st.lru.splice(st.lru.begin(), st.lru, pos->second);
    else
      st.lru_pos.emplace(id, st.lru.insert(st.lru.begin(), id));
    while (st.lru.size() > st.max_resident) {
      auto victim = st.lru.back();
      st.forget(victim);
      if (auto cart = st.core->find_dynamic(victim)) {
        st.passivating[victim];
        self->request(caf::actor_cast<cart_control_actor>(cart),
                      std::chrono::seconds{5}, passivate_atom::value)
            .then(
                [self, victim](bool stopping) {
                  // Under a resident cap a shard passivates many carts: do not
                  // keep each request's timeout for 5 s (see caf_shims).
                  caf_shims::cancel_request_timeout(self);
                  if (!stopping)
                    on_passivation_refused(self, victim);
                },
                [self](caf::error& err) {
                  caf_shims::cancel_request_timeout(self, err);
                  // Gone already: on_stopped serves whoever waits.
                });
      }
    }
  }
  return caf::actor_cast<cart_actor>(child);
}

// Activates `id` and answers every resolve that waited for it.
void activate_for(
    shard_self self, const std::string& id,
    std::vector<caf::typed_response_promise<cart_actor>>& waiting) {
  for (auto& promise : waiting) {
    auto result = activate(self, id);
    if (result)
      promise.deliver(*result);
    else
      promise.deliver(result.error());
  }
}

// A cart in use refused to passivate: it stays resident and serves those
// waiting for it.
void on_passivation_refused(shard_self self, const std::string& id) {
  auto& st = self->state;
  std::vector<caf::typed_response_promise<cart_actor>> waiting;
  if (auto i = st.passivating.find(id); i != st.passivating.end()) {
    waiting = std::move(i->second);
    st.passivating.erase(i);
  }
  auto cart = st.core->find_dynamic(id);
  if (!cart) {
    activate_for(self, id, waiting);
    return;
  }
  // Back into the LRU as the most recent, without evicting anyone now.
  if (st.max_resident > 0 && st.lru_pos.count(id) == 0)
    st.lru_pos.emplace(id, st.lru.insert(st.lru.begin(), id));
  for (auto& promise : waiting)
    promise.deliver(caf::actor_cast<cart_actor>(cart));
}

// Asks the cart `id` to stop once its writes in flight are done.
void send_release(shard_self self, const caf::actor& cart) {
  // No timeout: the cart answers, or CAF does when it is gone; the shard
  // learns that it stopped from its supervisor (on_cart_stopped).
  self->request(caf::actor_cast<cart_control_actor>(cart), caf::infinite,
                release_atom::value)
      .then([](bool) {}, [](caf::error&) {});
}

// Releases every resident cart whose owner among `owners` is not `me`;
// answers how many once they all stopped.
caf::result<size_t> release_carts(shard_self self,
                                  const std::vector<std::string>& owners,
                                  const std::string& me) {
  auto& st = self->state;
  std::vector<std::pair<std::string, caf::actor>> leaving;
  st.core->for_each_dynamic([&](const std::string& id, const caf::actor& cart) {
    if (owners.empty() || owners[owner_index(owners, id)] != me)
      leaving.emplace_back(id, cart);
  });
  if (leaving.empty())
    return size_t{0};
  shard_state::release job;
  job.count = leaving.size();
  job.promise = self->make_response_promise<size_t>();
  for (auto& [id, cart] : leaving) {
    // Resolves arriving meanwhile wait for it to stop (see passivating).
    st.passivating[id];
    st.forget(id);
    job.running.insert(id);
    send_release(self, cart);
  }
  auto promise = job.promise;
  st.releases.push_back(std::move(job));
  return promise;
}

// A cart stopped: resolves that waited for it may activate it again.
void on_cart_stopped(shard_self self, const std::string& id) {
  auto& st = self->state;
  st.forget(id);
  for (auto i = st.releases.begin(); i != st.releases.end();) {
    if (i->running.erase(id) > 0 && i->running.empty()) {
      i->promise.deliver(i->count);
      i = st.releases.erase(i);
    } else {
      ++i;
    }
  }
  auto i = st.passivating.find(id);
  if (i == st.passivating.end())
    return;
  if (i->second.empty()) {
    st.passivating.erase(i);
    return;
  }
  // Not from inside the supervisor's bookkeeping: answer in a message of our
  // own.
  self->send(self, wake_atom::value, id);
}

caf::behavior shard_impl(shard_self self, directory_settings settings,
                         journal_actor journal,
                         std::shared_ptr<const cart_settings> carts) {
  supervision::dynamic_child_template carts_template;
  // One spawner per shard: its carts share the journal handle, the settings
  // and their behavior.
  self->state.spawner.emplace(std::move(journal), std::move(carts));
  self->state.metrics = settings.metrics;
  carts_template.start = [spawner =
                              *self->state.spawner](caf::event_based_actor* sup,
                                                    const std::string& id) {
    return caf::actor_cast<caf::actor>(spawner.spawn(sup, id));
  };
  carts_template.restart = supervision::restart_type::transient;
  carts_template.dynamic_intensity = settings.cart_intensity;
  supervision::dynamic_child_hooks hooks;
  auto unavailable_for = settings.unavailable_for;
  hooks.on_give_up = [self, unavailable_for](const std::string& id,
                                             const caf::error& reason) {
    log().warn(
        "cart {} crashed too often ({}); unavailable for {} ms", id,
        self->system().render(reason),
        std::chrono::duration_cast<std::chrono::milliseconds>(unavailable_for)
            .count());
    self->state.unavailable_until[id] = clock_type::now() + unavailable_for;
    self->state.count_stop(false);
    on_cart_stopped(self, id);
  };
  hooks.on_stopped = [self](const std::string& id, const caf::error&) {
    self->state.count_stop(true);
    on_cart_stopped(self, id);
  };
  hooks.on_restarted = [self](const std::string& id, const caf::actor& cart) {
    if (self->state.metrics)
      self->state.metrics->cart_restarts.inc();
    // A cart being released crashed and is running again: release the new
    // incarnation too.
    for (auto& job : self->state.releases)
      if (job.running.count(id) > 0) {
        send_release(self, cart);
        return;
      }
    // A cart that crashed while passivating is running again: serve those
    // waiting for it with the new incarnation.
    if (self->state.passivating.count(id) > 0)
      self->send(self, wake_atom::value, id);
  };
  if (settings.max_resident > 0)
    self->state.max_resident =
        std::max<size_t>(1, (settings.max_resident + settings.shards - 1) /
                                std::max<size_t>(settings.shards, 1));
  supervision::supervisor_flags flags;
  flags.how = supervision::strategy::one_for_one;
  flags.limit = settings.shard_intensity;
  self->state.core = std::make_unique<supervisor_core>(
      flags, std::vector<supervision::child_spec>{}, std::move(carts_template),
      std::move(hooks));
  self->state.core->init(self);
  // Idle passivation: carts do not time themselves out, the shard sweeps.
  auto sweep_every = self->state.spawner->sweep_interval();
  if (sweep_every.count() > 0)
    self->delayed_send(self, sweep_every, sweep_atom::value);
  // The interface is checked against cart_shard_actor at compile time; the
  // shard's messages to itself come first.
  cart_shard_actor::behavior_type interface {
    [self](resolve_atom, const std::string& id) -> caf::result<cart_actor> {
      auto& st = self->state;
      if (auto i = st.passivating.find(id); i != st.passivating.end()) {
        auto promise = self->make_response_promise<cart_actor>();
        i->second.push_back(promise);
        return promise;
      }
      auto result = activate(self, id);
      if (!result)
        return std::move(result.error());
      return std::move(*result);
    },
        [self](release_atom, const std::vector<std::string>& owners,
               const std::string& me) -> caf::result<size_t> {
          return release_carts(self, owners, me);
        },
        [self](lookup_atom, const std::string& id) -> caf::result<cart_actor> {
          auto& st = self->state;
          if (st.passivating.count(id) > 0)
            return make_error(cart_errc::unavailable, "cart is passivating");
          auto cart = st.core->find_dynamic(id);
          if (!cart)
            return make_error(cart_errc::unavailable, "cart is not resident");
          return caf::actor_cast<cart_actor>(cart);
        },
  };
  caf::message_handler own{
      [self, sweep_every](sweep_atom) {
        sweep_idle_carts(self);
        if (!self->state.core->shutting_down())
          self->delayed_send(self, sweep_every, sweep_atom::value);
      },
      [self](wake_atom, const std::string& id) {
        auto& st = self->state;
        auto i = st.passivating.find(id);
        if (i == st.passivating.end())
          return;
        auto waiting = std::move(i->second);
        st.passivating.erase(i);
        activate_for(self, id, waiting);
      },
  };
  return own.or_else(interface.unbox());
}

// -- directory ----------------------------------------------------------------

struct directory_state {
  std::unique_ptr<supervisor_core> core;
  std::vector<std::string> shard_ids;

  static inline const char* name = "cartd.cart_directory";
};

caf::behavior directory_impl(caf::stateful_actor<directory_state>* self,
                             directory_settings settings, journal_actor journal,
                             std::shared_ptr<const cart_settings> carts) {
  std::vector<supervision::child_spec> shards;
  for (size_t i = 0; i < settings.shards; ++i) {
    supervision::child_spec spec;
    spec.id = "shard-" + std::to_string(i);
    spec.start =
        [settings, journal, carts](
            caf::event_based_actor* sup,
            const supervision::children_view&) -> supervision::child_handle {
      // A shard hosts a supervisor_core, which needs an event_based_actor;
      // its behavior is checked against cart_shard_actor (see shard_impl).
      return caf::actor_cast<cart_shard_actor>(
          sup->spawn(shard_impl, settings, journal, carts));
    };
    spec.restart = supervision::restart_type::permanent;
    // A shard is a supervisor: it stops its carts itself, killing those not
    // stopped within their own shutdown time, a window at a time. Killing
    // the shard instead would kill all its carts at once, which CAF 0.17's
    // work stealing turns quadratic (OTP: supervisors get `infinity`).
    spec.shutdown = caf::timespan::max();
    self->state.shard_ids.push_back(spec.id);
    shards.push_back(std::move(spec));
  }
  supervision::supervisor_flags flags;
  flags.how = supervision::strategy::one_for_one;
  flags.limit = settings.shard_intensity;
  self->state.core =
      std::make_unique<supervisor_core>(flags, std::move(shards));
  self->state.core->init(self);
  // Checked against cart_directory_actor and cart_directory_control_actor
  // at compile time.
  cart_directory_control_actor::behavior_type control{
      [self](release_atom, std::vector<std::string>& owners,
             std::string& me) -> caf::result<size_t> {
        auto& st = self->state;
        struct progress {
          size_t left = 0;
          size_t count = 0;
        };
        auto shared = std::make_shared<progress>();
        auto promise = self->make_response_promise<size_t>();
        std::vector<cart_shard_actor> shards;
        for (auto& id : st.shard_ids)
          if (auto shard = st.core->find<cart_shard_actor>(id))
            shards.push_back(shard);
        // A shard restarting has no carts left to release.
        if (shards.empty())
          return size_t{0};
        shared->left = shards.size();
        for (auto& shard : shards)
          self->request(shard, caf::infinite, release_atom::value, owners, me)
              .then(
                  [shared, promise](size_t n) mutable {
                    shared->count += n;
                    if (--shared->left == 0)
                      promise.deliver(shared->count);
                  },
                  [shared, promise](caf::error&) mutable {
                    // The shard died, and its carts with it.
                    if (--shared->left == 0)
                      promise.deliver(shared->count);
                  });
        return promise;
      },
      [self](lookup_atom, const std::string& id) -> caf::result<cart_actor> {
        if (!valid_cart_id(id))
          return make_error(cart_errc::invalid_cart_id);
        auto& st = self->state;
        auto index = std::hash<std::string>{}(id) % st.shard_ids.size();
        auto shard = st.core->find<cart_shard_actor>(st.shard_ids[index]);
        if (!shard)
          return make_error(cart_errc::unavailable, "shard is restarting");
        return self->delegate(shard, lookup_atom::value, id);
      },
  };
  cart_directory_actor::behavior_type result{
      [self](resolve_atom, const std::string& id) -> caf::result<cart_actor> {
        if (!valid_cart_id(id))
          return make_error(cart_errc::invalid_cart_id);
        auto& st = self->state;
        auto index = std::hash<std::string>{}(id) % st.shard_ids.size();
        auto shard = st.core->find<cart_shard_actor>(st.shard_ids[index]);
        if (!shard)
          return make_error(cart_errc::unavailable, "shard is restarting");
        return self->delegate(shard, resolve_atom::value, id);
      },
  };
  return caf::message_handler{control.unbox().as_behavior_impl()}.or_else(
      result.unbox());
}

} // namespace

cart_directory_actor
spawn_cart_directory(caf::event_based_actor* parent,
                     directory_settings settings, journal_actor journal,
                     std::shared_ptr<const cart_settings> carts) {
  // The directory hosts a supervisor_core, which needs an event_based_actor;
  // its behavior is checked against cart_directory_actor (directory_impl).
  return caf::actor_cast<cart_directory_actor>(parent->spawn(
      directory_impl, settings, std::move(journal), std::move(carts)));
}

} // namespace cartd
