// Journal append throughput straight on the backends (no actor): one
// append_batch call is one commit. Items are events (one per append, each
// on its own stream, as carts write them).
//
//   memory          the in-memory backend
//   sqlite/batch:1  one commit (one fsync, sync=full) per event
//   sqlite/batch:N  group commit: N appends of N carts in one transaction
//   postgres/batch:N  the same on PostgreSQL on this machine (bench/run.py
//                   starts the server; skipped without one)

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "actors/cart/actor/event_codec.hpp"
#include "bench/support/local_node.hpp"

namespace {

using namespace cartd;
using namespace cartd::bench;

constexpr size_t streams = 10000;

void run_appends(benchmark::State& state, journal_backend& backend) {
  auto batch_size = static_cast<size_t>(state.range(0));
  auto payload = encode_event(item_added{"item-3", 1});
  std::vector<uint64_t> last(streams, 0);
  std::vector<journal_append> batch(batch_size);
  size_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& req : batch) {
      auto s = next++ % streams;
      req.stream = "c" + std::to_string(s);
      req.expected_seq = last[s];
      req.payloads.assign(1, payload);
      ++last[s];
    }
    state.ResumeTiming();
    auto results = backend.append_batch(batch);
    for (auto& r : results)
      if (!r) {
        state.SkipWithError("append failed");
        return;
      }
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
}

void BM_journal_append_memory(benchmark::State& state) {
  auto backend = open_backend("memory");
  run_appends(state, *backend);
}
BENCHMARK(BM_journal_append_memory)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(256);

void BM_journal_append_sqlite_full(benchmark::State& state) {
  temp_dir dir;
  auto backend = open_backend("sqlite", dir.path(), "full");
  run_appends(state, *backend);
  state.SetLabel("sync=full, one transaction per batch");
}
BENCHMARK(BM_journal_append_sqlite_full)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(256)
    ->UseRealTime();

void BM_journal_append_postgres(benchmark::State& state) {
  if (postgres_conninfo().empty()) {
    state.SkipWithError("no PostgreSQL server (bench/run.py sets "
                        "CARTD_BENCH_POSTGRES)");
    return;
  }
  auto backend = open_backend("postgres");
  run_appends(state, *backend);
  state.SetLabel("synchronous_commit=on, one transaction per batch");
}
BENCHMARK(BM_journal_append_postgres)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(256)
    ->UseRealTime();

} // namespace
