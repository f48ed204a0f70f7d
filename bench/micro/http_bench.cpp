// HTTP without sockets: request parsing (Boost.Beast through
// request_reader), the cart routes' JSON rendering (cart_reply), response
// rendering, and the whole route inside a broker with a real cart actor
// behind it (bytes in, bytes out, no socket).

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>

#include "bench/support/local_node.hpp"
#include "bindings/cart_http/cart_routes.hpp"
#include "bindings/http/render.hpp"
#include "bindings/http/request_reader.hpp"

namespace {

using namespace cartd;
using namespace cartd::bench;

const std::string get_bytes = "GET /carts/c1234 HTTP/1.1\r\n"
                              "Host: 127.0.0.1:8080\r\n"
                              "\r\n";

const std::string post_body = R"({"item":"item-3","quantity":1})";

const std::string post_bytes = "POST /carts/c1234/items HTTP/1.1\r\n"
                               "Host: 127.0.0.1:8080\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: " +
                               std::to_string(post_body.size()) + "\r\n\r\n" +
                               post_body;

cart_view make_view(size_t lines) {
  cart_view v;
  v.id = "c1234";
  for (size_t i = 0; i < lines; ++i)
    v.lines.push_back(
        cart_line{"item-" + std::to_string(i), static_cast<int64_t>(i + 1)});
  v.total_quantity = static_cast<int64_t>(lines * (lines + 1) / 2);
  v.version = 42;
  return v;
}

// One reader per connection, reused for every request on it, as the server
// does.
void parse(benchmark::State& state, const std::string& bytes) {
  http::server_config cfg;
  http::request_reader reader{cfg};
  for (auto _ : state) {
    reader.append(bytes);
    if (reader.next() != http::read_status::complete) {
      state.SkipWithError("request not complete");
      break;
    }
    auto req = reader.take();
    benchmark::DoNotOptimize(req);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * bytes.size());
}

void BM_http_parse_get(benchmark::State& state) {
  parse(state, get_bytes);
}
BENCHMARK(BM_http_parse_get);

void BM_http_parse_post(benchmark::State& state) {
  parse(state, post_bytes);
}
BENCHMARK(BM_http_parse_post);

// The cart as JSON (nlohmann::ordered_json) plus its ETag header.
void BM_http_cart_reply(benchmark::State& state) {
  auto view = make_view(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto res = cart_reply(view);
    benchmark::DoNotOptimize(res);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_http_cart_reply)->Arg(0)->Arg(1)->Arg(3)->Arg(100);

// Status line, headers and body into a reused buffer.
void BM_http_render(benchmark::State& state) {
  auto res = cart_reply(make_view(3));
  std::string out;
  for (auto _ : state) {
    out.clear();
    http::render(out, res, http::render_options{});
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_http_render);

// What the I/O thread does per GET besides routing and the actor hop:
// parse, render the cart (3 lines) as JSON, render the response.
void BM_http_parse_json_render(benchmark::State& state) {
  http::server_config cfg;
  http::request_reader reader{cfg};
  auto view = make_view(3);
  std::string out;
  for (auto _ : state) {
    reader.append(get_bytes);
    reader.next();
    auto req = reader.take();
    benchmark::DoNotOptimize(req);
    out.clear();
    http::render(out, cart_reply(view), http::render_options{});
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_http_parse_json_render);

// The whole route without sockets: a broker (on CAF's I/O thread, as the
// server is) parses the bytes, hands the request to cart_routes, the cart
// actor answers, the broker renders the response and hands the bytes back.
// Includes the extra hop from the benchmark's thread to the broker and back.
caf::behavior routes_broker(caf::io::broker* self,
                            std::shared_ptr<cart_routes> routes) {
  auto reader = std::make_shared<http::request_reader>(http::server_config{});
  return {
      [self, routes, reader](
          caf::get_atom, const std::string& bytes) -> caf::result<std::string> {
        reader->append(bytes);
        if (reader->next() != http::read_status::complete)
          return caf::make_error(caf::sec::invalid_argument, "incomplete");
        auto rp = self->make_response_promise();
        routes->handle(self, reader->take(), [rp](http::response res) mutable {
          std::string out;
          http::render(out, res, http::render_options{});
          rp.deliver(std::move(out));
        });
        return rp;
      },
  };
}

void route(benchmark::State& state, const std::string& bytes) {
  local_node_options opts;
  opts.middleman = true;
  opts.carts.idle_timeout = caf::timespan{0};
  local_node node{open_backend("memory"), opts};
  auto routes =
      std::make_shared<cart_routes>(node.directory(), cart_routes_settings{});
  auto broker = node.system().middleman().spawn_broker(routes_broker, routes);
  // Warm: the cart exists and has three lines, its handle is cached.
  for (auto item : {"apple", "pear", "plum"})
    node.call<cart_view>(node.resolve("c1234"), add_mutation(item, 2));
  node.call<std::string>(broker, caf::get_atom::value, get_bytes);
  for (auto _ : state) {
    auto out = node.call<std::string>(broker, caf::get_atom::value, bytes);
    if (!out || out->compare(0, 15, "HTTP/1.1 200 OK") != 0) {
      state.SkipWithError("route failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  caf::anon_send_exit(broker, caf::exit_reason::user_shutdown);
  state.SetItemsProcessed(state.iterations());
}

void BM_http_route_get_via_broker(benchmark::State& state) {
  route(state, get_bytes);
}
BENCHMARK(BM_http_route_get_via_broker)->UseRealTime();

void BM_http_route_add_via_broker(benchmark::State& state) {
  route(state, post_bytes);
}
BENCHMARK(BM_http_route_add_via_broker)->UseRealTime();

} // namespace
