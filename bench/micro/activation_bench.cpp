// Cold activation: a cart that is not resident (passivated, or never
// activated since the node started) is resolved and answers its first get:
// spawn under its shard, recover (snapshot + events) from the journal, fold
// the events, reply. Each iteration activates a different cart whose events
// were written beforehand straight into the backend, exactly as the cart
// actor writes them (same codec; a snapshot with every 100th event when
// snapshots are on, as with --storage.snapshot-every=100). An event-based
// driver activates 100 carts one after the other per iteration, so the
// numbers per item do not include waking a blocked benchmark thread.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

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
        cart_event ev = item_added{"item-" + std::to_string((seq + i) % 20), 1};
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

// Activates carts a<first>..a<first+count-1> one after the other (resolve,
// then the first get), actor to actor, and answers with how many had the
// expected version: activation latency without waking a blocked thread.
struct activator_state {
  cart_directory_actor directory;
  size_t next = 0;
  size_t end = 0;
  uint64_t expected = 0;
  uint64_t ok = 0;
  caf::response_promise done;
};

using activator_actor = caf::stateful_actor<activator_state>;

void activate_next(activator_actor* self) {
  auto& st = self->state;
  if (st.next == st.end) {
    st.done.deliver(st.ok);
    return;
  }
  auto id = "a" + std::to_string(st.next++);
  auto fail = [self](caf::error& err) { self->state.done.deliver(err); };
  self->request(st.directory, caf::infinite, resolve_atom::value, id)
      .then(
          [self, fail](cart_actor& cart) {
            self->request(cart, caf::infinite, caf::get_atom::value,
                          std::string{})
                .then(
                    [self](cart_view& view) {
                      if (view.version == self->state.expected)
                        ++self->state.ok;
                      activate_next(self);
                    },
                    fail);
          },
          fail);
}

caf::behavior activator(activator_actor* self, cart_directory_actor dir,
                        uint64_t expected) {
  self->state.directory = std::move(dir);
  self->state.expected = expected;
  return {
      [self](caf::ok_atom, uint64_t first,
             uint64_t count) -> caf::result<uint64_t> {
        auto& st = self->state;
        st.next = first;
        st.end = first + count;
        st.ok = 0;
        st.done = self->make_response_promise();
        activate_next(self);
        return st.done;
      },
  };
}

constexpr uint64_t carts_per_iteration = 100;

void activate(benchmark::State& state, const std::string& backend_name,
              size_t events, bool snapshots) {
  if (backend_name == "postgres" && postgres_conninfo().empty()) {
    state.SkipWithError("no PostgreSQL server (bench/run.py sets "
                        "CARTD_BENCH_POSTGRES)");
    return;
  }
  auto carts = static_cast<size_t>(state.max_iterations) * carts_per_iteration;
  temp_dir dir;
  auto backend = open_backend(backend_name, dir.path(), "full");
  populate(*backend, carts, events, snapshots);
  local_node_options opts;
  opts.carts.idle_timeout = caf::timespan{0};
  local_node node{backend, opts};
  auto driver = node.system().spawn(activator, node.directory(),
                                    static_cast<uint64_t>(events));
  uint64_t first = 0;
  for (auto _ : state) {
    auto ok = node.call<uint64_t>(driver, caf::ok_atom::value, first,
                                  carts_per_iteration);
    first += carts_per_iteration;
    if (!ok || *ok != carts_per_iteration) {
      state.SkipWithError("activation failed or wrong version");
      break;
    }
  }
  caf::anon_send_exit(driver, caf::exit_reason::user_shutdown);
  state.SetItemsProcessed(state.iterations() * carts_per_iteration);
  state.SetLabel(std::to_string(events) + " events, " +
                 (snapshots ? "snapshot every 100" : "no snapshot") +
                 "; per item: one activation");
}

void BM_activation_memory_10(benchmark::State& state) {
  activate(state, "memory", 10, false);
}
BENCHMARK(BM_activation_memory_10)->Iterations(50)->UseRealTime();

void BM_activation_memory_1000(benchmark::State& state) {
  activate(state, "memory", 1000, false);
}
BENCHMARK(BM_activation_memory_1000)->Iterations(5)->UseRealTime();

void BM_activation_sqlite_10(benchmark::State& state) {
  activate(state, "sqlite", 10, false);
}
BENCHMARK(BM_activation_sqlite_10)->Iterations(50)->UseRealTime();

void BM_activation_sqlite_1000_replay(benchmark::State& state) {
  activate(state, "sqlite", 1000, false);
}
BENCHMARK(BM_activation_sqlite_1000_replay)->Iterations(5)->UseRealTime();

void BM_activation_sqlite_1000_snapshots(benchmark::State& state) {
  activate(state, "sqlite", 1000, true);
}
BENCHMARK(BM_activation_sqlite_1000_snapshots)->Iterations(5)->UseRealTime();

// From PostgreSQL on this machine (bench/run.py starts the server): the
// reads run on the journal's readers (other connections than the writer's).
void BM_activation_postgres_10(benchmark::State& state) {
  activate(state, "postgres", 10, false);
}
BENCHMARK(BM_activation_postgres_10)->Iterations(50)->UseRealTime();

void BM_activation_postgres_1000_replay(benchmark::State& state) {
  activate(state, "postgres", 1000, false);
}
BENCHMARK(BM_activation_postgres_1000_replay)->Iterations(5)->UseRealTime();

void BM_activation_postgres_1000_snapshots(benchmark::State& state) {
  activate(state, "postgres", 1000, true);
}
BENCHMARK(BM_activation_postgres_1000_snapshots)->Iterations(5)->UseRealTime();

} // namespace
