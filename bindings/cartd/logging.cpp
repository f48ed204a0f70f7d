#include "bindings/cartd/logging.hpp"

#include <mutex>

#include <unistd.h>

#include "bindings/http/access_log.hpp"
#include "runtime/core/line_writer.hpp"
#include "runtime/core/log.hpp"
#include "runtime/core/log_file.hpp"

namespace cartd {

namespace {

// The access log's file (--log.access-file), for SIGHUP. One per process,
// like the node's logger.
std::mutex access_file_mtx;
std::shared_ptr<log_file> access_file;

} // namespace

std::string configure_logging(cartd_config& cfg) {
  set_log_level(cfg.log_level);
  log_format format = log_format::text;
  parse_log_format(cfg.log_format, format); // validate checked it
  set_log_format(format);
  set_log_node(cfg.cluster_node_name());
  if (!cfg.log_access) {
    if (!cfg.log_access_file.empty())
      log().warn("log.access-file is set but log.access is off: no access "
                 "log");
    return {};
  }
  // Like nginx's and Envoy's container images: the access log on stdout,
  // the node's own log on stderr; or a file of its own.
  line_writer::output out;
  if (cfg.log_access_file.empty()) {
    out = line_writer::to_fd(STDOUT_FILENO, false);
  } else {
    std::string problem;
    auto file = log_file::open(cfg.log_access_file, problem);
    if (!file)
      return "log.access-file: " + problem;
    out = file->output();
    std::lock_guard<std::mutex> guard{access_file_mtx};
    access_file = std::move(file);
  }
  // 4 MiB per buffer: seconds of records at 100k requests/s.
  line_writer::settings settings;
  settings.capacity = 4 << 20;
  cfg.access_log = std::make_shared<http::access_log>(
      format, cfg.cluster_node_name(), std::move(out), settings);
  return {};
}

std::string reopen_log_files() {
  std::shared_ptr<log_file> file;
  {
    std::lock_guard<std::mutex> guard{access_file_mtx};
    file = access_file;
  }
  if (!file)
    return "nothing to reopen (no log.access-file; the node's log is stderr)";
  if (auto problem = file->reopen(); !problem.empty())
    return "cannot reopen the access log (" + problem +
           "); it goes on writing to the file opened before";
  return "reopened the access log " + file->path();
}

} // namespace cartd
