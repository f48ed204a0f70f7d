#include "actors/cart/directory/cart_directory.hpp"

#include <chrono>
#include <algorithm>
#include <functional>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/core/log.hpp"

namespace cartd {

namespace {

using clock_type = std::chrono::steady_clock;
using supervision::supervisor_core;

// -- shard --------------------------------------------------------------------

struct shard_state {
  std::unique_ptr<supervisor_core> core;
  /// Given-up carts and when they may be activated again.
  std::unordered_map<std::string, clock_type::time_point> unavailable_until;
  /// Resident cap of this shard (0: none) and its carts, most recently
  /// resolved first. Only maintained when there is a cap.
  size_t max_resident = 0;
  std::list<std::string> lru;
  std::unordered_map<std::string, std::list<std::string>::iterator> lru_pos;

  void forget(const std::string& id) {
    auto i = lru_pos.find(id);
    if (i == lru_pos.end())
      return;
    lru.erase(i->second);
    lru_pos.erase(i);
  }

  static inline const char* name = "cartd.cart_shard";
};

caf::behavior shard_impl(caf::stateful_actor<shard_state>* self,
                         directory_settings settings, journal_actor journal,
                         std::shared_ptr<const cart_settings> carts) {
  supervision::dynamic_child_template carts_template;
  carts_template.start = [journal, carts](caf::event_based_actor* sup,
                                          const std::string& id) {
    return caf::actor_cast<caf::actor>(spawn_cart(sup, id, journal, carts));
  };
  carts_template.restart = supervision::restart_type::transient;
  carts_template.dynamic_intensity = settings.cart_intensity;
  supervision::dynamic_child_hooks hooks;
  auto unavailable_for = settings.unavailable_for;
  hooks.on_give_up = [self, unavailable_for](const std::string& id,
                                             const caf::error& reason) {
    log().warn("cart {} crashed too often ({}); unavailable for {} ms", id,
               self->system().render(reason),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                 unavailable_for)
                 .count());
    self->state.unavailable_until[id] = clock_type::now() + unavailable_for;
    self->state.forget(id);
  };
  hooks.on_stopped = [self](const std::string& id, const caf::error&) {
    self->state.forget(id);
  };
  if (settings.max_resident > 0)
    self->state.max_resident
      = std::max<size_t>(1, (settings.max_resident + settings.shards - 1)
                              / std::max<size_t>(settings.shards, 1));
  supervision::supervisor_flags flags;
  flags.how = supervision::strategy::one_for_one;
  flags.limit = settings.shard_intensity;
  self->state.core = std::make_unique<supervisor_core>(
    flags, std::vector<supervision::child_spec>{}, std::move(carts_template),
    std::move(hooks));
  self->state.core->init(self);
  return {
    [self](resolve_atom, const std::string& id) -> caf::result<cart_actor> {
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
      auto child = st.core->start_dynamic(id);
      if (!child)
        return make_error(cart_errc::unavailable, "cart cannot be activated");
      if (st.max_resident > 0) {
        // Approximate LRU: hot carts are cached by the HTTP routes and
        // resolve rarely, so a hot cart may passivate; it then simply
        // activates again from the journal.
        auto pos = st.lru_pos.find(id);
        if (pos != st.lru_pos.end())
          st.lru.splice(st.lru.begin(), st.lru, pos->second);
        else
          st.lru_pos.emplace(id, st.lru.insert(st.lru.begin(), id));
        while (st.lru.size() > st.max_resident) {
          auto victim = st.lru.back();
          st.forget(victim);
          if (auto cart = st.core->find_dynamic(victim))
            self->send(caf::actor_cast<cart_actor>(cart),
                       passivate_atom::value);
        }
      }
      return caf::actor_cast<cart_actor>(child);
    },
  };
}

// -- directory ----------------------------------------------------------------

struct directory_state {
  std::unique_ptr<supervisor_core> core;
  std::vector<std::string> shard_ids;

  static inline const char* name = "cartd.cart_directory";
};

caf::behavior directory_impl(caf::stateful_actor<directory_state>* self,
                             directory_settings settings,
                             journal_actor journal,
                             std::shared_ptr<const cart_settings> carts) {
  std::vector<supervision::child_spec> shards;
  for (size_t i = 0; i < settings.shards; ++i) {
    supervision::child_spec spec;
    spec.id = "shard-" + std::to_string(i);
    spec.start = [settings, journal, carts](caf::event_based_actor* sup,
                                            const supervision::children_view&) {
      return sup->spawn(shard_impl, settings, journal, carts);
    };
    spec.restart = supervision::restart_type::permanent;
    self->state.shard_ids.push_back(spec.id);
    shards.push_back(std::move(spec));
  }
  supervision::supervisor_flags flags;
  flags.how = supervision::strategy::one_for_one;
  flags.limit = settings.shard_intensity;
  self->state.core = std::make_unique<supervisor_core>(flags,
                                                       std::move(shards));
  self->state.core->init(self);
  return {
    [self](resolve_atom,
           const std::string& id) -> caf::result<cart_actor> {
      if (!valid_cart_id(id))
        return make_error(cart_errc::invalid_cart_id);
      auto& st = self->state;
      auto index = std::hash<std::string>{}(id) % st.shard_ids.size();
      auto shard = st.core->find(st.shard_ids[index]);
      if (!shard)
        return make_error(cart_errc::unavailable, "shard is restarting");
      return self->delegate(caf::actor_cast<cart_directory_actor>(shard),
                            resolve_atom::value, id);
    },
  };
}

} // namespace

caf::actor spawn_cart_directory(caf::event_based_actor* parent,
                                directory_settings settings,
                                journal_actor journal,
                                std::shared_ptr<const cart_settings> carts) {
  return parent->spawn(directory_impl, settings, std::move(journal),
                       std::move(carts));
}

} // namespace cartd
