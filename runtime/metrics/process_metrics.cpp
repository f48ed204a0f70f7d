#include "runtime/metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/metrics/registry.hpp"

namespace cartd::metrics {

namespace {

/// The fields of /proc/self/stat after the command name (which may hold
/// spaces and parentheses): [0] is field 3 (state).
std::vector<std::string> stat_fields() {
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  std::getline(in, line);
  std::vector<std::string> result;
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return result;
  std::istringstream rest{line.substr(close + 1)};
  for (std::string x; rest >> x;)
    result.push_back(std::move(x));
  return result;
}

/// Field `n` (1-based, as in proc(5)) of /proc/self/stat, 0 if missing.
double stat_field(const std::vector<std::string>& fields, size_t n) {
  if (n < 3 || n - 3 >= fields.size())
    return 0;
  return std::strtod(fields[n - 3].c_str(), nullptr);
}

double ticks_per_second() {
  auto x = sysconf(_SC_CLK_TCK);
  return x > 0 ? static_cast<double>(x) : 100.0;
}

/// Seconds since the epoch when the machine booted (btime in /proc/stat).
double boot_time() {
  std::ifstream in{"/proc/stat"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("btime ", 0) == 0)
      return std::strtod(line.c_str() + 6, nullptr);
  return 0;
}

double cpu_seconds() {
  auto fields = stat_fields();
  return (stat_field(fields, 14) + stat_field(fields, 15)) / ticks_per_second();
}

/// Field `n` (0-based) of /proc/self/statm, in bytes.
double statm_bytes(size_t n) {
  std::ifstream in{"/proc/self/statm"};
  double pages = 0;
  for (size_t i = 0; i <= n && in >> pages; ++i)
    ; // keeps the n-th
  return pages * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double open_fds() {
  auto dir = opendir("/proc/self/fd");
  if (dir == nullptr)
    return 0;
  double n = 0;
  while (auto entry = readdir(dir))
    if (entry->d_name[0] != '.')
      ++n;
  closedir(dir);
  return n - 1; // the descriptor opendir holds
}

double max_fds() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return 0;
  return static_cast<double>(limit.rlim_cur);
}

} // namespace

void add_process_metrics(registry& reg) {
  auto start = boot_time() + stat_field(stat_fields(), 22) / ticks_per_second();
  reg.add_callback("process_cpu_seconds_total",
                   "Total user and system CPU time spent in seconds.",
                   metric_type::counter, cpu_seconds);
  reg.add_callback("process_resident_memory_bytes",
                   "Resident memory size in bytes.", metric_type::gauge,
                   [] { return statm_bytes(1); });
  reg.add_callback("process_virtual_memory_bytes",
                   "Virtual memory size in bytes.", metric_type::gauge,
                   [] { return statm_bytes(0); });
  reg.add_callback("process_open_fds", "Number of open file descriptors.",
                   metric_type::gauge, open_fds);
  reg.add_callback("process_max_fds",
                   "Maximum number of open file descriptors.",
                   metric_type::gauge, max_fds);
  reg.add_callback("process_start_time_seconds",
                   "Start time of the process since unix epoch in seconds.",
                   metric_type::gauge, [start] { return start; });
}

} // namespace cartd::metrics
