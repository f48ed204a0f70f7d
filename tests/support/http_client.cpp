#include "tests/support/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace cartd::test {

namespace {

namespace http = boost::beast::http;

using std::chrono::milliseconds;
using std::chrono::steady_clock;

bool iequals(std::string_view x, std::string_view y) {
  return x.size() == y.size() &&
         std::equal(x.begin(), x.end(), y.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

bool has_field(const header_list& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& kvp) { return iequals(kvp.first, name); });
}

std::runtime_error socket_error(const char* what) {
  return std::runtime_error(std::string{what} + ": " + std::strerror(errno));
}

timeval to_timeval(milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return tv;
}

} // namespace

std::string request_text(std::string_view method, std::string_view target,
                         std::string_view body, const header_list& headers) {
  std::string result;
  result.reserve(128 + body.size());
  result.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!has_field(headers, "Host"))
    result += "Host: 127.0.0.1\r\n";
  for (auto& [name, value] : headers)
    result.append(name).append(": ").append(value).append("\r\n");
  // Like common clients, send a length with every POST and PUT, even empty.
  auto wants_length = !body.empty() || method == "POST" || method == "PUT";
  if (!body.empty() && !has_field(headers, "Content-Type"))
    result += "Content-Type: application/json\r\n";
  if (wants_length && !has_field(headers, "Content-Length") &&
      !has_field(headers, "Transfer-Encoding"))
    result += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  result += "\r\n";
  result.append(body);
  return result;
}

std::string percent_encode(std::string_view str) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string result;
  for (char c : str) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '.' || c == '_' || c == '~' || c == '-') {
      result += c;
    } else {
      result += '%';
      result += hex[u >> 4];
      result += hex[u & 0x0F];
    }
  }
  return result;
}

http_connection::http_connection(uint16_t port, milliseconds timeout)
    : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw socket_error("socket");
  auto tv = to_timeval(timeout);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto err = socket_error("connect");
    ::close(fd_);
    fd_ = -1;
    throw err;
  }
}

http_connection::http_connection(http_connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)), eof_(other.eof_) {}

http_connection& http_connection::operator=(http_connection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
    eof_ = other.eof_;
  }
  return *this;
}

http_connection::~http_connection() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::optional<http_connection>
http_connection::try_connect(uint16_t port, milliseconds timeout) {
  try {
    return http_connection{port, timeout};
  } catch (const std::runtime_error&) {
    return std::nullopt;
  }
}

bool http_connection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EPIPE || errno == ECONNRESET)
        return false;
      throw socket_error("send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool http_connection::send_in_pieces(std::string_view bytes, size_t piece_size,
                                     milliseconds pause) {
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  while (!bytes.empty()) {
    auto n = std::min(piece_size, bytes.size());
    if (!send(bytes.substr(0, n)))
      return false;
    bytes.remove_prefix(n);
    if (!bytes.empty() && pause.count() > 0)
      std::this_thread::sleep_for(pause);
  }
  return true;
}

void http_connection::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

http_connection::fill_result http_connection::fill() {
  if (eof_)
    return fill_result::closed;
  char buf[64 * 1024];
  for (;;) {
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      return fill_result::data;
    }
    if (n == 0) {
      eof_ = true;
      return fill_result::closed;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return fill_result::timeout;
    if (errno == ECONNRESET) {
      eof_ = true;
      return fill_result::closed;
    }
    throw socket_error("recv");
  }
}

std::optional<http_response> http_connection::read_response(bool head) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.skip(head);
  parser.body_limit(64 * 1024 * 1024);
  for (;;) {
    if (!buffer_.empty()) {
      boost::system::error_code ec;
      auto n =
          parser.put(boost::asio::buffer(buffer_.data(), buffer_.size()), ec);
      buffer_.erase(0, n);
      if (ec && ec != http::error::need_more)
        throw std::runtime_error("unparseable response: " + ec.message());
      if (!ec && parser.is_done())
        return parser.release();
      if (!ec && n > 0)
        continue;
    }
    switch (fill()) {
    case fill_result::data:
      break;
    case fill_result::timeout:
      throw std::runtime_error("no complete response within " +
                               std::to_string(timeout_.count()) + " ms");
    case fill_result::closed: {
      if (!parser.got_some() && buffer_.empty())
        return std::nullopt;
      // A response delimited by the close itself is complete here.
      boost::system::error_code ec;
      parser.put_eof(ec);
      if (!ec && parser.is_done())
        return parser.release();
      throw std::runtime_error("connection closed mid-response");
    }
    }
  }
}

bool http_connection::wait_closed(milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  while (!eof_) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline -
                                                         steady_clock::now());
    if (left.count() <= 0)
      return false;
    pollfd pfd{fd_, POLLIN, 0};
    auto res = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (res < 0 && errno != EINTR)
      throw socket_error("poll");
    if (res > 0)
      fill();
  }
  return true;
}

http_response http_connection::exchange(std::string_view method,
                                        std::string_view target,
                                        std::string_view body,
                                        const header_list& headers) {
  if (!send(request_text(method, target, body, headers)))
    throw std::runtime_error("connection closed while sending " +
                             std::string{method} + " " + std::string{target});
  for (;;) {
    auto res = read_response(method == "HEAD");
    if (!res)
      throw std::runtime_error("connection closed instead of answering " +
                               std::string{method} + " " + std::string{target});
    if (res->result_int() / 100 != 1)
      return std::move(*res);
  }
}

http_response http_call(uint16_t port, std::string_view method,
                        std::string_view target, std::string_view body,
                        const header_list& headers) {
  http_connection conn{port};
  return conn.exchange(method, target, body, headers);
}

} // namespace cartd::test
