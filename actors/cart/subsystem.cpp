#include "actors/cart/subsystem.hpp"

#include <utility>

#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/protocol/cart_router.hpp"
#include "runtime/core/type_ids.hpp"
#include "runtime/journal/journal.hpp"

namespace cartd {

std::vector<supervision::child_spec>
cart_subsystem_specs(std::shared_ptr<journal_backend> backend,
                     cart_subsystem_settings settings) {
  std::vector<supervision::child_spec> result;
  {
    supervision::child_spec spec;
    spec.id = journal_child_id;
    spec.start =
        [backend = std::move(backend), journal = settings.journal](
            caf::event_based_actor* self,
            const supervision::children_view&) -> supervision::child_handle {
      return spawn_journal(self, backend, journal);
    };
    result.push_back(std::move(spec));
  }
  {
    supervision::child_spec spec;
    spec.id = directory_child_id;
    // A supervisor of supervisors: it bounds its own shutdown (see the
    // shards' spec in cart_directory.cpp), so it is never killed from above.
    spec.shutdown = caf::timespan::max();
    spec.start =
        [directory = settings.directory,
         carts =
             std::make_shared<const cart_settings>(std::move(settings.carts))](
            caf::event_based_actor* self,
            const supervision::children_view& up) -> supervision::child_handle {
      auto journal = up.find<journal_actor>(journal_child_id);
      if (!journal)
        return {};
      return spawn_cart_directory(self, directory, journal, carts);
    };
    result.push_back(std::move(spec));
  }
  return result;
}

void add_cartd_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::cartd_runtime>();
  cfg.add_message_types<caf::id_block::cartd_cluster>();
  cfg.add_message_types<caf::id_block::cartd_cart>();
  cfg.add_message_types<caf::id_block::cartd_router>();
  add_cart_error_category(cfg);
  add_journal_error_category(cfg);
  supervision::add_supervision_error_category(cfg);
}

} // namespace cartd
