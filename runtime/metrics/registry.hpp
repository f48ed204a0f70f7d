#pragma once

// Counters, gauges and histograms with fixed label sets, rendered in the
// Prometheus text exposition format 0.0.4 on a scrape.
//
// Registration (families, and a family's labelled cells) takes a lock and
// may allocate; it happens once per cell. What callers keep is a reference
// to the cell, valid as long as the registry lives, and an observation is
// then a relaxed atomic add: no lock, no allocation.
//
//   registry reg;
//   auto& requests = reg.counter_family("app_requests_total", "Requests.",
//                                       {"method", "status"});
//   auto& ok_gets = requests.with({"GET", "200"});   // once
//   ok_gets.inc();                                   // per request
//   std::string out;
//   reg.render(out);                                 // per scrape

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace cartd::metrics {

// -- cells --------------------------------------------------------------------

/// A monotonically increasing count.
class counter {
public:
  void inc(uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }

  uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  void set(int64_t x) noexcept { value_.store(x, std::memory_order_relaxed); }

  void inc(int64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }

  void dec(int64_t n = 1) noexcept {
    value_.fetch_sub(n, std::memory_order_relaxed);
  }

  int64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<int64_t> value_{0};
};

/// Observations counted into buckets by upper bound (`le`), with their sum.
class histogram {
public:
  /// `bounds`: the buckets' upper bounds, strictly ascending and finite;
  /// the `+Inf` bucket is implicit.
  explicit histogram(std::vector<double> bounds);

  void observe(double x) noexcept;

  /// The buckets' upper bounds (without +Inf).
  const std::vector<double>& bounds() const noexcept { return bounds_; }

  /// Cumulative counts per bucket, +Inf last (that one is the count).
  std::vector<uint64_t> cumulative_counts() const;

  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

private:
  std::vector<double> bounds_;
  // Non-cumulative: bucket i counts bounds_[i-1] < x <= bounds_[i]; the
  // last one x > bounds_.back(). Summed up on a scrape.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

/// Bucket bounds: `count` bounds from `start`, each `factor` times the last.
std::vector<double> exponential_buckets(double start, double factor,
                                        size_t count);

/// Prometheus' default latency buckets (seconds): 5 ms .. 10 s.
std::vector<double> default_seconds_buckets();

// -- families -----------------------------------------------------------------

enum class metric_type { counter, gauge, histogram };

/// One metric name with HELP and TYPE, and a cell per set of label values.
class family_base {
public:
  family_base(std::string name, std::string help, metric_type type,
              std::vector<std::string> label_names);

  virtual ~family_base();

  const std::string& name() const noexcept { return name_; }

  /// Appends `# HELP`, `# TYPE` and a sample line per cell (histograms: its
  /// `_bucket`s, `_sum` and `_count`), cells sorted by label values.
  void render(std::string& out) const;

protected:
  /// The cell for `values` (one per label name), created on first use.
  void* cell(std::initializer_list<std::string_view> values);

  virtual std::shared_ptr<void> make_cell() const = 0;

  virtual void render_cell(std::string& out, const std::string& labels,
                           const void* cell) const = 0;

  std::string name_;

private:
  std::string help_;
  metric_type type_;
  std::vector<std::string> label_names_;
  mutable std::mutex mtx_;
  std::map<std::vector<std::string>, std::shared_ptr<void>> cells_;
};

/// A family of counters, gauges or histograms.
template <class T>
class family : public family_base {
public:
  using family_base::family_base;

  /// The cell for these label values (as many as the family has label
  /// names), created on first use. Takes a lock: resolve it once and keep
  /// the reference.
  T& with(std::initializer_list<std::string_view> values) {
    return *static_cast<T*>(cell(values));
  }

protected:
  std::shared_ptr<void> make_cell() const override {
    return std::make_shared<T>();
  }

  void render_cell(std::string& out, const std::string& labels,
                   const void* cell) const override;
};

template <>
class family<histogram> : public family_base {
public:
  family(std::string name, std::string help,
         std::vector<std::string> label_names, std::vector<double> bounds);

  histogram& with(std::initializer_list<std::string_view> values) {
    return *static_cast<histogram*>(cell(values));
  }

protected:
  std::shared_ptr<void> make_cell() const override;

  void render_cell(std::string& out, const std::string& labels,
                   const void* cell) const override;

private:
  std::vector<double> bounds_;
};

template <>
void family<counter>::render_cell(std::string&, const std::string&,
                                  const void*) const;

template <>
void family<gauge>::render_cell(std::string&, const std::string&,
                                const void*) const;

// -- registry -----------------------------------------------------------------

/// The metrics of one process (or one test). Thread-safe.
class registry {
public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// Registers a family. Names follow Prometheus' rules (counters end in
  /// `_total`; base units); a name or label name that is invalid or taken
  /// throws std::invalid_argument (a programming error).
  family<metrics::counter>&
  counter_family(std::string name, std::string help,
                 std::vector<std::string> label_names);
  family<metrics::gauge>& gauge_family(std::string name, std::string help,
                                       std::vector<std::string> label_names);
  family<metrics::histogram>&
  histogram_family(std::string name, std::string help,
                   std::vector<std::string> label_names,
                   std::vector<double> bounds);

  /// A metric without labels (a family with one cell).
  metrics::counter& counter(std::string name, std::string help);
  metrics::gauge& gauge(std::string name, std::string help);
  metrics::histogram& histogram(std::string name, std::string help,
                                std::vector<double> bounds);

  /// A metric without labels whose value `read` computes on each scrape
  /// (e.g. from /proc). `type` counter or gauge.
  void add_callback(std::string name, std::string help, metric_type type,
                    std::function<double()> read);

  /// Appends the exposition of every metric, in registration order.
  void render(std::string& out) const;

  /// The exposition as a string.
  std::string render() const;

private:
  template <class Family, class... Ts>
  Family& add(std::string name, Ts&&... xs);

  mutable std::mutex mtx_;
  std::vector<std::unique_ptr<family_base>> families_;
};

// -- the text format ----------------------------------------------------------

/// Whether `x` is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).
bool valid_metric_name(std::string_view x);

/// Whether `x` is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not `__...`).
bool valid_label_name(std::string_view x);

/// Appends `x` escaped for a label value: `\` `"` and newline.
void append_label_value(std::string& out, std::string_view x);

/// Appends `x` escaped for a HELP line: `\` and newline.
void append_help(std::string& out, std::string_view x);

/// Appends a sample value: integers without a fraction, `+Inf`, `-Inf`,
/// `NaN`, else the shortest round-trip decimal.
void append_value(std::string& out, double x);

} // namespace cartd::metrics
