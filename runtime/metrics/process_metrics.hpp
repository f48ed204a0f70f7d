#pragma once

// The standard process metrics of Prometheus' client libraries, read from
// /proc/self on each scrape (Linux).

namespace cartd::metrics {

class registry;

/// Registers process_cpu_seconds_total, process_resident_memory_bytes,
/// process_virtual_memory_bytes, process_open_fds, process_max_fds and
/// process_start_time_seconds.
void add_process_metrics(registry& reg);

} // namespace cartd::metrics
