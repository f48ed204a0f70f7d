// A closed-loop gRPC load generator for cartd.v1.Carts (no packaged gRPC
// load tool exists here): `conns` channels, each its own TCP connection
// with one call in flight, for a fixed duration after a warm-up; prints one
// line `BENCH_JSON {...}` with throughput and latency percentiles, like
// bench/wrk/common.lua, so the two can be put side by side (compare.py).
//
//   bench_grpc_load --target=127.0.0.1:9090 --workload=get_hot --conns=64
//                   --duration=4 --warmup=2 [--carts=10000 --items=8]
//
// get_hot: GetCart of the cart "hot"; add_many: AddItem of one unit of one
// of `items` items to one of `carts` carts (c1..c<carts>), as
// bench/wrk/add_many.lua.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bindings/grpc/cart.grpc.pb.h"

namespace {

using clock_type = std::chrono::steady_clock;
namespace v1 = cartd::v1;

struct options {
  std::string target = "127.0.0.1:9090";
  std::string workload = "get_hot";
  int conns = 64;
  int duration = 4;
  int warmup = 2;
  int carts = 10000;
  int items = 8;
};

bool parse(int argc, char** argv, options& opts) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    auto eq = arg.find('=');
    if (arg.substr(0, 2) != "--" || eq == std::string_view::npos)
      return false;
    auto key = arg.substr(2, eq - 2);
    std::string value{arg.substr(eq + 1)};
    if (key == "target")
      opts.target = value;
    else if (key == "workload")
      opts.workload = value;
    else if (key == "conns")
      opts.conns = std::atoi(value.c_str());
    else if (key == "duration")
      opts.duration = std::atoi(value.c_str());
    else if (key == "warmup")
      opts.warmup = std::atoi(value.c_str());
    else if (key == "carts")
      opts.carts = std::atoi(value.c_str());
    else if (key == "items")
      opts.items = std::atoi(value.c_str());
    else
      return false;
  }
  return opts.conns > 0 && opts.duration > 0 && opts.carts > 0 &&
         opts.items > 0 &&
         (opts.workload == "get_hot" || opts.workload == "add_many");
}

/// What every connection shares: the measurement window and the end.
struct run_state {
  clock_type::time_point measure_from;
  clock_type::time_point measure_until;
  std::mutex mtx;
  std::condition_variable cv;
  int running = 0;
};

/// One connection: one call in flight, issued again from its own callback.
class connection {
public:
  connection(std::shared_ptr<grpc::Channel> channel, const options& opts,
             run_state& state, unsigned seed)
      : stub_(v1::Carts::NewStub(channel)), opts_(opts), state_(state),
        rng_(seed) {
    latencies_us_.reserve(1 << 16);
  }

  void start() { next(); }

  std::vector<uint32_t>& latencies_us() { return latencies_us_; }
  uint64_t errors() const { return errors_; }

private:
  void next() {
    auto now = clock_type::now();
    if (now >= state_.measure_until) {
      std::lock_guard<std::mutex> guard{state_.mtx};
      if (--state_.running == 0)
        state_.cv.notify_all();
      return;
    }
    ctx_ = std::make_unique<grpc::ClientContext>();
    ctx_->set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds{10});
    started_ = now;
    auto done = [this](grpc::Status status) { finished(status); };
    if (opts_.workload == "get_hot") {
      get_.set_cart_id("hot");
      stub_->async()->GetCart(ctx_.get(), &get_, &reply_, std::move(done));
    } else {
      add_.set_cart_id("c" + std::to_string(pick(opts_.carts)));
      add_.set_item("item-" + std::to_string(pick(opts_.items)));
      add_.set_quantity(1);
      stub_->async()->AddItem(ctx_.get(), &add_, &reply_, std::move(done));
    }
  }

  void finished(const grpc::Status& status) {
    auto now = clock_type::now();
    if (started_ >= state_.measure_from && now <= state_.measure_until) {
      if (status.ok())
        latencies_us_.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now -
                                                                  started_)
                .count()));
      else
        ++errors_;
    }
    reply_.Clear();
    next();
  }

  int pick(int n) { return std::uniform_int_distribution<int>{1, n}(rng_); }

  std::unique_ptr<v1::Carts::Stub> stub_;
  const options& opts_;
  run_state& state_;
  std::mt19937 rng_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  v1::GetCartRequest get_;
  v1::AddItemRequest add_;
  v1::Cart reply_;
  clock_type::time_point started_;
  std::vector<uint32_t> latencies_us_;
  uint64_t errors_ = 0;
};

double percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  return sorted[std::min(i, sorted.size() - 1)];
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  if (!parse(argc, argv, opts)) {
    std::fprintf(stderr,
                 "usage: bench_grpc_load --target=HOST:PORT "
                 "--workload=get_hot|add_many [--conns=64] [--duration=4] "
                 "[--warmup=2] [--carts=10000] [--items=8]\n");
    return 2;
  }
  run_state state;
  std::vector<std::unique_ptr<connection>> conns;
  for (int i = 0; i < opts.conns; ++i) {
    grpc::ChannelArguments args;
    // A subchannel (TCP connection) of its own per channel, as wrk opens
    // one connection per -c.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("cartd.bench.connection", i);
    auto channel = grpc::CreateCustomChannel(
        opts.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::seconds{10})) {
      std::fprintf(stderr, "cannot connect to %s\n", opts.target.c_str());
      return 1;
    }
    conns.push_back(
        std::make_unique<connection>(channel, opts, state, 1000u + i));
  }
  auto start = clock_type::now();
  state.measure_from = start + std::chrono::seconds{opts.warmup};
  state.measure_until =
      state.measure_from + std::chrono::seconds{opts.duration};
  state.running = opts.conns;
  for (auto& c : conns)
    c->start();
  {
    std::unique_lock<std::mutex> guard{state.mtx};
    state.cv.wait(guard, [&state] { return state.running == 0; });
  }
  std::vector<uint32_t> all;
  uint64_t errors = 0;
  for (auto& c : conns) {
    all.insert(all.end(), c->latencies_us().begin(), c->latencies_us().end());
    errors += c->errors();
  }
  std::sort(all.begin(), all.end());
  double seconds = opts.duration;
  double mean = 0;
  for (auto x : all)
    mean += x;
  mean = all.empty() ? 0 : mean / static_cast<double>(all.size());
  std::printf("BENCH_JSON {\"workload\":\"%s\",\"conns\":%d,"
              "\"duration_s\":%d,\"requests\":%zu,\"errors\":%llu,"
              "\"req_per_s\":%.1f,\"latency_us\":{\"mean\":%.1f,\"p50\":%.0f,"
              "\"p90\":%.0f,\"p99\":%.0f,\"max\":%.0f}}\n",
              opts.workload.c_str(), opts.conns, opts.duration, all.size(),
              static_cast<unsigned long long>(errors),
              static_cast<double>(all.size()) / seconds, mean,
              percentile(all, 50), percentile(all, 90), percentile(all, 99),
              all.empty() ? 0.0 : static_cast<double>(all.back()));
  return errors == 0 ? 0 : 1;
}
