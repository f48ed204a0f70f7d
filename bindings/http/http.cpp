#include "bindings/http/http.hpp"

#include <nlohmann/json.hpp>

namespace cartd::http {

std::string_view request::path() const noexcept {
  auto target = msg.target();
  std::string_view str{target.data(), target.size()};
  // Absolute form, "http://host:port/path?query" (RFC 9112 3.2.2: a server
  // must accept it): the path starts at the first '/' after the authority.
  if (!str.empty() && str.front() != '/') {
    if (auto scheme = str.find("://"); scheme != std::string_view::npos) {
      auto end = str.find_first_of("/?", scheme + 3);
      if (end == std::string_view::npos || str[end] == '?')
        return "/";
      str.remove_prefix(end);
    }
  }
  return str.substr(0, str.find('?'));
}

handler::~handler() {
  // nop
}

exchange_observer::~exchange_observer() {
  // nop
}

void exchange_observer::on_connections(size_t) {
  // nop
}

caf::message_handler handler::messages(caf::io::broker*) {
  return {};
}

void handler::on_down(caf::io::broker*, const caf::down_msg&) {
  // nop
}

std::string handler::failing_check() const {
  return ready() ? std::string{} : std::string{"service"};
}

response not_ready_response(std::string_view check) {
  nlohmann::json body;
  body["error"] = "not_ready";
  body["check"] = std::string{check};
  body["message"] =
      "the service is not ready (check failed: " + std::string{check} + ")";
  response result;
  result.status = 503;
  result.body =
      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return result;
}

response handler::timeout_response() const {
  return error_response(503, "timeout", "the request did not complete in time");
}

response error_response(unsigned status, std::string_view code,
                        std::string_view message) {
  nlohmann::json body;
  body["error"] = std::string{code};
  body["message"] = std::string{message};
  response result;
  result.status = status;
  // `replace` keeps dump() from throwing on invalid UTF-8 in the message.
  result.body =
      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return result;
}

} // namespace cartd::http
