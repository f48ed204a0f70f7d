#include "bindings/http/request_ids.hpp"

#include <charconv>
#include <random>

namespace cartd::http {

bool valid_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128)
    return false;
  for (auto c : id)
    if (c < 0x21 || c > 0x7e)
      return false;
  return true;
}

request_id_source::request_id_source() {
  std::random_device rd;
  auto bits = static_cast<uint32_t>(rd());
  char buf[16];
  auto res = std::to_chars(buf, buf + sizeof(buf), bits, 16);
  prefix_.assign(8 - (res.ptr - buf), '0');
  prefix_.append(buf, res.ptr);
  prefix_ += '-';
}

void request_id_source::next(std::string& out) {
  out = prefix_;
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), ++count_, 16);
  out.append(buf, res.ptr);
}

} // namespace cartd::http
