#include "runtime/core/line_writer.hpp"

#include <cerrno>
#include <memory>

#include <unistd.h>

namespace cartd {

line_writer::line_writer(output out, settings cfg)
    : out_(std::move(out)), cfg_(cfg) {
  front_.reserve(cfg_.capacity);
  thread_ = std::thread{[this] { run(); }};
}

line_writer::~line_writer() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool line_writer::write(std::string_view line) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (front_.size() + line.size() > cfg_.capacity) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    auto half = cfg_.capacity / 2;
    wake = front_.size() < half && front_.size() + line.size() >= half;
    front_.append(line);
  }
  // Only when crossing half: one wake-up per half buffer, not per line.
  if (wake)
    wake_.notify_one();
  return true;
}

void line_writer::run() {
  std::string back;
  back.reserve(cfg_.capacity);
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    wake_.wait_for(guard, cfg_.flush_every, [this] {
      return stopping_ || front_.size() >= cfg_.capacity / 2;
    });
    bool last = stopping_;
    front_.swap(back);
    guard.unlock();
    if (!back.empty())
      out_(back);
    back.clear();
    if (last)
      return;
    guard.lock();
  }
}

line_writer::output line_writer::to_fd(int fd, bool owned) {
  struct closer {
    closer(int x, bool own) : fd(x), owned(own) {}
    closer(const closer&) = delete;
    closer& operator=(const closer&) = delete;
    int fd;
    bool owned;
    ~closer() {
      if (owned)
        ::close(fd);
    }
  };
  auto target = std::make_shared<closer>(fd, owned);
  return [target](std::string_view run) {
    while (!run.empty()) {
      auto n = ::write(target->fd, run.data(), run.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      run.remove_prefix(static_cast<size_t>(n));
    }
  };
}

} // namespace cartd
