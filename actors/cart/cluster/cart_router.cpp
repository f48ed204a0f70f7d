#include "actors/cart/cluster/cart_router.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/cart/directory/cart_directory.hpp"
#include "runtime/cluster/peer_links.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/core/log.hpp"

// How the router works (the README of this folder has the picture):
//
// Requests. Every resolve (from a front end) and route (from a peer router)
// is parked under a token with a timer of settings.request_timeout, then
// dispatched: to the local directory when this node owns the cart (resolve
// when the view is settled; before that, only a cart already resident here
// is handed out), to the owner's router when another node owns it and is
// reachable. A dispatch that cannot go now stays parked; every parked
// request is dispatched again when the view changes, when a peer connects
// or goes down, and shortly after a peer said no. Each dispatch bumps the
// request's attempt number, so a late answer to an earlier attempt is
// dropped. The timer answers cart_errc::unavailable to whatever is still
// parked.
//
// Handover. On every new view the router releases (cart directory,
// release_atom) the carts it no longer owns and acknowledges the view to
// the membership worker once they all stopped; one release at a time, the
// next one for the newest view. Without a lease, it releases every cart and
// acknowledges nothing.

namespace cartd {

namespace {

using clock_type = std::chrono::steady_clock;

/// (expire_atom, token): a parked request's time is up.
using expire_atom = caf::atom_constant<caf::atom("expire")>;
/// (retry_atom, token, attempt): dispatch a request again after a refusal.
using retry_atom = caf::atom_constant<caf::atom("retry")>;
/// (reconnect_atom, name, generation): try a peer again.
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
/// (lease_check_atom): the lease may have run out.
using lease_check_atom = caf::atom_constant<caf::atom("leasecheck")>;
/// (handover_atom): run the handover again (after a failed release).
using handover_atom = caf::atom_constant<caf::atom("handover")>;
/// (leave_expire_atom, token): a leave's time is up.
using leave_expire_atom = caf::atom_constant<caf::atom("leaveexp")>;

/// Another member as this router reaches it.
struct peer {
  /// Its node-to-node address and incarnation in the installed view.
  std::string cluster;
  uint64_t incarnation = 0;
  /// Its router while connected (monitored), and its CAF node.
  caf::actor router;
  caf::node_id node;
  /// Bumped at every connection attempt and every drop: late answers of an
  /// older attempt are ignored.
  uint64_t generation = 0;
};

/// A resolve or route waiting for its answer.
struct parked {
  std::string id;
  /// The HTTP request's id, for the lines about it (here and at the owner).
  std::string request_id;
  /// A route from a peer: served only if this node owns the cart.
  bool from_peer = false;
  caf::typed_response_promise<cart_actor> promise;
  /// Bumped at every dispatch.
  uint64_t attempt = 0;
  /// The current attempt waits for an answer.
  bool in_flight = false;
  /// The peer the current attempt went to (empty: local or none).
  std::string at_peer;
};

/// A graceful leave waiting for its view's handover.
struct pending_leave {
  uint64_t token = 0;
  uint64_t view = 0;
  caf::typed_response_promise<bool> promise;
};

struct router_state {
  cart_router_settings settings;
  cart_directory_actor directory;
  cart_directory_control_actor control;
  caf::actor links;
  /// host:port this router is published on (empty: not yet).
  std::string cluster_address;
  uint16_t published_port = 0;
  /// The front end's HTTP address (from the first subscription).
  std::string http;
  caf::actor membership;
  std::vector<caf::actor> subscribers;
  /// The installed view and whether the membership worker granted a lease.
  cluster_view view;
  bool lease_granted = false;
  bool lease_check_pending = false;
  std::map<std::string, peer> peers;
  std::map<uint64_t, parked> requests;
  uint64_t next_token = 1;
  /// Handover: a release in flight, whether another is due after it, the
  /// last view whose release finished (with that view's owners), and
  /// whether the last release finished was of every cart.
  bool releasing = false;
  bool release_again = false;
  uint64_t released_view = 0;
  bool released_all = false;
  std::vector<pending_leave> leaves;
  /// Leaving without a membership worker: owns nothing.
  bool left = false;
  /// This router, to unpublish it when it ends.
  caf::actor_addr address;

  ~router_state() {
    // Free the port for the next incarnation of the router.
    if (published_port != 0 && links)
      caf::anon_send(caf::actor_cast<caf::io::middleman_actor>(links),
                     caf::unpublish_atom::value, address, published_port);
  }

  static inline const char* name = "cartd.cart_router";
};

using router_self = caf::stateful_actor<router_state>*;

// -- small helpers ------------------------------------------------------------

bool serving(router_self self) {
  auto& st = self->state;
  return st.lease_granted &&
         (!st.settings.lease_clock || st.settings.lease_clock->valid());
}

/// Whether this node may activate the carts it owns now.
bool settled(router_self self) {
  auto& st = self->state;
  return st.view.number > 0 && st.view.settled() &&
         st.released_view >= st.view.number && !st.released_all;
}

cluster_state make_state(router_self self) {
  auto& st = self->state;
  cluster_state result;
  result.self = st.settings.self;
  result.view = st.view.number;
  result.serving = serving(self);
  result.settled = settled(self);
  if (auto me = st.view.find(st.settings.self); me != nullptr && serving(self))
    result.incarnation = me->incarnation;
  for (auto& m : st.view.members) {
    cluster_member_state x;
    x.member = m;
    if (m.name == st.settings.self) {
      x.node = self->node();
      x.reachable = true;
    } else if (auto i = st.peers.find(m.name); i != st.peers.end()) {
      x.node = i->second.node;
      x.reachable = static_cast<bool>(i->second.router);
    }
    result.members.push_back(std::move(x));
  }
  return result;
}

void push_state(router_self self) {
  auto state = make_state(self);
  for (auto& sub : self->state.subscribers)
    self->send(sub, view_atom::value, state);
}

void tell_peer_down(router_self self, const caf::node_id& node) {
  if (node == caf::node_id{})
    return;
  for (auto& sub : self->state.subscribers)
    self->send(sub, peer_down_atom::value, node);
}

void answer(router_self self, uint64_t token, caf::expected<cart_actor> x) {
  auto& st = self->state;
  auto i = st.requests.find(token);
  if (i == st.requests.end())
    return;
  if (x)
    i->second.promise.deliver(std::move(*x));
  else
    i->second.promise.deliver(std::move(x.error()));
  st.requests.erase(i);
}

// -- dispatching --------------------------------------------------------------

void dispatch(router_self self, uint64_t token);

void dispatch_all(router_self self, bool also_in_flight) {
  std::vector<uint64_t> tokens;
  for (auto& [token, r] : self->state.requests)
    if (also_in_flight || !r.in_flight)
      tokens.push_back(token);
  for (auto token : tokens)
    dispatch(self, token);
}

/// Dispatches again the requests whose attempt went to `name`.
void dispatch_waiting_on(router_self self, const std::string& name) {
  std::vector<uint64_t> tokens;
  for (auto& [token, r] : self->state.requests)
    if (!r.in_flight || r.at_peer == name)
      tokens.push_back(token);
  for (auto token : tokens)
    dispatch(self, token);
}

/// After a refusal: dispatch again shortly (the other side's view may lag
/// behind this one's), unless a newer attempt went out meanwhile.
void retry_soon(router_self self, uint64_t token, uint64_t attempt) {
  auto delay = std::max(self->state.settings.heartbeat / 4,
                        caf::timespan{std::chrono::milliseconds{1}});
  self->delayed_send(self, delay, retry_atom::value, token, attempt);
}

void dispatch_local(router_self self, uint64_t token, parked& r) {
  auto& st = self->state;
  auto attempt = r.attempt;
  r.in_flight = true;
  if (settled(self)) {
    self->request(st.directory, st.settings.request_timeout,
                  resolve_atom::value, r.id)
        .then(
            [self, token, attempt](cart_actor& cart) {
              auto i = self->state.requests.find(token);
              if (i != self->state.requests.end() &&
                  i->second.attempt == attempt)
                answer(self, token, std::move(cart));
            },
            [self, token, attempt](caf::error& err) {
              auto i = self->state.requests.find(token);
              if (i != self->state.requests.end() &&
                  i->second.attempt == attempt)
                answer(self, token, std::move(err));
            });
    return;
  }
  // Not settled: a cart already resident here keeps serving; any other
  // waits for the view to settle (the old owner may still hold it).
  self->request(st.control, st.settings.request_timeout, lookup_atom::value,
                r.id)
      .then(
          [self, token, attempt](cart_actor& cart) {
            auto i = self->state.requests.find(token);
            if (i != self->state.requests.end() && i->second.attempt == attempt)
              answer(self, token, std::move(cart));
          },
          [self, token, attempt](caf::error&) {
            auto i = self->state.requests.find(token);
            if (i != self->state.requests.end() &&
                i->second.attempt == attempt) {
              i->second.in_flight = false;
              // Settled by now (the lookup crossed the view's update)?
              if (settled(self))
                dispatch(self, token);
            }
          });
}

void dispatch_remote(router_self self, uint64_t token, parked& r,
                     const std::string& owner, const caf::actor& router) {
  auto& st = self->state;
  auto attempt = r.attempt;
  r.in_flight = true;
  r.at_peer = owner;
  log({{"cart", r.id}, {"request_id", r.request_id}})
      .debug("cart router {}: cart {} is owned by {} in view {}; "
             "asking its router",
             st.settings.self, r.id, owner, st.view.number);
  self->request(caf::actor_cast<cart_router_actor>(router),
                st.settings.request_timeout, route_atom::value, r.id,
                r.request_id)
      .then(
          [self, token, attempt](cart_actor& cart) {
            auto i = self->state.requests.find(token);
            if (i != self->state.requests.end() && i->second.attempt == attempt)
              answer(self, token, std::move(cart));
          },
          [self, token, attempt](caf::error& err) {
            auto i = self->state.requests.find(token);
            if (i == self->state.requests.end() || i->second.attempt != attempt)
              return;
            // An invalid id is the client's error; anything else (the peer
            // does not own it under its view, is not serving, or did not
            // answer) waits for the next view, the peer's return, or
            // another try shortly.
            if (err.category() == caf::atom("cart") &&
                err.code() ==
                    static_cast<uint8_t>(cart_errc::invalid_cart_id)) {
              answer(self, token, std::move(err));
              return;
            }
            log({{"cart", i->second.id}, {"request_id", i->second.request_id}})
                .debug("cart router {}: {} did not hand out cart {} ({}); "
                       "routing it again",
                       self->state.settings.self, i->second.at_peer,
                       i->second.id, self->system().render(err));
            i->second.in_flight = false;
            i->second.at_peer.clear();
            retry_soon(self, token, attempt);
          });
}

void dispatch(router_self self, uint64_t token) {
  auto& st = self->state;
  auto i = st.requests.find(token);
  if (i == st.requests.end())
    return;
  auto& r = i->second;
  ++r.attempt;
  r.in_flight = false;
  r.at_peer.clear();
  if (!serving(self)) {
    answer(self, token,
           make_error(cart_errc::unavailable,
                      "this node is not serving carts now (no cluster lease)"));
    return;
  }
  auto owners = st.left ? std::vector<std::string>{} : st.view.owners();
  if (owners.empty()) {
    if (r.from_peer)
      answer(self, token,
             make_error(cart_errc::unavailable, "no owner in this view"));
    return; // waits for a view with owners
  }
  const auto& owner = owners[owner_index(owners, r.id)];
  if (owner == st.settings.self) {
    dispatch_local(self, token, r);
    return;
  }
  if (r.from_peer) {
    // Never forwarded on a peer's behalf: the asking router routes again
    // on its next view.
    log({{"cart", r.id}, {"request_id", r.request_id}})
        .debug("cart router {}: cart {} is owned by {} in view {}, "
               "not here; refused to the asking peer",
               st.settings.self, r.id, owner, st.view.number);
    answer(self, token,
           make_error(cart_errc::unavailable,
                      "cart " + r.id + " is not owned by " + st.settings.self +
                          " in view " + std::to_string(st.view.number)));
    return;
  }
  auto p = st.peers.find(owner);
  if (p == st.peers.end() || !p->second.router)
    return; // waits until the owner is reachable or leaves the view
  dispatch_remote(self, token, r, owner, p->second.router);
}

caf::result<cart_actor> park(router_self self, const std::string& id,
                             bool from_peer, const std::string& request_id) {
  if (!valid_cart_id(id))
    return make_error(cart_errc::invalid_cart_id);
  if (!serving(self))
    return make_error(cart_errc::unavailable,
                      "this node is not serving carts now (no cluster lease)");
  auto& st = self->state;
  auto token = st.next_token++;
  auto& r = st.requests[token];
  r.id = id;
  r.request_id = request_id;
  r.from_peer = from_peer;
  if (from_peer)
    log({{"cart", r.id}, {"request_id", r.request_id}})
        .debug("cart router {}: a peer asks for cart {}", st.settings.self, id);
  r.promise = self->make_response_promise<cart_actor>();
  auto promise = r.promise;
  self->delayed_send(self, st.settings.request_timeout, expire_atom::value,
                     token);
  dispatch(self, token);
  return promise;
}

// -- handover -----------------------------------------------------------------

void check_leaves(router_self self) {
  auto& st = self->state;
  if (st.releasing)
    return;
  auto& leaves = st.leaves;
  for (auto i = leaves.begin(); i != leaves.end();) {
    if ((st.released_all || st.released_view >= i->view) && !st.release_again) {
      i->promise.deliver(true);
      i = leaves.erase(i);
    } else {
      ++i;
    }
  }
}

/// Releases the carts this node does not own under the installed view
/// (every cart without a lease), then acknowledges the view.
void handover(router_self self) {
  auto& st = self->state;
  if (st.releasing) {
    st.release_again = true;
    return;
  }
  st.release_again = false;
  st.releasing = true;
  bool all = !serving(self) || st.left;
  auto number = st.view.number;
  auto owners = all ? std::vector<std::string>{} : st.view.owners();
  // Bounded by the carts' writes in flight (each bounded by the journal
  // timeout): a local request, but never an unbounded wait.
  auto bound = st.settings.request_timeout + st.settings.lease;
  self->request(st.control, bound, release_atom::value, std::move(owners),
                st.settings.self)
      .then(
          [self, all, number](size_t released) {
            auto& st = self->state;
            st.releasing = false;
            if (auto& m = st.settings.metrics; m && m->cluster_handoffs)
              m->cluster_handoffs->inc(released);
            if (released > 0)
              log().info("cart router {}: released {} carts ({})",
                         st.settings.self, released,
                         all ? "all of them, no lease"
                             : "view " + std::to_string(number));
            st.released_all = all;
            if (!all) {
              st.released_view = std::max(st.released_view, number);
              if (st.membership && number > 0)
                self->send(st.membership, ack_atom::value, number);
            }
            if (st.release_again) {
              handover(self);
              return;
            }
            check_leaves(self);
            // Settled may have changed: carts owned here may activate.
            dispatch_all(self, false);
            push_state(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.releasing = false;
            log().warn("cart router {}: releasing carts failed ({}); trying "
                       "again",
                       st.settings.self, self->system().render(err));
            st.release_again = false;
            self->delayed_send(self, st.settings.heartbeat,
                               handover_atom::value);
          });
}

void lose_service(router_self self, const char* why) {
  auto& st = self->state;
  bool was = st.lease_granted;
  st.lease_granted = false;
  if (was)
    log().warn("cart router {}: not serving carts: {}", st.settings.self, why);
  std::vector<uint64_t> tokens;
  for (auto& [token, r] : st.requests)
    tokens.push_back(token);
  for (auto token : tokens)
    answer(self, token,
           make_error(cart_errc::unavailable,
                      "this node is not serving carts now (no cluster lease)"));
  handover(self);
  push_state(self);
}

void schedule_lease_check(router_self self) {
  auto& st = self->state;
  if (!st.settings.lease_clock || st.lease_check_pending)
    return;
  st.lease_check_pending = true;
  auto until = st.settings.lease_clock->valid_until();
  auto now = clock_type::now();
  auto delay = until > now
                   ? std::chrono::duration_cast<caf::timespan>(until - now)
                   : caf::timespan{0};
  // Never busy-loop on a lease that is extended just in time.
  delay = std::max(delay, caf::timespan{std::chrono::milliseconds{1}});
  self->delayed_send(self, delay, lease_check_atom::value);
}

// -- peers --------------------------------------------------------------------

void connect_peer(router_self self, const std::string& name);

void drop_peer(router_self self, std::map<std::string, peer>::iterator i) {
  auto& st = self->state;
  auto name = i->first;
  if (i->second.router) {
    self->demonitor(i->second.router);
    tell_peer_down(self, i->second.node);
  }
  st.peers.erase(i);
  dispatch_waiting_on(self, name);
}

void connect_peer(router_self self, const std::string& name) {
  auto& st = self->state;
  auto i = st.peers.find(name);
  if (i == st.peers.end())
    return;
  auto generation = ++i->second.generation;
  auto address = split_host_port(i->second.cluster);
  if (!address) {
    log().warn("cart router {}: member {} has no usable node-to-node address "
               "'{}'",
               st.settings.self, name, i->second.cluster);
    return;
  }
  connect_async(
      self, st.links, address->first, address->second,
      st.settings.request_timeout,
      [self, name, generation](peer_link& link) {
        auto& st = self->state;
        auto i = st.peers.find(name);
        if (i == st.peers.end() || i->second.generation != generation)
          return;
        i->second.router = link.published;
        i->second.node = link.node;
        self->monitor(link.published);
        log().info("cart router {}: connected to {} at {}", st.settings.self,
                   name, i->second.cluster);
        dispatch_waiting_on(self, name);
        push_state(self);
      },
      [self, name, generation](caf::error& err) {
        auto& st = self->state;
        auto i = st.peers.find(name);
        if (i == st.peers.end() || i->second.generation != generation)
          return;
        log().info("cart router {}: cannot reach {} at {} yet: {}",
                   st.settings.self, name, i->second.cluster,
                   self->system().render(err));
        self->delayed_send(self, st.settings.heartbeat, reconnect_atom::value,
                           name, generation);
      });
}

/// Connects to the members of the installed view, drops those gone.
void sync_peers(router_self self) {
  auto& st = self->state;
  for (auto i = st.peers.begin(); i != st.peers.end();) {
    auto m = st.view.find(i->first);
    if (m == nullptr || m->incarnation != i->second.incarnation ||
        m->cluster != i->second.cluster) {
      auto next = std::next(i);
      drop_peer(self, i);
      i = next;
    } else {
      ++i;
    }
  }
  for (auto& m : st.view.members) {
    if (m.name == st.settings.self || m.cluster.empty() ||
        st.peers.count(m.name) > 0)
      continue;
    auto& p = st.peers[m.name];
    p.cluster = m.cluster;
    p.incarnation = m.incarnation;
    connect_peer(self, m.name);
  }
}

void on_peer_down(router_self self, const caf::actor_addr& source) {
  auto& st = self->state;
  for (auto& [name, p] : st.peers) {
    if (!p.router || p.router.address() != source)
      continue;
    log().warn("cart router {}: lost the connection to {}", st.settings.self,
               name);
    p.router = nullptr;
    ++p.generation;
    tell_peer_down(self, p.node);
    auto peer_name = name;
    self->delayed_send(self, st.settings.heartbeat, reconnect_atom::value,
                       peer_name, p.generation);
    dispatch_waiting_on(self, peer_name);
    push_state(self);
    return;
  }
}

// -- membership ---------------------------------------------------------------

void maybe_start_membership(router_self self) {
  auto& st = self->state;
  if (st.membership || st.cluster_address.empty() || st.http.empty() ||
      !st.settings.start_membership)
    return;
  st.membership =
      st.settings.start_membership(self->system(), st.http, st.cluster_address,
                                   caf::actor_cast<caf::actor>(self));
  if (!st.membership) {
    // Never a member without it: fail, so that the supervisor restarts the
    // router (and with it this attempt), rather than sit idle.
    log().error("cart router {}: the membership worker did not start",
                st.settings.self);
    self->quit(make_error(cart_errc::unavailable,
                          "the membership worker did not start"));
    return;
  }
  self->link_to(st.membership);
}

void install(router_self self, cluster_view& v) {
  auto& st = self->state;
  if (v.number < st.view.number)
    return;
  bool new_number = v.number != st.view.number;
  st.view = std::move(v);
  if (auto& m = st.settings.metrics; m && m->cluster_members) {
    m->cluster_members->set(static_cast<int64_t>(st.view.members.size()));
    m->cluster_view->set(static_cast<int64_t>(st.view.number));
  }
  sync_peers(self);
  if (new_number)
    handover(self);
  // A new view may change every owner: dispatch everything again; a new
  // reading of the same view (acknowledgements) may settle it.
  dispatch_all(self, new_number);
  push_state(self);
}

caf::behavior router_impl(router_self self, cart_router_settings settings,
                          cart_directory_actor local) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.address = self->address();
  st.directory = local;
  st.control = caf::actor_cast<cart_directory_control_actor>(local);
  st.links = st.settings.links ? st.settings.links : links_of(self->system());
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    auto i = std::find_if(subs.begin(), subs.end(), [&](const caf::actor& x) {
      return x.address() == dm.source;
    });
    if (i != subs.end()) {
      subs.erase(i);
      return;
    }
    on_peer_down(self, dm.source);
  });
  // Published for the other nodes' routers; asynchronous (never the
  // blocking middleman calls inside an actor).
  publish_async(
      self, st.links, caf::actor_cast<caf::actor>(self), st.settings.host,
      st.settings.port, st.settings.request_timeout,
      [self](uint16_t port) {
        auto& st = self->state;
        st.published_port = port;
        st.cluster_address = st.settings.host + ":" + std::to_string(port);
        log().info("cart router {}: published on {}", st.settings.self,
                   st.cluster_address);
        maybe_start_membership(self);
      },
      [self](caf::error& err) {
        log().error("cart router {}: cannot publish on {}:{}: {}",
                    self->state.settings.self, self->state.settings.host,
                    self->state.settings.port, self->system().render(err));
        self->quit(std::move(err));
      });
  cart_router_actor::behavior_type interface {
    [self](resolve_atom, const std::string& id,
           const std::string& request_id) -> caf::result<cart_actor> {
      return park(self, id, false, request_id);
    },
        [self](resolve_atom, const std::string& id) -> caf::result<cart_actor> {
          return park(self, id, false, std::string{});
        },
        [self](route_atom, const std::string& id,
               const std::string& request_id) -> caf::result<cart_actor> {
          return park(self, id, true, request_id);
        },
        [self](subscribe_atom, caf::actor front_end, const std::string& http) {
          auto& st = self->state;
          if (!front_end)
            return;
          self->monitor(front_end);
          st.subscribers.push_back(front_end);
          self->send(front_end, view_atom::value, make_state(self));
          if (st.http.empty()) {
            st.http = http;
            maybe_start_membership(self);
          }
        },
        [self](caf::get_atom, cluster_atom) { return make_state(self); },
        [self](leave_atom) -> caf::result<bool> {
          auto& st = self->state;
          auto promise = self->make_response_promise<bool>();
          auto token = st.next_token++;
          self->delayed_send(self, st.settings.request_timeout,
                             leave_expire_atom::value, token);
          if (!st.membership) {
            // Not a member: hand over every cart.
            st.left = true;
            st.leaves.push_back(pending_leave{token, 0, promise});
            handover(self);
            return promise;
          }
          self->request(st.membership, st.settings.request_timeout,
                        leave_atom::value)
              .then(
                  [self, token, promise](uint64_t view) mutable {
                    self->state.leaves.push_back(
                        pending_leave{token, view, promise});
                    check_leaves(self);
                  },
                  [self, promise](caf::error& err) mutable {
                    log().warn("cart router {}: cannot mark this node leaving: "
                               "{}",
                               self->state.settings.self,
                               self->system().render(err));
                    promise.deliver(false);
                  });
          return promise;
        },
  };
  caf::message_handler own{
      [self](view_atom, cluster_view& v) { install(self, v); },
      [self](lease_atom, bool granted) {
        auto& st = self->state;
        if (!granted) {
          lose_service(self, "the membership worker lost the lease");
          return;
        }
        bool was = serving(self);
        st.lease_granted = true;
        schedule_lease_check(self);
        if (!serving(self))
          return;
        if (!was || st.released_all || st.releasing) {
          // Also when the lease clock ran out and was renewed before the
          // lease check saw it (was): a handover in between released (or
          // is releasing) every cart and acknowledged nothing, and nothing
          // but this runs the view's handover again.
          log().info("cart router {}: serving carts", st.settings.self);
          handover(self);
          push_state(self);
        }
      },
      [self](lease_check_atom) {
        auto& st = self->state;
        st.lease_check_pending = false;
        if (!st.lease_granted)
          return;
        if (st.settings.lease_clock && !st.settings.lease_clock->valid()) {
          lose_service(self, "the lease ran out before it was renewed");
          return;
        }
        schedule_lease_check(self);
      },
      [self](expire_atom, uint64_t token) {
        auto& st = self->state;
        auto i = st.requests.find(token);
        if (i == st.requests.end())
          return;
        auto id = i->second.id;
        log({{"cart", i->second.id}, {"request_id", i->second.request_id}})
            .warn("cart router {}: the owner of cart {} was not reachable "
                  "within {} ms",
                  st.settings.self, id,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      st.settings.request_timeout)
                      .count());
        answer(self, token,
               make_error(cart_errc::unavailable,
                          "the owner of cart " + id +
                              " was not reachable in time"));
      },
      [self](retry_atom, uint64_t token, uint64_t attempt) {
        auto i = self->state.requests.find(token);
        if (i != self->state.requests.end() && i->second.attempt == attempt &&
            !i->second.in_flight)
          dispatch(self, token);
      },
      [self](reconnect_atom, const std::string& name, uint64_t generation) {
        auto& st = self->state;
        auto i = st.peers.find(name);
        if (i != st.peers.end() && i->second.generation == generation &&
            !i->second.router)
          connect_peer(self, name);
      },
      [self](handover_atom) { handover(self); },
      [self](leave_expire_atom, uint64_t token) {
        // Not handed over within its bound: give up (false).
        auto& leaves = self->state.leaves;
        auto i = std::find_if(
            leaves.begin(), leaves.end(),
            [token](const pending_leave& x) { return x.token == token; });
        if (i == leaves.end())
          return;
        log().warn("cart router {}: the handover of a leave did not finish "
                   "in time",
                   self->state.settings.self);
        i->promise.deliver(false);
        leaves.erase(i);
      },
  };
  return own.or_else(interface.unbox());
}

} // namespace

cart_router_actor spawn_cart_router(caf::event_based_actor* parent,
                                    cart_router_settings settings,
                                    cart_directory_actor local) {
  // The router's own messages (from the membership worker, its timers) are
  // not part of cart_router_actor; its interface is checked at compile time
  // (router_impl).
  return caf::actor_cast<cart_router_actor>(
      parent->spawn(router_impl, std::move(settings), std::move(local)));
}

} // namespace cartd
