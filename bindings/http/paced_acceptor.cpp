#include "bindings/http/paced_acceptor.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/io/abstract_broker.hpp>
#include <caf/io/network/acceptor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/scribe_impl.hpp>
#include <caf/io/scribe.hpp>
#include <caf/make_counted.hpp>
#include <caf/send.hpp>

namespace cartd::http {

namespace {

namespace net = caf::io::network;

class paced_doorman;

/// CAF's scribe (network::scribe_impl, what default_multiplexer::new_scribe
/// makes) with the fix paced_doorman::remove_from_loop has for its acceptor:
/// the stream holds a strong reference to its scribe from add_to_loop until
/// the multiplexer calls its removed_from_loop after applying the delete,
/// and CAF 0.17.6's default_multiplexer squashes an add and a delete of one
/// socket queued in the same loop round into nothing without that call. A
/// connection its broker closed in the round it was accepted (the server's
/// drain can start in that round) kept itself and its socket alive for good.
class paced_scribe : public net::scribe_impl {
public:
  using net::scribe_impl::scribe_impl;

  void graceful_shutdown() override {
    // detach() may drop the last references to this scribe (its broker's
    // table entry and, see remove_from_loop, the stream's).
    caf::io::scribe_ptr guard{this};
    net::scribe_impl::graceful_shutdown();
  }

  void remove_from_loop() override {
    stream_.passivate();
    if ((stream_.eventbf() & net::input_mask) == 0)
      stream_.removed_from_loop(net::operation::read);
  }
};

/// Like CAF's policy::tcp for accepting, except that it reports running out
/// of resources instead of ignoring it.
struct paced_accept_policy {
  explicit paced_accept_policy(paced_doorman* owner) : owner(owner) {
    // nop
  }

  bool try_accept(net::native_socket& result, net::native_socket fd);

  paced_doorman* owner;
};

class paced_doorman : public caf::io::doorman {
public:
  paced_doorman(net::default_multiplexer& mx, net::native_socket fd)
      : doorman(net::accept_hdl_from_socket(fd)), acceptor_(mx, fd, this) {
    // nop
  }

  // What network::doorman_impl does.
  bool new_connection() override {
    if (detached())
      return false;
    auto& dm = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    net::keepalive(fd, true); // what default_multiplexer::new_scribe does
    caf::io::scribe_ptr sptr{caf::make_counted<paced_scribe>(dm, fd)};
    auto hdl = sptr->hdl();
    parent()->add_scribe(std::move(sptr));
    return doorman::new_connection(&dm, hdl);
  }

  void graceful_shutdown() override {
    // detach() may drop the last references to this doorman (its broker's
    // table entry and, see remove_from_loop, the acceptor's): keep it alive
    // until this function is done with it.
    caf::io::doorman_ptr guard{this};
    acceptor_.graceful_shutdown();
    detach(&acceptor_.backend(), false);
  }

  void launch() override { acceptor_.start(this); }

  std::string addr() const override {
    auto x = net::local_addr_of_fd(acceptor_.fd());
    return x ? std::move(*x) : std::string{};
  }

  uint16_t port() const override {
    auto x = net::local_port_of_fd(acceptor_.fd());
    return x ? *x : uint16_t{0};
  }

  void add_to_loop() override { acceptor_.activate(this); }

  // The acceptor holds a strong reference to its manager, this doorman,
  // from add_to_loop until the multiplexer calls its removed_from_loop after
  // applying the delete. CAF 0.17.6's default_multiplexer squashes an add
  // and a delete of one socket queued in the same loop round into nothing
  // (new_event), and then nobody calls removed_from_loop: a doorman added
  // and removed in one round (a server stopped right after it started)
  // kept itself alive through that reference and leaked. When the socket is
  // not registered in epoll after the delete (eventbf() without the read
  // bit), no event of the multiplexer refers to the acceptor any more, so
  // the reference is dropped here instead.
  void remove_from_loop() override {
    acceptor_.passivate();
    if ((acceptor_.eventbf() & net::input_mask) == 0)
      acceptor_.removed_from_loop(net::operation::read);
  }

  /// An accept failed with `err` for lack of resources: leave the loop (the
  /// socket stays readable, it would be reported again at once) and tell
  /// the broker.
  void exhausted(int err) {
    remove_from_loop();
    if (auto* broker = parent(); broker != nullptr && !detached())
      caf::anon_send(caf::actor_cast<caf::actor>(broker->ctrl()),
                     accept_paused_atom::value, static_cast<int32_t>(err));
  }

private:
  net::acceptor_impl<paced_accept_policy> acceptor_;
};

bool paced_accept_policy::try_accept(net::native_socket& result,
                                     net::native_socket fd) {
  result = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (result != net::invalid_native_socket)
    return true;
  auto err = errno;
  switch (err) {
  case EMFILE:
  case ENFILE:
  case ENOBUFS:
  case ENOMEM:
    owner->exhausted(err);
    break;
  default:
    // EAGAIN, ECONNABORTED, EINTR, ...: nothing to accept now; epoll
    // reports the socket again while connections wait.
    break;
  }
  return false;
}

} // namespace

caf::expected<caf::io::doorman_ptr> new_paced_doorman(net::multiplexer& mpx,
                                                      uint16_t port,
                                                      const char* host,
                                                      bool reuse_addr) {
  auto* dm = dynamic_cast<net::default_multiplexer*>(&mpx);
  if (dm == nullptr)
    return mpx.new_tcp_doorman(port, host, reuse_addr);
  auto fd = net::new_tcp_acceptor_impl(port, host, reuse_addr);
  if (!fd)
    return std::move(fd.error());
  return caf::io::doorman_ptr{caf::make_counted<paced_doorman>(*dm, *fd)};
}

caf::expected<caf::io::doorman_ptr> new_paced_doorman(net::multiplexer& mpx,
                                                      net::native_socket fd) {
  auto* dm = dynamic_cast<net::default_multiplexer*>(&mpx);
  if (dm == nullptr)
    return mpx.new_tcp_doorman(fd);
  return caf::io::doorman_ptr{caf::make_counted<paced_doorman>(*dm, fd)};
}

} // namespace cartd::http
