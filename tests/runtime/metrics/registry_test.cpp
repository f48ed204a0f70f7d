// The registry and its text exposition (Prometheus format 0.0.4).

#include "runtime/metrics/registry.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime/metrics/node_metrics.hpp"
#include "runtime/metrics/process_metrics.hpp"

using namespace cartd::metrics;

namespace {

/// The line of `text` that starts with `prefix` (without its newline), or
/// "" when none does.
std::string line_of(const std::string& text, const std::string& prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    auto line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0)
      return line;
    if (end == std::string::npos)
      break;
    pos = end + 1;
  }
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_small_registry_renders_exactly) {
  registry reg;
  auto& requests = reg.counter_family("app_requests_total", "Requests.",
                                      {"method", "status"});
  auto& temperature = reg.gauge("app_temperature", "Degrees.");
  auto& latency = reg.histogram_family("app_latency_seconds", "Latency.",
                                       {"route"}, {0.1, 0.5, 2.5});
  requests.with({"GET", "200"}).inc(3);
  requests.with({"DELETE", "404"}).inc();
  temperature.set(-4);
  latency.with({"/a"}).observe(0.05);
  latency.with({"/a"}).observe(0.1);
  latency.with({"/a"}).observe(0.3);
  latency.with({"/a"}).observe(7);
  BOOST_CHECK_EQUAL(reg.render(),
                    "# HELP app_requests_total Requests.\n"
                    "# TYPE app_requests_total counter\n"
                    "app_requests_total{method=\"DELETE\",status=\"404\"} 1\n"
                    "app_requests_total{method=\"GET\",status=\"200\"} 3\n"
                    "# HELP app_temperature Degrees.\n"
                    "# TYPE app_temperature gauge\n"
                    "app_temperature -4\n"
                    "# HELP app_latency_seconds Latency.\n"
                    "# TYPE app_latency_seconds histogram\n"
                    "app_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
                    "app_latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 3\n"
                    "app_latency_seconds_bucket{route=\"/a\",le=\"2.5\"} 3\n"
                    "app_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
                    "app_latency_seconds_sum{route=\"/a\"} 7.45\n"
                    "app_latency_seconds_count{route=\"/a\"} 4\n");
}

BOOST_AUTO_TEST_CASE(a_family_without_cells_renders_help_and_type_only) {
  registry reg;
  reg.counter_family("app_errors_total", "Errors.", {"kind"});
  BOOST_CHECK_EQUAL(reg.render(), "# HELP app_errors_total Errors.\n"
                                  "# TYPE app_errors_total counter\n");
}

BOOST_AUTO_TEST_CASE(label_values_and_help_are_escaped) {
  registry reg;
  auto& x =
      reg.counter_family("app_x_total", "Back\\slash and\nnewline.", {"path"});
  x.with({"a\\b\"c\nd"}).inc();
  auto text = reg.render();
  BOOST_CHECK_EQUAL(line_of(text, "# HELP"),
                    "# HELP app_x_total Back\\\\slash and\\nnewline.");
  BOOST_CHECK_EQUAL(line_of(text, "app_x_total{"),
                    "app_x_total{path=\"a\\\\b\\\"c\\nd\"} 1");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_and_end_in_the_count) {
  histogram h{{1, 2, 3}};
  for (double x : {0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 100.0, -1.0})
    h.observe(x);
  auto counts = h.cumulative_counts();
  BOOST_REQUIRE_EQUAL(counts.size(), 4u);
  // le=1: 0.5 1.0 -1.0; le=2: +1.5 2.0; le=3: +2.5 3.0; +Inf: +3.5 100.
  BOOST_CHECK_EQUAL(counts[0], 3u);
  BOOST_CHECK_EQUAL(counts[1], 5u);
  BOOST_CHECK_EQUAL(counts[2], 7u);
  BOOST_CHECK_EQUAL(counts[3], 9u);
  BOOST_CHECK_EQUAL(h.sum(), 113.0);
}

BOOST_AUTO_TEST_CASE(a_cell_is_resolved_once_and_kept) {
  registry reg;
  auto& f = reg.counter_family("app_y_total", "Y.", {"a"});
  auto& x = f.with({"1"});
  BOOST_CHECK_EQUAL(&x, &f.with({"1"}));
  BOOST_CHECK_NE(&x, &f.with({"2"}));
}

BOOST_AUTO_TEST_CASE(concurrent_increments_are_all_counted) {
  registry reg;
  auto& c = reg.counter("app_z_total", "Z.");
  auto& h = reg.histogram("app_h", "H.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
      }
    });
  for (auto& t : threads)
    t.join();
  BOOST_CHECK_EQUAL(c.value(), 40000u);
  BOOST_CHECK_EQUAL(h.cumulative_counts().back(), 40000u);
  BOOST_CHECK_EQUAL(h.sum(), 20000.0);
}

BOOST_AUTO_TEST_CASE(bad_names_and_duplicates_are_refused) {
  registry reg;
  BOOST_CHECK_THROW(reg.counter("9lives_total", ""), std::invalid_argument);
  BOOST_CHECK_THROW(reg.counter("app-dash_total", ""), std::invalid_argument);
  BOOST_CHECK_THROW(reg.counter_family("app_a_total", "", {"__reserved"}),
                    std::invalid_argument);
  BOOST_CHECK_THROW(reg.counter_family("app_b_total", "", {"x", "x"}),
                    std::invalid_argument);
  BOOST_CHECK_THROW(reg.histogram_family("app_c", "", {"le"}, {1}),
                    std::invalid_argument);
  BOOST_CHECK_THROW(reg.histogram("app_d", "", {2, 1}), std::invalid_argument);
  reg.counter("app_e_total", "");
  BOOST_CHECK_THROW(reg.gauge("app_e_total", ""), std::invalid_argument);
  auto& f = reg.counter_family("app_f_total", "", {"a", "b"});
  BOOST_CHECK_THROW(f.with({"1"}), std::invalid_argument);
  BOOST_CHECK(valid_metric_name("a:b_c1"));
  BOOST_CHECK(!valid_label_name("a:b"));
}

BOOST_AUTO_TEST_CASE(values_render_as_prometheus_reads_them) {
  auto render = [](double x) {
    std::string out;
    append_value(out, x);
    return out;
  };
  BOOST_CHECK_EQUAL(render(0), "0");
  BOOST_CHECK_EQUAL(render(42), "42");
  BOOST_CHECK_EQUAL(render(-3), "-3");
  BOOST_CHECK_EQUAL(render(0.25), "0.25");
  BOOST_CHECK_EQUAL(render(0.0001), "0.0001");
  BOOST_CHECK_EQUAL(render(0.00025), "0.00025");
  BOOST_CHECK_EQUAL(std::stod(render(1e-7)), 1e-7);
  BOOST_CHECK_EQUAL(render(std::numeric_limits<double>::infinity()), "+Inf");
  BOOST_CHECK_EQUAL(render(-std::numeric_limits<double>::infinity()), "-Inf");
  BOOST_CHECK_EQUAL(render(std::nan("")), "NaN");
  BOOST_CHECK_EQUAL(std::stod(render(1e300)), 1e300);
}

BOOST_AUTO_TEST_CASE(callback_metrics_are_read_on_each_render) {
  registry reg;
  double x = 1.5;
  reg.add_callback("app_now", "Now.", metric_type::gauge, [&x] { return x; });
  BOOST_CHECK_EQUAL(line_of(reg.render(), "app_now "), "app_now 1.5");
  x = 2;
  BOOST_CHECK_EQUAL(line_of(reg.render(), "app_now "), "app_now 2");
}

BOOST_AUTO_TEST_CASE(process_metrics_read_this_process) {
  registry reg;
  add_process_metrics(reg);
  auto text = reg.render();
  auto value = [&](const std::string& name) {
    auto line = line_of(text, name + " ");
    BOOST_REQUIRE_MESSAGE(!line.empty(), name << " missing in\n" << text);
    return std::stod(line.substr(name.size() + 1));
  };
  BOOST_CHECK_GT(value("process_resident_memory_bytes"), 1024 * 1024);
  // stdin, stdout, stderr at least.
  BOOST_CHECK_GE(value("process_open_fds"), 3);
  BOOST_CHECK_GE(value("process_cpu_seconds_total"), 0);
  // Started within the last day, not in the future.
  auto now = static_cast<double>(std::time(nullptr));
  auto start = value("process_start_time_seconds");
  BOOST_CHECK_LE(start, now + 1);
  BOOST_CHECK_GT(start, now - 86400);
}

BOOST_AUTO_TEST_CASE(
    node_metrics_register_cluster_instruments_only_in_a_cluster) {
  auto single = node_metrics::make(false);
  BOOST_CHECK(single->cluster_members == nullptr);
  BOOST_CHECK(
      line_of(single->registry().render(), "# TYPE cartd_cluster").empty());
  auto clustered = node_metrics::make(true);
  BOOST_REQUIRE(clustered->cluster_members != nullptr);
  clustered->cluster_members->set(3);
  BOOST_CHECK_EQUAL(
      line_of(clustered->registry().render(), "cartd_cluster_members "),
      "cartd_cluster_members 3");
}
