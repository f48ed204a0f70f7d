#include "runtime/journal/journal_workers.hpp"

#include <exception>
#include <utility>

#include <caf/result.hpp>

#include "runtime/core/log.hpp"

namespace cartd::journal_workers {

namespace {

caf::result<journal_recovery> answer(caf::expected<journal_recovery>&& result) {
  if (!result)
    return std::move(result.error());
  return std::move(*result);
}

} // namespace

// Backends report failures as values; an exception (a bug, or bad_alloc)
// must not take the worker down with a commit whose outcome then nobody
// knows, so it becomes one.
results_type commit_on(journal_backend& backend, const commit_batch& batch) {
  try {
    return batch.again ? backend.append_batch_again(*batch.appends)
                       : backend.append_batch(*batch.appends);
  } catch (const std::exception& e) {
    return results_type(batch.appends->size(),
                        make_error(journal_errc::unknown_outcome, e.what()));
  }
}

caf::expected<journal_recovery> read_on(journal_backend& backend,
                                        const std::string& stream,
                                        int64_t keys_since_ms) {
  try {
    return backend.recover(stream, keys_since_ms);
  } catch (const std::exception& e) {
    return make_error(journal_errc::unavailable, e.what());
  }
}

reader_actor::behavior_type
reader_impl(reader_actor::stateful_pointer<reader_state> self,
            std::shared_ptr<journal_backend> backend) {
  self->state.backend = std::move(backend);
  return {
      [self](recover_atom, const std::string& stream,
             int64_t keys_since_ms) -> caf::result<journal_recovery> {
        return answer(read_on(*self->state.backend, stream, keys_since_ms));
      },
  };
}

writer_actor::behavior_type
writer_impl(writer_actor::stateful_pointer<writer_state> self,
            std::shared_ptr<journal_backend> backend) {
  self->state.backend = std::move(backend);
  return {
      [self](recover_atom, const std::string& stream,
             int64_t keys_since_ms) -> caf::result<journal_recovery> {
        return answer(read_on(*self->state.backend, stream, keys_since_ms));
      },
      [self](commit_atom, const commit_batch& batch) {
        return commit_outcome{commit_on(*self->state.backend, batch)};
      },
      [self](open_atom, uint64_t n) {
        // Opening connects: on this thread, not the coordinator's.
        opened_readers result;
        for (uint64_t i = 0; i < n; ++i) {
          caf::expected<std::unique_ptr<journal_backend>> reader{nullptr};
          try {
            reader = self->state.backend->open_reader();
          } catch (const std::exception& e) {
            reader = make_error(journal_errc::unavailable, e.what());
          }
          if (!reader) {
            log().warn("journal: cannot open a reader ({}); {} open",
                       self->system().render(reader.error()),
                       result.readers.size());
            break;
          }
          if (*reader == nullptr)
            break;
          result.readers.emplace_back(std::move(*reader));
        }
        return result;
      },
  };
}

} // namespace cartd::journal_workers
