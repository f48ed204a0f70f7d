#pragma once

// X-Request-Id: which ids the server takes from a request, and the ids it
// makes for requests that bring none.

#include <cstdint>
#include <string>
#include <string_view>

namespace cartd::http {

/// Whether `id` may be used as a request id: 1..128 visible ASCII
/// characters (0x21..0x7e), so it is safe in a header and a log line.
bool valid_request_id(std::string_view id) noexcept;

/// Makes request ids unique across servers and restarts: a random prefix
/// drawn once, then a counter ("5f0c9a1e-1", "5f0c9a1e-2", ...).
class request_id_source {
public:
  request_id_source();

  /// Writes the next id into `out` (replacing what it held).
  void next(std::string& out);

private:
  std::string prefix_;
  uint64_t count_ = 0;
};

} // namespace cartd::http
