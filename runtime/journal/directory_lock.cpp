#include "runtime/journal/directory_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

#include "runtime/journal/journal.hpp"

namespace cartd {

namespace {

caf::error lock_error(const std::string& dir, const std::string& path,
                      const std::string& why) {
  return make_error(journal_errc::unavailable,
                    "cannot lock journal directory " + dir + ": " + path + " " +
                        why);
}

/// The pid a holder wrote into the lock file, or an empty string.
std::string holder_of(int fd) {
  char buf[32] = {};
  auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return {};
  std::string text{buf, static_cast<size_t>(n)};
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text.find_first_not_of("0123456789") == std::string::npos ? text : "";
}

} // namespace

caf::expected<directory_lock> directory_lock::acquire(const std::string& dir) {
  auto path = (std::filesystem::path{dir} / file_name).string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return lock_error(dir, path,
                      std::string{"cannot be opened: "} + std::strerror(errno));
  directory_lock result{fd};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    if (err != EWOULDBLOCK)
      return lock_error(dir, path,
                        std::string{"cannot be locked: "} + std::strerror(err));
    auto holder = holder_of(fd);
    return make_error(
        journal_errc::unavailable,
        "journal directory " + dir + " is in use by " +
            (holder.empty() ? std::string{"another process"}
                            : "process " + holder) +
            " (it holds " + path +
            "): two nodes on one SQLite journal would serve stale carts; stop "
            "that one or give this one a directory of its own");
  }
  // Best effort: the pid only improves the message of the next one.
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // nothing to do: the lock is held either way
  }
  return result;
}

directory_lock::directory_lock(directory_lock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

directory_lock& directory_lock::operator=(directory_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

directory_lock::~directory_lock() {
  if (fd_ >= 0)
    ::close(fd_);
}

} // namespace cartd
