#include "bindings/http/conditional.hpp"

namespace cartd::http {

namespace {

bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

/// etagc (RFC 9110 §8.8.3): any visible character but '"', and obs-text.
bool is_etagc(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x7e) || u >= 0x80;
}

/// Reads an entity tag at the front of `in` and returns its opaque tag with
/// the quotes (weak comparison ignores `W/`); empty when `in` does not start
/// with one. `in` is advanced past it.
std::string_view take_entity_tag(std::string_view& in) noexcept {
  auto rest = in;
  if (rest.substr(0, 2) == "W/")
    rest.remove_prefix(2);
  if (rest.empty() || rest.front() != '"')
    return {};
  size_t end = 1;
  while (end < rest.size() && is_etagc(rest[end]))
    ++end;
  if (end == rest.size() || rest[end] != '"')
    return {};
  auto tag = rest.substr(0, end + 1);
  in = rest.substr(end + 1);
  return tag;
}

void skip_ows(std::string_view& in) noexcept {
  while (!in.empty() && is_ows(in.front()))
    in.remove_prefix(1);
}

} // namespace

bool if_none_match_matches(std::string_view field,
                           std::string_view etag) noexcept {
  auto own = take_entity_tag(etag);
  if (own.empty() || !etag.empty())
    return false;
  skip_ows(field);
  while (!field.empty() && is_ows(field.back()))
    field.remove_suffix(1);
  if (field == "*")
    return true;
  // #entity-tag: elements separated by commas, empty elements allowed.
  bool matched = false;
  bool any = false;
  while (!field.empty()) {
    skip_ows(field);
    if (!field.empty() && field.front() == ',') {
      field.remove_prefix(1);
      continue;
    }
    auto tag = take_entity_tag(field);
    if (tag.empty())
      return false; // malformed: ignore the whole field
    any = true;
    matched = matched || tag == own;
    skip_ows(field);
    if (!field.empty() && field.front() != ',')
      return false;
  }
  return any && matched;
}

} // namespace cartd::http
