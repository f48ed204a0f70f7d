// One request/response to a local cart actor, in-process (no HTTP), over
// the memory journal: from a blocking scoped_actor (includes waking the
// caller's thread) and from an event-based driver (actor to actor only).

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <tuple>

#include <caf/event_based_actor.hpp>

#include "bench/support/local_node.hpp"

namespace {

using namespace cartd;
using namespace cartd::bench;

local_node_options node_options() {
  local_node_options opts;
  opts.carts.idle_timeout = caf::timespan{0}; // never passivate mid-run
  return opts;
}

void BM_actor_get_blocking(benchmark::State& state) {
  local_node node{open_backend("memory"), node_options()};
  auto cart = node.resolve("c1");
  node.call<cart_view>(cart, add_mutation("apple", 2));
  for (auto _ : state) {
    auto view = node.call<cart_view>(cart, caf::get_atom::value, std::string{});
    if (!view)
      state.SkipWithError("get failed");
    benchmark::DoNotOptimize(view);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_actor_get_blocking)->UseRealTime();

void BM_actor_resolve_get_blocking(benchmark::State& state) {
  local_node node{open_backend("memory"), node_options()};
  node.call<cart_view>(node.resolve("c1"), add_mutation("apple", 2));
  for (auto _ : state) {
    auto view = node.call<cart_view>(node.resolve("c1"), caf::get_atom::value,
                                     std::string{});
    if (!view)
      state.SkipWithError("get failed");
    benchmark::DoNotOptimize(view);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_actor_resolve_get_blocking)->UseRealTime();

void BM_actor_add_blocking(benchmark::State& state) {
  local_node node{open_backend("memory"), node_options()};
  auto cart = node.resolve("c1");
  auto m = add_mutation("apple", 1);
  for (auto _ : state) {
    auto view = node.call<cart_view>(cart, m);
    if (!view)
      state.SkipWithError("add failed");
    benchmark::DoNotOptimize(view);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_actor_add_blocking)->UseRealTime();

// An event-based driver runs `n` round trips back to back (one outstanding)
// and answers when done: actor-to-actor latency without blocking threads.
struct driver_state {
  size_t remaining = 0;
  caf::response_promise done;
};

// `msg`: the request's values as a tuple (a get is two: the atom and the
// request id).
template <class Message>
void next_round_trip(caf::stateful_actor<driver_state>* self,
                     const cart_actor& cart, const Message& msg) {
  std::apply(
      [&](const auto&... xs) {
        return self->request(cart, caf::infinite, xs...);
      },
      msg)
      .then(
          [self, cart, msg](cart_view&) {
            if (--self->state.remaining == 0)
              self->state.done.deliver(caf::ok_atom::value);
            else
              next_round_trip(self, cart, msg);
          },
          [self](caf::error& err) { self->state.done.deliver(err); });
}

template <class Message>
caf::behavior driver(caf::stateful_actor<driver_state>* self, cart_actor cart,
                     Message msg) {
  return {
      [self, cart, msg](caf::ok_atom, size_t n) -> caf::result<caf::ok_atom> {
        self->state.remaining = n;
        self->state.done = self->make_response_promise();
        next_round_trip(self, cart, msg);
        return self->state.done;
      },
  };
}

constexpr size_t round_trips_per_iteration = 1000;

template <class Message>
void run_async(benchmark::State& state, Message msg) {
  local_node node{open_backend("memory"), node_options()};
  auto cart = node.resolve("c1");
  node.call<cart_view>(cart, add_mutation("apple", 2));
  auto d = node.system().spawn(driver<Message>, cart, msg);
  for (auto _ : state) {
    auto ok = node.call<caf::ok_atom>(d, caf::ok_atom::value,
                                      round_trips_per_iteration);
    if (!ok)
      state.SkipWithError("round trips failed");
  }
  caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  state.SetItemsProcessed(state.iterations() * round_trips_per_iteration);
  state.SetLabel("per item: one round trip");
}

void BM_actor_get_async(benchmark::State& state) {
  run_async(state, std::make_tuple(caf::get_atom::value, std::string{}));
}
BENCHMARK(BM_actor_get_async)->UseRealTime();

void BM_actor_add_async(benchmark::State& state) {
  run_async(state, std::make_tuple(add_mutation("apple", 1)));
}
BENCHMARK(BM_actor_add_async)->UseRealTime();

} // namespace
