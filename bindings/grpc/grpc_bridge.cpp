#include "bindings/grpc/grpc_bridge.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/duration.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>

namespace cartd {

grpc_call_sink::~grpc_call_sink() = default;

std::shared_ptr<grpc_call_sink>
answer_if_dropped(std::shared_ptr<grpc_call_sink> sink) {
  auto* raw = sink.get();
  // The deleter runs when the last copy goes and owns `sink` until then.
  return {raw, [owner = std::move(sink)](grpc_call_sink* x) {
            if (!x->closed())
              x->on_error(cart_errc::unavailable,
                          "the call was dropped: the gRPC bridge restarted");
          }};
}

namespace {

using clock_type = std::chrono::steady_clock;
using call_ptr = std::shared_ptr<const grpc_call>;
using sink_ptr = std::shared_ptr<grpc_call_sink>;

/// Attempts after the cart ended before it handled the request (as HTTP).
constexpr int max_attempts = 3;

/// The cart's actor is gone: resolve again and retry.
bool receiver_gone(const caf::error& err) {
  return err == caf::sec::request_receiver_down ||
         err == caf::exit_reason::remote_link_unreachable;
}

/// One stream of a watched cart.
struct watcher {
  sink_ptr sink;
  /// Whether it got a view, and the version of the last one.
  bool primed = false;
  uint64_t version = 0;
};

/// A watched cart and its streams.
struct watch_entry {
  /// The watched incarnation's actor (null while the watch starts).
  cart_actor cart;
  uint64_t incarnation = 0;
  bool starting = false;
  /// The last view, for streams that join a running watch.
  std::optional<cart_view> last;
  std::vector<watcher> watchers;
};

struct bridge_state {
  cart_directory_actor directory;
  cart_router_actor router;
  grpc_bridge_settings settings;
  /// Unary calls in flight, answered `unavailable` should the bridge stop
  /// before their cart answers (their gRPC calls would otherwise wait for
  /// the client's deadline).
  std::map<const grpc_call_sink*, sink_ptr> in_flight;
  std::map<std::string, watch_entry> watches;

  ~bridge_state() {
    for (auto& [ptr, sink] : in_flight)
      sink->on_error(cart_errc::unavailable, "the node is stopping");
    for (auto& [id, entry] : watches)
      for (auto& w : entry.watchers)
        w.sink->on_error(cart_errc::unavailable, "the node is stopping");
  }

  static inline const char* name = "grpc-bridge";
};

using bridge_actor = caf::stateful_actor<bridge_state>;

// -- unary calls --------------------------------------------------------------

/// How long a request of `call` may wait: until its deadline, and no longer
/// than the request timeout when `capped` (the router, another node).
/// std::nullopt: the deadline passed.
std::optional<caf::duration> time_left(bridge_actor* self,
                                       const grpc_call& call, bool capped) {
  auto cap = self->state.settings.request_timeout;
  if (call.deadline == clock_type::time_point::max())
    return capped ? caf::duration{cap} : caf::duration{caf::infinite};
  auto left = std::chrono::duration_cast<caf::timespan>(call.deadline -
                                                        clock_type::now());
  if (left.count() <= 0)
    return std::nullopt;
  if (capped && cap < left)
    left = cap;
  return caf::duration{left};
}

void answer(bridge_actor* self, const call_ptr& call, const cart_view& view) {
  self->state.in_flight.erase(call->sink.get());
  call->sink->on_view(view);
}

void fail(bridge_actor* self, const call_ptr& call, cart_errc code,
          const std::string& detail = {}) {
  self->state.in_flight.erase(call->sink.get());
  call->sink->on_error(code, detail);
}

void ask(bridge_actor* self, call_ptr call, int attempt);

void send_to_cart(bridge_actor* self, call_ptr call, const cart_actor& cart,
                  int attempt) {
  auto local = cart.node() == self->node();
  auto timeout = time_left(self, *call, !local);
  if (!timeout)
    return fail(self, call, cart_errc::timeout);
  auto on_view = [self, call](cart_view& view) { answer(self, call, view); };
  auto on_error = [self, call, attempt](caf::error& err) {
    if (receiver_gone(err) && attempt + 1 < max_attempts)
      return ask(self, call, attempt + 1);
    fail(self, call, to_cart_errc(err));
  };
  if (call->what == grpc_call::kind::get)
    self->request(cart, *timeout, caf::get_atom::value, call->request_id)
        .then(std::move(on_view), std::move(on_error));
  else
    self->request(cart, *timeout, call->mutation)
        .then(std::move(on_view), std::move(on_error));
}

void ask(bridge_actor* self, call_ptr call, int attempt) {
  auto& st = self->state;
  auto timeout = time_left(self, *call, st.router != nullptr);
  if (!timeout)
    return fail(self, call, cart_errc::timeout);
  auto on_cart = [self, call, attempt](cart_actor& cart) {
    send_to_cart(self, call, cart, attempt);
  };
  auto on_error = [self, call](caf::error& err) {
    fail(self, call, to_cart_errc(err));
  };
  if (st.router)
    self->request(st.router, *timeout, resolve_atom::value, call->cart,
                  call->request_id)
        .then(std::move(on_cart), std::move(on_error));
  else
    self->request(st.directory, *timeout, resolve_atom::value, call->cart)
        .then(std::move(on_cart), std::move(on_error));
}

// -- watches ------------------------------------------------------------------

/// Sends `view` to every open stream of `entry` that has not seen its
/// version; drops the closed ones.
void deliver(watch_entry& entry, const cart_view& view) {
  entry.last = view;
  auto& ws = entry.watchers;
  ws.erase(std::remove_if(ws.begin(), ws.end(),
                          [](const watcher& w) { return w.sink->closed(); }),
           ws.end());
  for (auto& w : ws) {
    if (w.primed && w.version == view.version)
      continue;
    w.primed = true;
    w.version = view.version;
    w.sink->on_view(view);
  }
}

/// Ends every stream of the cart `id` with `code`.
void fail_watch(bridge_actor* self, const std::string& id, cart_errc code) {
  auto i = self->state.watches.find(id);
  if (i == self->state.watches.end())
    return;
  auto watchers = std::move(i->second.watchers);
  self->state.watches.erase(i);
  for (auto& w : watchers)
    w.sink->on_error(code, {});
}

void start_watch(bridge_actor* self, const std::string& id, int attempt,
                 const std::string& request_id) {
  auto& st = self->state;
  auto i = st.watches.find(id);
  if (i == st.watches.end())
    return;
  i->second.starting = true;
  i->second.cart = nullptr;
  auto timeout = caf::duration{st.settings.request_timeout};
  auto on_error = [self, id, attempt, request_id](caf::error& err) {
    if (receiver_gone(err) && attempt + 1 < max_attempts)
      return start_watch(self, id, attempt + 1, request_id);
    fail_watch(self, id, to_cart_errc(err));
  };
  auto on_cart = [self, id, on_error, request_id](cart_actor& cart) {
    auto local = cart.node() == self->node();
    auto timeout = local ? caf::duration{caf::infinite}
                         : caf::duration{self->state.settings.request_timeout};
    self->request(cart, timeout, watch_atom::value,
                  caf::actor_cast<cart_watcher_actor>(self), request_id)
        .then(
            [self, id, cart, local](cart_view& view) {
              auto i = self->state.watches.find(id);
              if (i == self->state.watches.end())
                return; // every stream ended meanwhile
              auto& entry = i->second;
              entry.starting = false;
              entry.cart = cart;
              entry.incarnation = view.incarnation;
              // A remote cart's node may go away without a gone_atom.
              if (!local)
                self->monitor(cart);
              deliver(entry, view);
              if (entry.watchers.empty())
                self->state.watches.erase(i);
            },
            on_error);
  };
  if (st.router)
    self->request(st.router, timeout, resolve_atom::value, id, request_id)
        .then(std::move(on_cart), on_error);
  else
    self->request(st.directory, timeout, resolve_atom::value, id)
        .then(std::move(on_cart), on_error);
}

void add_watch(bridge_actor* self, const grpc_call& call) {
  auto& entry = self->state.watches[call.cart];
  entry.watchers.push_back(watcher{call.sink});
  if (entry.cart && entry.last) {
    auto& w = entry.watchers.back();
    w.primed = true;
    w.version = entry.last->version;
    w.sink->on_view(*entry.last);
  } else if (!entry.starting) {
    start_watch(self, call.cart, 0, call.request_id);
  }
}

void remove_watch(bridge_actor* self, const grpc_call& call) {
  auto i = self->state.watches.find(call.cart);
  if (i == self->state.watches.end())
    return;
  auto& ws = i->second.watchers;
  ws.erase(
      std::remove_if(ws.begin(), ws.end(),
                     [&call](const watcher& w) { return w.sink == call.sink; }),
      ws.end());
  if (ws.empty() && !i->second.starting)
    self->state.watches.erase(i);
}

/// The watched incarnation of `id` ended: watch the cart again, if a stream
/// still wants it.
void rewatch(bridge_actor* self,
             std::map<std::string, watch_entry>::iterator i) {
  auto& ws = i->second.watchers;
  ws.erase(std::remove_if(ws.begin(), ws.end(),
                          [](const watcher& w) { return w.sink->closed(); }),
           ws.end());
  if (ws.empty()) {
    self->state.watches.erase(i);
    return;
  }
  start_watch(self, i->first, 0, {});
}

caf::behavior bridge(bridge_actor* self, cart_directory_actor directory,
                     cart_router_actor router, grpc_bridge_settings settings) {
  self->state.directory = std::move(directory);
  self->state.router = std::move(router);
  self->state.settings = settings;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& ws = self->state.watches;
    for (auto i = ws.begin(); i != ws.end(); ++i)
      if (!i->second.starting && i->second.cart &&
          i->second.cart.address() == dm.source) {
        rewatch(self, i);
        return;
      }
  });
  return {
      [self](const grpc_call& call) {
        switch (call.what) {
        case grpc_call::kind::get:
        case grpc_call::kind::mutate: {
          auto ptr = std::make_shared<const grpc_call>(call);
          self->state.in_flight.emplace(call.sink.get(), call.sink);
          ask(self, std::move(ptr), 0);
          break;
        }
        case grpc_call::kind::watch:
          add_watch(self, call);
          break;
        case grpc_call::kind::unwatch:
          remove_watch(self, call);
          break;
        }
      },
      [self](changed_atom, const cart_view& view) {
        auto i = self->state.watches.find(view.id);
        if (i == self->state.watches.end() ||
            i->second.incarnation != view.incarnation || i->second.starting)
          return;
        deliver(i->second, view);
        if (i->second.watchers.empty())
          self->state.watches.erase(i);
      },
      [self](gone_atom, const std::string& id, uint64_t incarnation) {
        auto i = self->state.watches.find(id);
        if (i == self->state.watches.end() ||
            i->second.incarnation != incarnation || i->second.starting)
          return;
        rewatch(self, i);
      },
  };
}

} // namespace

caf::actor spawn_grpc_bridge(caf::actor_system& sys,
                             cart_directory_actor directory,
                             grpc_bridge_settings settings) {
  return sys.spawn(bridge, std::move(directory), cart_router_actor{}, settings);
}

caf::actor spawn_grpc_bridge(caf::actor_system& sys, cart_router_actor router,
                             grpc_bridge_settings settings) {
  // The router answers the directory's resolve message too; the bridge
  // sends it the one with the request id.
  return sys.spawn(bridge, cart_directory_actor{}, std::move(router), settings);
}

} // namespace cartd
