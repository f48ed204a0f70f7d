#pragma once

// A table of routes: method + path pattern -> handler.
//
// A pattern is a path such as "/carts/{cart}/items/{item}": literal segments
// match themselves (still percent-encoded, compared byte for byte), a
// `{name}` segment matches any one segment, the empty one included. `find`
// tells which route a request takes, or, when its path matches routes of
// other methods only, which methods it allows (for 405 and its Allow
// header), or that no route has its path (404). Routes whose patterns
// overlap are tried in the order they were added.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/verb.hpp>

#include "bindings/cart_http/request_decoding.hpp"

namespace cartd {

template <class Handler>
class route_table {
public:
  using verb = boost::beast::http::verb;

  /// A `{name}` segment of a pattern.
  struct placeholder {
    /// Position of the segment in the path.
    size_t index;
    /// The name between the braces.
    std::string name;
  };

  struct route {
    verb method;
    std::string pattern;
    /// Segments of the pattern; placeholders as written ("{cart}").
    std::vector<std::string> segments;
    std::vector<placeholder> placeholders;
    Handler handler;

    bool matches(const path_segments& path) const noexcept {
      if (path.overflow || path.size != segments.size())
        return false;
      for (size_t i = 0; i < path.size; ++i)
        if (!is_placeholder(segments[i]) && segments[i] != path[i])
          return false;
      return true;
    }
  };

  /// What `find` found.
  struct result {
    /// The route taking the request; nullptr when none does.
    const route* hit = nullptr;
    /// When `hit` is nullptr: the methods the path allows, e.g. "GET, HEAD,
    /// DELETE" (GET implies HEAD), or empty when no route has this path.
    std::string allow;
  };

  /// Adds a route. `pattern` starts with '/'.
  void add(verb method, std::string_view pattern, Handler handler) {
    route r{method, std::string{pattern}, {}, {}, std::move(handler)};
    auto path = split_path(pattern);
    for (size_t i = 0; i < path.size; ++i) {
      std::string segment{path[i]};
      if (is_placeholder(segment))
        r.placeholders.push_back({i, segment.substr(1, segment.size() - 2)});
      r.segments.push_back(std::move(segment));
    }
    routes_.push_back(std::move(r));
  }

  /// Finds the route for `method` and `path`.
  result find(verb method, const path_segments& path) const {
    result res;
    for (auto& r : routes_) {
      if (r.method == method && r.matches(path)) {
        res.hit = &r;
        return res;
      }
    }
    for (auto& r : routes_) {
      if (!r.matches(path))
        continue;
      if (!res.allow.empty())
        res.allow += ", ";
      auto name = boost::beast::http::to_string(r.method);
      res.allow.append(name.data(), name.size());
      if (r.method == verb::get)
        res.allow += ", HEAD";
    }
    return res;
  }

  const std::vector<route>& routes() const noexcept { return routes_; }

private:
  static bool is_placeholder(std::string_view segment) noexcept {
    return segment.size() >= 2 && segment.front() == '{' &&
           segment.back() == '}';
  }

  std::vector<route> routes_;
};

} // namespace cartd
