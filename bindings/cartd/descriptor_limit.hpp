#pragma once

// Sizing --http.max-connections against the process's descriptor limit
// (RLIMIT_NOFILE) at start: every HTTP connection holds a descriptor, and
// a node that runs out of them cannot accept (the HTTP server then pauses
// its accepts, see bindings/http/paced_acceptor.hpp) nor open a journal
// file or a connection to its peers.

#include <cstddef>
#include <cstdint>
#include <string>

namespace cartd {

/// Descriptors a node needs besides its HTTP connections (standard
/// streams, CAF's event loop, the listening sockets, the journal's files
/// or database connections, its peers in a cluster, with room to spare).
constexpr uint64_t reserved_descriptors = 64;

/// What to do about the descriptor limit.
struct descriptor_plan {
  /// The soft limit to set (unchanged when it already suffices).
  uint64_t soft_limit = 0;
  /// The HTTP connections the node can serve with it: the configured
  /// number, or fewer when even the hard limit is too low.
  size_t max_connections = 0;
};

/// Plans for `max_connections` HTTP connections under the limits `soft` and
/// `hard` (RLIM_INFINITY as UINT64_MAX): raises the soft limit as far as
/// needed and the hard limit allows, and serves fewer connections (at
/// least 1) if that is still short.
descriptor_plan plan_descriptors(size_t max_connections, uint64_t soft,
                                 uint64_t hard);

/// The outcome of `size_descriptors`.
struct descriptor_sizing {
  /// The soft limit before and after, and the hard limit.
  uint64_t soft_before = 0;
  uint64_t soft_after = 0;
  uint64_t hard = 0;
  /// The HTTP connections to serve (possibly fewer than asked for).
  size_t max_connections = 0;
  /// A warning to log when the node serves fewer connections than asked
  /// for or could not raise its limit; empty when all is well.
  std::string warning;
};

/// Applies `plan_descriptors` to this process (setrlimit).
descriptor_sizing size_descriptors(size_t max_connections);

} // namespace cartd
