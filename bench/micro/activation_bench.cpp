// Cold activation: a cart that is not resident (passivated, or never
// activated since the node started) is resolved and answers its first get:
// spawn under its shard, recover (snapshot + events) from the journal, fold
// the events, reply. Each iteration activates a different cart whose events
// were written beforehand straight into the backend, exactly as the cart
// actor writes them (same codec; a snapshot with every 100th event when
// snapshots are on, as with --storage.snapshot-every=100).

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "actors/cart/actor/event_codec.hpp"
#include "bench/support/local_node.hpp"

namespace {

using namespace cartd;
using namespace cartd::bench;

// Writes `carts` streams a0.. of `events` item_added events each.
void populate(journal_backend& backend, size_t carts, size_t events,
              bool snapshots) {
  constexpr size_t per_append = 100;
  constexpr size_t appends_per_commit = 64;
  std::vector<journal_append> batch;
  for (size_t c = 0; c < carts; ++c) {
    cart state;
    uint64_t seq = 0;
    while (seq < events) {
      journal_append req;
      req.stream = "a" + std::to_string(c);
      req.expected_seq = seq;
      auto n = std::min(per_append, events - seq);
      for (size_t i = 0; i < n; ++i) {
        cart_event ev = item_added{"item-" + std::to_string((seq + i) % 20),
                                   1};
        req.payloads.push_back(encode_event(ev));
        apply_in_place(state, ev);
      }
      seq += n;
      if (snapshots && seq % per_append == 0)
        req.snapshot = encode_state(state);
      batch.push_back(std::move(req));
      if (batch.size() == appends_per_commit) {
        for (auto& r : backend.append_batch(batch))
          if (!r)
            throw std::runtime_error("populate failed");
        batch.clear();
      }
    }
  }
  if (!batch.empty())
    for (auto& r : backend.append_batch(batch))
      if (!r)
        throw std::runtime_error("populate failed");
}

void activate(benchmark::State& state, const std::string& backend_name,
              size_t events, bool snapshots) {
  if (backend_name == "sqlite" && !have_sqlite) {
    state.SkipWithError("no SQLite journal in this build");
    return;
  }
  auto carts = static_cast<size_t>(state.max_iterations);
  temp_dir dir;
  auto backend = open_backend(backend_name, dir.path(), "full");
  populate(*backend, carts, events, snapshots);
  local_node_options opts;
  opts.carts.idle_timeout = caf::timespan{0};
  local_node node{backend, opts};
  size_t i = 0;
  for (auto _ : state) {
    auto id = "a" + std::to_string(i++ % carts);
    auto view = node.call<cart_view>(node.resolve(id), caf::get_atom::value);
    if (!view || view->version != events) {
      state.SkipWithError("activation failed or wrong version");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(events) + " events, "
                 + (snapshots ? "snapshot every 100" : "no snapshot"));
}

void BM_activation_memory_10(benchmark::State& state) {
  activate(state, "memory", 10, false);
}
BENCHMARK(BM_activation_memory_10)->Iterations(5000)->UseRealTime();

void BM_activation_memory_1000(benchmark::State& state) {
  activate(state, "memory", 1000, false);
}
BENCHMARK(BM_activation_memory_1000)->Iterations(500)->UseRealTime();

void BM_activation_sqlite_10(benchmark::State& state) {
  activate(state, "sqlite", 10, false);
}
BENCHMARK(BM_activation_sqlite_10)->Iterations(5000)->UseRealTime();

void BM_activation_sqlite_1000_replay(benchmark::State& state) {
  activate(state, "sqlite", 1000, false);
}
BENCHMARK(BM_activation_sqlite_1000_replay)->Iterations(500)->UseRealTime();

void BM_activation_sqlite_1000_snapshots(benchmark::State& state) {
  activate(state, "sqlite", 1000, true);
}
BENCHMARK(BM_activation_sqlite_1000_snapshots)
  ->Iterations(500)
  ->UseRealTime();

} // namespace
