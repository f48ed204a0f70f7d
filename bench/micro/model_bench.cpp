// The pure cart model: decide + apply per command, no actors, no I/O.

#include <benchmark/benchmark.h>

#include <string>

#include "actors/cart/model/cart.hpp"

namespace {

using namespace cartd;

cart make_cart(size_t lines) {
  cart result;
  for (size_t i = 0; i < lines; ++i)
    result.lines.emplace("item-" + std::to_string(i), 1);
  result.version = lines;
  return result;
}

// Adds one unit to an existing line of a cart with range(0) lines.
void BM_model_add_existing_line(benchmark::State& state) {
  auto c = make_cart(static_cast<size_t>(state.range(0)));
  cart_limits limits;
  cart_command cmd = add_item{"item-0", 1};
  for (auto _ : state) {
    auto d = decide(c, cmd, limits);
    apply_in_place(c, d.events.front());
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_model_add_existing_line)->Arg(1)->Arg(10)->Arg(100);

// Adds a new line, then removes it again: two commands per iteration.
void BM_model_add_then_remove_line(benchmark::State& state) {
  auto c = make_cart(static_cast<size_t>(state.range(0)));
  cart_limits limits;
  cart_command add = add_item{"zz-new", 3};
  cart_command remove = remove_item{"zz-new"};
  for (auto _ : state) {
    auto d1 = decide(c, add, limits);
    apply_in_place(c, d1.events.front());
    auto d2 = decide(c, remove, limits);
    apply_in_place(c, d2.events.front());
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_model_add_then_remove_line)->Arg(1)->Arg(100);

// Sets the quantity of an existing line.
void BM_model_set_quantity(benchmark::State& state) {
  auto c = make_cart(10);
  cart_limits limits;
  int64_t q = 1;
  for (auto _ : state) {
    cart_command cmd = set_item_quantity{"item-5", 1 + (q++ & 1023)};
    auto d = decide(c, cmd, limits);
    apply_in_place(c, d.events.front());
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_model_set_quantity);

// A refused command (the cart is checked out): decide only.
void BM_model_decide_refused(benchmark::State& state) {
  auto c = make_cart(10);
  c.checked_out = true;
  cart_limits limits;
  cart_command cmd = add_item{"item-0", 1};
  for (auto _ : state) {
    auto d = decide(c, cmd, limits);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_model_decide_refused);

// Replay: apply only, the fold a cart runs over its journal on activation.
void BM_model_apply_replay(benchmark::State& state) {
  cart_event ev = item_added{"item-3", 1};
  auto c = make_cart(10);
  for (auto _ : state) {
    apply_in_place(c, ev);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_model_apply_replay);

} // namespace
