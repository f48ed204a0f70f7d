// What metrics and the access log add to one request, measured on their own
// (issue 14's "within 3 %" and "no more than 5 %"): the HTTP server calls
// every exchange observer once per response with an `exchange` it fills
// (route, path copied from the request, id, status, bytes, times). This is
// that work for GET /carts/{cart} 200, without sockets or actors:
//
//   BM_observe_metrics     metrics_observer::on_exchange (requests counter,
//                          duration histogram) plus the path copy the
//                          server makes whenever an observer is set
//   BM_observe_access_log  access_log::on_exchange (the exchange copied
//                          into a record for its line_writer) plus the
//                          same path copy. Process CPU time counts the
//                          writer thread's rendering (JSON and text) and
//                          write(2) to a real file, but only of the records
//                          it kept: this loop makes them faster than any
//                          server, and the writer drops the excess
//                          (`dropped`), so the wall time is the broker's
//                          cost and the CPU time a floor
//   BM_observe_both        what the node does with both switched on
//
// bench/README.md sets these against the server's measured CPU seconds per
// request (bench/run.py --phases ab).

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bindings/http/access_log.hpp"
#include "bindings/http/http_metrics.hpp"
#include "runtime/core/line_writer.hpp"
#include "runtime/metrics/node_metrics.hpp"

namespace {

using namespace cartd;

const std::string cart_route = "/carts/{cart}";
const std::string path = "/carts/c1234";
const std::string request_id = "5f0c9a1e-2a3b";

/// An access log writing to a fresh file in /tmp (removed at the end).
struct access_log_file {
  std::string name = "/tmp/cartd-bench-access-" + std::to_string(::getpid());
  std::shared_ptr<http::access_log> log;

  explicit access_log_file(log_format format) {
    int fd =
        ::open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    line_writer::settings settings;
    settings.capacity = 4 << 20; // as bindings/cartd/logging.cpp
    log = std::make_shared<http::access_log>(
        format, "n1", line_writer::to_fd(fd, true), settings);
  }

  ~access_log_file() {
    log.reset(); // joins the writer: everything written
    std::remove(name.c_str());
  }
};

/// What the server does per response with `observers` set: copies the path
/// (dispatch), fills the exchange and tells each observer.
void observe(benchmark::State& state,
             const std::vector<std::shared_ptr<http::exchange_observer>>& obs) {
  std::string path_copy;
  auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    path_copy.assign(path.data(), path.size());
    http::exchange ex;
    ex.method = boost::beast::http::verb::get;
    ex.route = cart_route;
    ex.path = path_copy;
    ex.request_id = request_id;
    ex.status = 200;
    ex.body_bytes = 85;
    ex.started = started;
    ex.finished = std::chrono::steady_clock::now();
    for (auto& o : obs)
      o->on_exchange(ex);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_observe_metrics(benchmark::State& state) {
  auto metrics = metrics::node_metrics::make(false);
  observe(state, {std::make_shared<http::metrics_observer>(metrics)});
}
BENCHMARK(BM_observe_metrics)->MeasureProcessCPUTime();

void BM_observe_access_log(benchmark::State& state) {
  access_log_file file{state.range(0) == 0 ? log_format::text
                                           : log_format::json};
  observe(state, {file.log});
  if (file.log->dropped() > 0)
    state.counters["dropped"] = static_cast<double>(file.log->dropped());
}
BENCHMARK(BM_observe_access_log)
    ->ArgName("json")
    ->Arg(0)
    ->Arg(1)
    ->MeasureProcessCPUTime();

void BM_observe_both(benchmark::State& state) {
  access_log_file file{log_format::text};
  auto metrics = metrics::node_metrics::make(false);
  observe(state, {std::make_shared<http::metrics_observer>(metrics), file.log});
}
BENCHMARK(BM_observe_both)->MeasureProcessCPUTime();

/// The baseline: the exchange filled and nobody told (what the server does
/// not do without observers, i.e. the loop's own cost).
void BM_observe_nothing(benchmark::State& state) {
  observe(state, {});
}
BENCHMARK(BM_observe_nothing)->MeasureProcessCPUTime();

} // namespace
