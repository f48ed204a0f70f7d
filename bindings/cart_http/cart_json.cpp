#include "bindings/cart_http/cart_json.hpp"

#include <charconv>
#include <string>

#include <nlohmann/json.hpp>

namespace cartd {

namespace {

// Appends `str` as a JSON string. nlohmann does the escaping; only the
// cart's fixed shape is written here (building an nlohmann object tree for
// it cost ~20k instructions per cart, most of a mutation's rendering).
void append_json_string(std::string& out, const std::string& str) {
  out += nlohmann::json(str).dump(-1, ' ', false,
                                  nlohmann::json::error_handler_t::replace);
}

template <class T>
void append_number(std::string& out, T x) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), x);
  static_cast<void>(ec); // 24 bytes hold every 64-bit integer
  out.append(buf, end);
}

} // namespace

http::response cart_reply(const cart_view& view) {
  http::response result;
  auto& out = result.body;
  out.reserve(96 + view.lines.size() * 40);
  out += "{\"id\":";
  append_json_string(out, view.id);
  out += ",\"items\":[";
  for (size_t i = 0; i < view.lines.size(); ++i) {
    if (i > 0)
      out += ',';
    out += "{\"item\":";
    append_json_string(out, view.lines[i].item);
    out += ",\"quantity\":";
    append_number(out, view.lines[i].quantity);
    out += '}';
  }
  out += "],\"total_quantity\":";
  append_number(out, view.total_quantity);
  out += view.checked_out ? ",\"checked_out\":true" : ",\"checked_out\":false";
  out += ",\"version\":";
  append_number(out, view.version);
  out += '}';
  std::string etag = "\"";
  append_number(etag, view.version);
  etag += '"';
  result.headers.emplace_back("ETag", std::move(etag));
  return result;
}

} // namespace cartd
