#include "bindings/cartd/logging.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "bindings/http/access_log.hpp"
#include "runtime/core/line_writer.hpp"
#include "runtime/core/log.hpp"

namespace cartd {

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
    int fd = ::open(cfg.log_access_file.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      return "cannot open log.access-file " + cfg.log_access_file + ": " +
             std::strerror(errno);
    out = line_writer::to_fd(fd, true);
  }
  // 4 MiB per buffer: a few seconds of lines at 100k requests/s.
  line_writer::settings settings;
  settings.capacity = 4 << 20;
  auto writer = std::make_shared<line_writer>(std::move(out), settings);
  cfg.access_log = std::make_shared<http::access_log>(
      format, cfg.cluster_node_name(), std::move(writer));
  return {};
}

} // namespace cartd
