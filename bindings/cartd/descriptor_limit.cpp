#include "bindings/cartd/descriptor_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace cartd {

namespace {

uint64_t from_rlim(rlim_t x) {
  return x == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max()
                            : static_cast<uint64_t>(x);
}

rlim_t to_rlim(uint64_t x) {
  return x == std::numeric_limits<uint64_t>::max() ? RLIM_INFINITY
                                                   : static_cast<rlim_t>(x);
}

std::string limit_text(uint64_t x) {
  return x == std::numeric_limits<uint64_t>::max() ? "unlimited"
                                                   : std::to_string(x);
}

} // namespace

descriptor_plan plan_descriptors(size_t max_connections, uint64_t soft,
                                 uint64_t hard) {
  descriptor_plan plan;
  auto need = static_cast<uint64_t>(max_connections) + reserved_descriptors;
  if (need < static_cast<uint64_t>(max_connections)) // overflow
    need = std::numeric_limits<uint64_t>::max();
  plan.soft_limit = std::max(soft, std::min(need, hard));
  if (plan.soft_limit >= need) {
    plan.max_connections = max_connections;
    return plan;
  }
  // Short even at the hard limit: keep the reserve, or half of what there
  // is when the limit is tiny.
  auto usable = plan.soft_limit > 2 * reserved_descriptors
                    ? plan.soft_limit - reserved_descriptors
                    : plan.soft_limit / 2;
  plan.max_connections = static_cast<size_t>(
      std::clamp<uint64_t>(usable, 1, static_cast<uint64_t>(max_connections)));
  return plan;
}

descriptor_sizing size_descriptors(size_t max_connections) {
  descriptor_sizing result;
  result.max_connections = max_connections;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    result.warning = std::string{"cannot read the descriptor limit: "} +
                     std::strerror(errno);
    return result;
  }
  result.soft_before = from_rlim(lim.rlim_cur);
  result.soft_after = result.soft_before;
  result.hard = from_rlim(lim.rlim_max);
  auto plan =
      plan_descriptors(max_connections, result.soft_before, result.hard);
  if (plan.soft_limit != result.soft_before) {
    rlimit raised = lim;
    raised.rlim_cur = to_rlim(plan.soft_limit);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      result.soft_after = plan.soft_limit;
    } else {
      // E.g. above fs.nr_open: plan for the limit that stays.
      auto err = errno;
      plan = plan_descriptors(max_connections, result.soft_before,
                              result.soft_before);
      result.warning = "cannot raise the descriptor limit (RLIMIT_NOFILE) "
                       "from " +
                       limit_text(result.soft_before) + " to " +
                       limit_text(raised.rlim_cur) + ": " + std::strerror(err);
    }
  }
  result.max_connections = plan.max_connections;
  if (plan.max_connections < max_connections)
    result.warning +=
        std::string{result.warning.empty() ? "" : "; "} +
        "http.max-connections=" + std::to_string(max_connections) +
        " needs about " +
        std::to_string(max_connections + reserved_descriptors) +
        " descriptors but the limit (RLIMIT_NOFILE) is " +
        limit_text(result.soft_after) + " (hard limit " +
        limit_text(result.hard) + "): serving at most " +
        std::to_string(plan.max_connections) +
        " HTTP connections; raise the limit (ulimit -n, "
        "LimitNOFILE=) to serve more";
  return result;
}

} // namespace cartd
