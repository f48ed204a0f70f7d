#include "runtime/metrics/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace cartd::metrics {

// -- cells --------------------------------------------------------------------

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw std::invalid_argument{
          "histogram bounds must be finite and strictly ascending"};
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double x) noexcept {
  // The first bound >= x; bounds are few (about a dozen), so a linear scan
  // beats a binary search.
  size_t i = 0;
  while (i < bounds_.size() && x > bounds_[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  // No fetch_add for double in C++17; uncontended (one thread per
  // instrument in practice), this loop runs once.
  auto sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + x, std::memory_order_relaxed))
    ; // sum reloaded
}

std::vector<uint64_t> histogram::cumulative_counts() const {
  std::vector<uint64_t> result(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    result[i] = total;
  }
  return result;
}

std::vector<double> exponential_buckets(double start, double factor,
                                        size_t count) {
  std::vector<double> result;
  result.reserve(count);
  for (double x = start; result.size() < count; x *= factor)
    result.push_back(x);
  return result;
}

std::vector<double> default_seconds_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// -- the text format ----------------------------------------------------------

namespace {

bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
    return true;
  if (c == ':')
    return colon;
  return !first && c >= '0' && c <= '9';
}

const char* type_name(metric_type x) {
  switch (x) {
  case metric_type::counter:
    return "counter";
  case metric_type::gauge:
    return "gauge";
  default:
    return "histogram";
  }
}

/// `{inner}` or `{inner,extra}`, nothing when both are empty.
void append_labels(std::string& out, const std::string& inner,
                   std::string_view extra = {}) {
  if (inner.empty() && extra.empty())
    return;
  out += '{';
  out += inner;
  if (!inner.empty() && !extra.empty())
    out += ',';
  out += extra;
  out += '}';
}

void append_uint(std::string& out, uint64_t x) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  out.append(buf, res.ptr);
}

void append_int(std::string& out, int64_t x) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  out.append(buf, res.ptr);
}

} // namespace

bool valid_metric_name(std::string_view x) {
  if (x.empty())
    return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!name_char(x[i], i == 0, true))
      return false;
  return true;
}

bool valid_label_name(std::string_view x) {
  if (x.empty() || x.substr(0, 2) == "__")
    return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!name_char(x[i], i == 0, false))
      return false;
  return true;
}

void append_label_value(std::string& out, std::string_view x) {
  for (auto c : x) {
    switch (c) {
    case '\\':
      out += "\\\\";
      break;
    case '"':
      out += "\\\"";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      out += c;
    }
  }
}

void append_help(std::string& out, std::string_view x) {
  for (auto c : x) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void append_value(std::string& out, double x) {
  if (std::isnan(x)) {
    out += "NaN";
  } else if (std::isinf(x)) {
    out += x > 0 ? "+Inf" : "-Inf";
  } else if (x == std::trunc(x) && std::fabs(x) < 9007199254740992.0) {
    append_int(out, static_cast<int64_t>(x));
  } else {
    // Like Go's FormatFloat(x, 'g', -1, 64), which Prometheus' own clients
    // use (also for `le`): plain decimals from 1e-4 on, the shortest digits
    // that read back as `x`.
    char buf[64];
    auto ax = std::fabs(x);
    auto fmt = ax >= 1e-4 && ax < 1e21 ? std::chars_format::fixed
                                       : std::chars_format::general;
    auto res = std::to_chars(buf, buf + sizeof(buf), x, fmt);
    out.append(buf, res.ptr);
  }
}

// -- families -----------------------------------------------------------------

family_base::family_base(std::string name, std::string help, metric_type type,
                         std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type),
      label_names_(std::move(label_names)) {
  if (!valid_metric_name(name_))
    throw std::invalid_argument{"invalid metric name: " + name_};
  for (size_t i = 0; i < label_names_.size(); ++i) {
    auto& label = label_names_[i];
    if (!valid_label_name(label) ||
        (type_ == metric_type::histogram && label == "le") ||
        std::count(label_names_.begin(), label_names_.begin() + i, label))
      throw std::invalid_argument{"invalid label name " + label + " of " +
                                  name_};
  }
}

family_base::~family_base() {
  // nop
}

void* family_base::cell(std::initializer_list<std::string_view> values) {
  if (values.size() != label_names_.size())
    throw std::invalid_argument{"wrong number of label values for " + name_};
  std::vector<std::string> key{values.begin(), values.end()};
  std::lock_guard<std::mutex> guard{mtx_};
  auto& slot = cells_[std::move(key)];
  if (slot == nullptr)
    slot = make_cell();
  return slot.get();
}

void family_base::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_help(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  std::lock_guard<std::mutex> guard{mtx_};
  std::string labels;
  for (auto& [values, cell] : cells_) {
    labels.clear();
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0)
        labels += ',';
      labels += label_names_[i];
      labels += "=\"";
      append_label_value(labels, values[i]);
      labels += '"';
    }
    render_cell(out, labels, cell.get());
  }
}

template <>
void family<counter>::render_cell(std::string& out, const std::string& labels,
                                  const void* cell) const {
  out += name_;
  append_labels(out, labels);
  out += ' ';
  append_uint(out, static_cast<const counter*>(cell)->value());
  out += '\n';
}

template <>
void family<gauge>::render_cell(std::string& out, const std::string& labels,
                                const void* cell) const {
  out += name_;
  append_labels(out, labels);
  out += ' ';
  append_int(out, static_cast<const gauge*>(cell)->value());
  out += '\n';
}

family<histogram>::family(std::string name, std::string help,
                          std::vector<std::string> label_names,
                          std::vector<double> bounds)
    : family_base(std::move(name), std::move(help), metric_type::histogram,
                  std::move(label_names)),
      bounds_(std::move(bounds)) {
  histogram check{bounds_}; // throws on bad bounds at registration
}

std::shared_ptr<void> family<histogram>::make_cell() const {
  return std::make_shared<histogram>(bounds_);
}

void family<histogram>::render_cell(std::string& out, const std::string& labels,
                                    const void* cell) const {
  auto& h = *static_cast<const histogram*>(cell);
  auto counts = h.cumulative_counts();
  std::string le;
  for (size_t i = 0; i < counts.size(); ++i) {
    le = "le=\"";
    if (i < bounds_.size())
      append_value(le, bounds_[i]);
    else
      le += "+Inf";
    le += '"';
    out += name_;
    out += "_bucket";
    append_labels(out, labels, le);
    out += ' ';
    append_uint(out, counts[i]);
    out += '\n';
  }
  out += name_;
  out += "_sum";
  append_labels(out, labels);
  out += ' ';
  append_value(out, h.sum());
  out += '\n';
  // The +Inf bucket, not a separate count: both read from the same
  // snapshot, so they agree even while observations come in.
  out += name_;
  out += "_count";
  append_labels(out, labels);
  out += ' ';
  append_uint(out, counts.back());
  out += '\n';
}

namespace {

/// A metric without labels whose value a function computes on a scrape.
class callback_family : public family_base {
public:
  callback_family(std::string name, std::string help, metric_type type,
                  std::function<double()> read)
      : family_base(std::move(name), std::move(help), type, {}),
        read_(std::move(read)) {
    cell({});
  }

protected:
  std::shared_ptr<void> make_cell() const override {
    return std::make_shared<int>(0);
  }

  void render_cell(std::string& out, const std::string& labels,
                   const void*) const override {
    out += name_;
    append_labels(out, labels);
    out += ' ';
    append_value(out, read_());
    out += '\n';
  }

private:
  std::function<double()> read_;
};

} // namespace

// -- registry -----------------------------------------------------------------

template <class Family, class... Ts>
Family& registry::add(std::string name, Ts&&... xs) {
  auto ptr = std::make_unique<Family>(name, std::forward<Ts>(xs)...);
  auto& result = *ptr;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& f : families_)
    if (f->name() == name)
      throw std::invalid_argument{"metric registered twice: " + name};
  families_.push_back(std::move(ptr));
  return result;
}

family<counter>&
registry::counter_family(std::string name, std::string help,
                         std::vector<std::string> label_names) {
  return add<family<metrics::counter>>(std::move(name), std::move(help),
                                       metric_type::counter,
                                       std::move(label_names));
}

family<gauge>& registry::gauge_family(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  return add<family<metrics::gauge>>(std::move(name), std::move(help),
                                     metric_type::gauge,
                                     std::move(label_names));
}

family<histogram>&
registry::histogram_family(std::string name, std::string help,
                           std::vector<std::string> label_names,
                           std::vector<double> bounds) {
  return add<family<metrics::histogram>>(std::move(name), std::move(help),
                                         std::move(label_names),
                                         std::move(bounds));
}

counter& registry::counter(std::string name, std::string help) {
  return counter_family(std::move(name), std::move(help), {}).with({});
}

gauge& registry::gauge(std::string name, std::string help) {
  return gauge_family(std::move(name), std::move(help), {}).with({});
}

histogram& registry::histogram(std::string name, std::string help,
                               std::vector<double> bounds) {
  return histogram_family(std::move(name), std::move(help), {},
                          std::move(bounds))
      .with({});
}

void registry::add_callback(std::string name, std::string help,
                            metric_type type, std::function<double()> read) {
  if (type == metric_type::histogram)
    throw std::invalid_argument{"a callback metric is a counter or a gauge"};
  add<callback_family>(std::move(name), std::move(help), type, std::move(read));
}

void registry::render(std::string& out) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& f : families_)
    f->render(out);
}

std::string registry::render() const {
  std::string result;
  render(result);
  return result;
}

} // namespace cartd::metrics
