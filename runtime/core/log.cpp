#include "runtime/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace cartd {

spdlog::logger& log() {
  // A function-local static: created on first use, thread-safe, and alive
  // until exit so actors that log during shutdown never see a dead logger.
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto result = spdlog::stderr_color_mt("cartd");
    result->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    result->set_level(spdlog::level::info);
    result->flush_on(spdlog::level::info);
    return result;
  }();
  return *instance;
}

bool set_log_level(std::string_view name) {
  auto level = spdlog::level::from_str(std::string{name});
  if (level == spdlog::level::off && name != "off")
    return false;
  log().set_level(level);
  return true;
}

} // namespace cartd
