#include "runtime/core/log_file.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace cartd {

namespace {

int open_for_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

} // namespace

std::shared_ptr<log_file> log_file::open(std::string path,
                                         std::string& problem) {
  int fd = open_for_append(path);
  if (fd < 0) {
    problem = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::shared_ptr<log_file>{new log_file(std::move(path), fd)};
}

log_file::~log_file() {
  ::close(fd_);
}

std::string log_file::reopen() {
  int fd = open_for_append(path_);
  if (fd < 0)
    return "cannot open " + path_ + ": " + std::strerror(errno);
  int old = -1;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    old = fd_;
    fd_ = fd;
  }
  ::close(old);
  return {};
}

void log_file::write(std::string_view run) {
  std::lock_guard<std::mutex> guard{mtx_};
  while (!run.empty()) {
    auto n = ::write(fd_, run.data(), run.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    run.remove_prefix(static_cast<size_t>(n));
  }
}

line_writer::output log_file::output() {
  return
      [self = shared_from_this()](std::string_view run) { self->write(run); };
}

} // namespace cartd
