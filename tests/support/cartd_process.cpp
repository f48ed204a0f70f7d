#include "tests/support/cartd_process.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cartd::test {

namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path, size_t offset = 0) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

std::string make_temp_dir() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "cartd-e2e-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed: " +
                             std::string{std::strerror(errno)});
  return tmpl;
}

bool sets_option(const std::vector<std::string>& args,
                 const std::string& name) {
  auto prefix = "--" + name + "=";
  return std::any_of(args.begin(), args.end(), [&](const std::string& x) {
    return x == "--" + name || x.rfind(prefix, 0) == 0;
  });
}

exit_status to_exit_status(int raw) {
  exit_status result;
  if (WIFEXITED(raw))
    result.code = WEXITSTATUS(raw);
  else if (WIFSIGNALED(raw))
    result.signal = WTERMSIG(raw);
  return result;
}

int open_log(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot create " + path + ": " +
                             std::strerror(errno));
  return fd;
}

/// The sanitizers' log_path (`path` in ASAN_OPTIONS=...:log_path=path:...),
/// empty when the reports go to stderr (any build but a sanitizer one).
std::string sanitizer_log_path() {
  auto* opts = std::getenv("ASAN_OPTIONS");
  if (opts == nullptr)
    return {};
  std::string_view text{opts};
  auto pos = text.find("log_path=");
  if (pos == std::string_view::npos)
    return {};
  text.remove_prefix(pos + std::string_view{"log_path="}.size());
  return std::string{text.substr(0, text.find(':'))};
}

/// Copies the sanitizer reports the child `pid` wrote (a sanitizer build
/// writes them to log_path.<executable>.<pid>, see
/// cmake/cartd_sanitize.cmake) to this process's stderr, so that the
/// test's output shows them next to its own. The run's report check fails
/// the run on them in any case.
void echo_sanitizer_reports(pid_t pid) {
  namespace fs = std::filesystem;
  auto log_path = sanitizer_log_path();
  if (log_path.empty())
    return;
  fs::path base{log_path};
  auto prefix = base.filename().string() + ".";
  auto suffix = "." + std::to_string(pid);
  std::error_code ec;
  for (auto& entry : fs::directory_iterator{base.parent_path(), ec}) {
    auto name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() < suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::cerr << "cartd_process: child " << pid << " wrote a sanitizer report ("
              << entry.path().string() << "):\n"
              << read_file(entry.path().string()) << std::endl;
  }
}

} // namespace

cartd_process::cartd_process(std::string binary,
                             std::vector<std::string> args) {
  start(binary, std::move(args));
  try {
    wait_for_port();
  } catch (...) {
    // The destructor does not run for a half-built object.
    kill(SIGKILL);
    wait_exit(10s);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

run_result cartd_process::run(std::string binary, std::vector<std::string> args,
                              std::chrono::milliseconds timeout) {
  cartd_process proc;
  proc.start(binary, std::move(args));
  run_result result;
  result.status = proc.wait_exit(timeout);
  result.out = proc.stdout_text();
  result.err = proc.stderr_text();
  return result;
}

cartd_process::~cartd_process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int raw = 0;
    while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
      // retry
    }
    echo_sanitizer_reports(pid_);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void cartd_process::start(const std::string& binary,
                          std::vector<std::string> args) {
  dir_ = make_temp_dir();
  if (!sets_option(args, "http.port"))
    args.emplace_back("--http.port=0");
  if (!sets_option(args, "http.port-file"))
    args.emplace_back("--http.port-file=" + dir_ + "/port");
  if (!sets_option(args, "storage.backend"))
    args.emplace_back("--storage.backend=memory");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  int out_fd = open_log(dir_ + "/stdout");
  int err_fd = open_log(dir_ + "/stderr");
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    auto err = errno;
    ::close(out_fd);
    ::close(err_fd);
    ::close(null_fd);
    throw std::runtime_error("fork failed: " + std::string{std::strerror(err)});
  }
  if (pid_ == 0) {
    // Never outlive the test executable, even if it is killed by a timeout.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    if (::chdir(dir_.c_str()) != 0)
      ::_exit(127);
    ::execv(binary.c_str(), argv.data());
    static constexpr char msg[] = "cartd_process: execv failed\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
}

void cartd_process::wait_for_port() {
  port_ = wait_port_file("port");
}

uint16_t cartd_process::wait_port_file(const std::string& name) {
  auto path = dir_ + "/" + name;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto text = read_file(path);
    while (!text.empty() &&
           std::isspace(static_cast<unsigned char>(text.back())))
      text.pop_back();
    if (!text.empty() &&
        std::all_of(text.begin(), text.end(),
                    [](char c) {
                      return std::isdigit(static_cast<unsigned char>(c));
                    }) &&
        text.size() <= 5) {
      auto value = std::stoul(text);
      if (value > 0 && value <= 65535)
        return static_cast<uint16_t>(value);
    }
    if (auto status = try_reap()) {
      std::ostringstream msg;
      msg << "cartd exited before listening (code " << status->code
          << ", signal " << status->signal << "); stderr:\n"
          << stderr_text();
      throw std::runtime_error(msg.str());
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("cartd wrote no port file " + name +
                               " within 10 s; stderr:\n" + stderr_text());
    std::this_thread::sleep_for(10ms);
  }
}

std::string cartd_process::stderr_text(size_t offset) const {
  return read_file(dir_ + "/stderr", offset);
}

std::string cartd_process::stdout_text() const {
  return read_file(dir_ + "/stdout");
}

size_t cartd_process::stderr_size() const {
  std::error_code ec;
  auto n = std::filesystem::file_size(dir_ + "/stderr", ec);
  return ec ? 0 : static_cast<size_t>(n);
}

void cartd_process::kill(int sig) {
  if (pid_ > 0 && !status_)
    ::kill(pid_, sig);
}

std::optional<exit_status>
cartd_process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto status = try_reap())
      return status;
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

bool cartd_process::running() {
  return pid_ > 0 && !try_reap();
}

std::optional<exit_status> cartd_process::try_reap() {
  if (status_ || pid_ <= 0)
    return status_;
  int raw = 0;
  auto res = ::waitpid(pid_, &raw, WNOHANG);
  if (res == pid_) {
    status_ = to_exit_status(raw);
    echo_sanitizer_reports(pid_);
  }
  return status_;
}

} // namespace cartd::test
