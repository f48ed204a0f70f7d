#include "bindings/grpc/grpc_server.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include <caf/send.hpp>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "actors/cart/protocol/request_rules.hpp"
#include "bindings/grpc/cart.grpc.pb.h"
#include "bindings/grpc/status_map.hpp"

namespace cartd {

namespace {

namespace v1 = cartd::v1;

/// Most changes a WatchCart stream may have queued for a client that reads
/// too slowly; beyond, the stream ends RESOURCE_EXHAUSTED.
constexpr size_t max_queued_writes = 1024;

grpc::Status status_of(cart_errc code, const std::string& detail = {}) {
  return grpc::Status{grpc_code_for(code), grpc_message_for(code, detail)};
}

void to_proto(const cart_view& view, v1::Cart& out) {
  out.set_cart_id(view.id);
  for (auto& line : view.lines) {
    auto* x = out.add_lines();
    x->set_item(line.item);
    x->set_quantity(line.quantity);
  }
  out.set_total_quantity(view.total_quantity);
  out.set_checked_out(view.checked_out);
  out.set_version(view.version);
}

/// The client's metadata `key`, if it sent it.
std::optional<std::string> metadata(const grpc::CallbackServerContext& ctx,
                                    const char* key) {
  auto& md = ctx.client_metadata();
  auto i = md.find(key);
  if (i == md.end())
    return std::nullopt;
  return std::string{i->second.data(), i->second.size()};
}

/// The call as far as the request tells it: the cart, the deadline, the
/// request id; the refusal of a request the rules refuse.
struct decoded {
  grpc_call call;
  std::optional<grpc::Status> error;
};

decoded decode_common(const grpc::CallbackServerContext& ctx,
                      const std::string& cart_id, bool has_cart_id) {
  decoded result;
  if (!has_cart_id || !valid_cart_id(cart_id)) {
    result.error = status_of(cart_errc::invalid_cart_id);
    return result;
  }
  result.call.cart = cart_id;
  auto deadline = ctx.deadline();
  if (deadline != std::chrono::system_clock::time_point::max())
    result.call.deadline = std::chrono::steady_clock::now() +
                           (deadline - std::chrono::system_clock::now());
  // Written into log lines: only what an idempotency key may be.
  if (auto id = metadata(ctx, "x-request-id"); id && valid_idempotency_key(*id))
    result.call.request_id = std::move(*id);
  return result;
}

/// decode_common plus what every change reads: the item (if `item`), the
/// expected version and the idempotency key.
template <class Request>
decoded decode_change(const grpc::CallbackServerContext& ctx,
                      const Request& req, mutation_kind kind,
                      const std::string* item) {
  auto result = decode_common(ctx, req.cart_id(), req.has_cart_id());
  if (result.error)
    return result;
  auto& m = result.call.mutation;
  result.call.what = grpc_call::kind::mutate;
  m.kind = kind;
  m.request_id = result.call.request_id;
  if (item != nullptr) {
    if (!valid_item_id(*item)) {
      result.error = status_of(cart_errc::invalid_item_id);
      return result;
    }
    m.item = *item;
  }
  if (req.has_expected_version()) {
    m.has_expected_version = true;
    m.expected_version = req.expected_version();
  }
  if (auto key = metadata(ctx, "idempotency-key")) {
    if (!valid_idempotency_key(*key)) {
      result.error = grpc::Status{
          grpc::StatusCode::INVALID_ARGUMENT,
          "invalid_idempotency_key: idempotency-key must be 1 to 128 visible "
          "ASCII characters"};
      return result;
    }
    m.idempotency_key = std::move(*key);
  }
  return result;
}

// -- reactors -----------------------------------------------------------------

/// A unary call: finished once, by the bridge (the cart's answer) or by
/// gRPC's cancellation, whichever comes first.
class unary_call final : public grpc::ServerUnaryReactor,
                         public grpc_call_sink {
public:
  static std::shared_ptr<unary_call> make(grpc::CallbackServerContext* ctx,
                                          v1::Cart* response) {
    auto result = std::make_shared<unary_call>(ctx, response);
    result->self_ = result;
    return result;
  }

  unary_call(grpc::CallbackServerContext* ctx, v1::Cart* response)
      : ctx_(ctx), response_(response) {}

  void on_view(const cart_view& view) override {
    if (finished_.exchange(true))
      return;
    to_proto(view, *response_);
    if (view.replayed)
      ctx_->AddInitialMetadata("idempotent-replayed", "true");
    Finish(grpc::Status::OK);
  }

  void on_error(cart_errc code, const std::string& detail) override {
    finish(status_of(code, detail));
  }

  bool closed() const override { return finished_.load(); }

  void finish(grpc::Status status) {
    if (!finished_.exchange(true))
      Finish(std::move(status));
  }

  void OnCancel() override { finish(grpc::Status::CANCELLED); }

  void OnDone() override {
    // The last reference may be this one.
    auto keep = std::move(self_);
  }

private:
  grpc::CallbackServerContext* ctx_;
  v1::Cart* response_;
  std::atomic<bool> finished_{false};
  std::shared_ptr<unary_call> self_;
};

class watch_call;

/// What the reactors share with the server: the bridge and the open
/// streams (ended at stop).
struct service_state {
  std::shared_ptr<grpc_bridge_slot> bridge;
  std::mutex mtx;
  std::set<std::shared_ptr<watch_call>> watches;
  bool stopping = false;
};

/// A WatchCart stream: one write in flight at a time, the others queued;
/// finished after the write in flight. gRPC may run a reactor's callbacks
/// inline, so StartWrite and Finish are called with no lock held.
class watch_call final : public grpc::ServerWriteReactor<v1::Cart>,
                         public grpc_call_sink {
public:
  watch_call(std::shared_ptr<service_state> service, std::string cart)
      : service_(std::move(service)), cart_(std::move(cart)) {}

  void on_view(const cart_view& view) override {
    const v1::Cart* first = nullptr;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (finished_)
        return;
      if (queue_.size() < max_queued_writes) {
        queue_.emplace_back();
        to_proto(view, queue_.back());
        if (writing_)
          return;
        writing_ = true;
        first = &queue_.front();
      }
    }
    if (first != nullptr)
      StartWrite(first);
    else
      finish(grpc::Status{grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "the client reads the stream too slowly"});
  }

  void on_error(cart_errc code, const std::string& detail) override {
    finish(status_of(code, detail));
  }

  bool closed() const override {
    std::lock_guard<std::mutex> guard{mtx_};
    return finished_;
  }

  /// Finishes now, or after the write in flight.
  void finish(grpc::Status status) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (finished_)
        return;
      finished_ = true;
      if (writing_) {
        pending_ = std::move(status);
        return;
      }
    }
    Finish(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    const v1::Cart* next = nullptr;
    std::optional<grpc::Status> status;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      queue_.pop_front();
      if (!ok && !finished_) {
        finished_ = true;
        pending_ = grpc::Status::CANCELLED;
      }
      if (finished_) {
        writing_ = false;
        status = std::move(pending_);
      } else if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
      }
    }
    if (status)
      Finish(std::move(*status));
    else if (next != nullptr)
      StartWrite(next);
  }

  void OnCancel() override { finish(grpc::Status::CANCELLED); }

  void OnDone() override;

  const std::string& cart() const { return cart_; }

  /// Keeps the reactor alive until OnDone.
  std::shared_ptr<watch_call> self;

private:
  std::shared_ptr<service_state> service_;
  std::string cart_;
  mutable std::mutex mtx_;
  std::deque<v1::Cart> queue_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> pending_;
};

void watch_call::OnDone() {
  auto keep = std::move(self);
  {
    std::lock_guard<std::mutex> guard{service_->mtx};
    service_->watches.erase(keep);
  }
  if (auto bridge = service_->bridge->get()) {
    grpc_call call;
    call.what = grpc_call::kind::unwatch;
    call.cart = cart_;
    call.sink = keep;
    caf::anon_send(bridge, std::move(call));
  }
}

// -- the service --------------------------------------------------------------

class carts_service final : public v1::Carts::CallbackService {
public:
  explicit carts_service(std::shared_ptr<service_state> state)
      : state_(std::move(state)) {}

  grpc::ServerUnaryReactor* GetCart(grpc::CallbackServerContext* ctx,
                                    const v1::GetCartRequest* req,
                                    v1::Cart* res) override {
    auto d = decode_common(*ctx, req->cart_id(), req->has_cart_id());
    d.call.what = grpc_call::kind::get;
    return dispatch(ctx, res, std::move(d));
  }

  grpc::ServerUnaryReactor* AddItem(grpc::CallbackServerContext* ctx,
                                    const v1::AddItemRequest* req,
                                    v1::Cart* res) override {
    auto d = decode_change(*ctx, *req, mutation_kind::add_item, &req->item());
    d.call.mutation.quantity = req->quantity(); // default 1, as over HTTP
    return dispatch(ctx, res, std::move(d));
  }

  grpc::ServerUnaryReactor* SetQuantity(grpc::CallbackServerContext* ctx,
                                        const v1::SetQuantityRequest* req,
                                        v1::Cart* res) override {
    auto d = decode_change(*ctx, *req, mutation_kind::set_item_quantity,
                           &req->item());
    if (!d.error && !req->has_quantity())
      d.error = grpc::Status{grpc::StatusCode::INVALID_ARGUMENT,
                             "invalid_field: quantity is required"};
    d.call.mutation.quantity = req->quantity();
    return dispatch(ctx, res, std::move(d));
  }

  grpc::ServerUnaryReactor* RemoveItem(grpc::CallbackServerContext* ctx,
                                       const v1::RemoveItemRequest* req,
                                       v1::Cart* res) override {
    return dispatch(
        ctx, res,
        decode_change(*ctx, *req, mutation_kind::remove_item, &req->item()));
  }

  grpc::ServerUnaryReactor* ClearCart(grpc::CallbackServerContext* ctx,
                                      const v1::ClearCartRequest* req,
                                      v1::Cart* res) override {
    return dispatch(
        ctx, res,
        decode_change(*ctx, *req, mutation_kind::clear_cart, nullptr));
  }

  grpc::ServerUnaryReactor* Checkout(grpc::CallbackServerContext* ctx,
                                     const v1::CheckoutRequest* req,
                                     v1::Cart* res) override {
    return dispatch(
        ctx, res, decode_change(*ctx, *req, mutation_kind::checkout, nullptr));
  }

  grpc::ServerWriteReactor<v1::Cart>*
  WatchCart(grpc::CallbackServerContext* ctx,
            const v1::WatchCartRequest* req) override {
    auto d = decode_common(*ctx, req->cart_id(), req->has_cart_id());
    auto call = std::make_shared<watch_call>(state_, d.call.cart);
    call->self = call;
    if (d.error) {
      call->finish(std::move(*d.error));
      return call.get();
    }
    auto bridge = state_->bridge->get();
    {
      std::lock_guard<std::mutex> guard{state_->mtx};
      if (state_->stopping)
        bridge = nullptr;
      else
        state_->watches.insert(call);
    }
    if (!bridge) {
      call->finish(status_of(cart_errc::unavailable, "the node is stopping"));
      return call.get();
    }
    d.call.what = grpc_call::kind::watch;
    d.call.sink = answer_if_dropped(call);
    caf::anon_send(bridge, std::move(d.call));
    return call.get();
  }

private:
  /// Hands a decoded unary call to the bridge, or refuses it.
  grpc::ServerUnaryReactor* dispatch(grpc::CallbackServerContext* ctx,
                                     v1::Cart* res, decoded d) {
    auto call = unary_call::make(ctx, res);
    if (d.error) {
      call->finish(std::move(*d.error));
      return call.get();
    }
    auto bridge = state_->bridge->get();
    if (!bridge) {
      call->on_error(cart_errc::unavailable, "the gRPC bridge is restarting");
      return call.get();
    }
    d.call.sink = answer_if_dropped(call);
    caf::anon_send(bridge, std::move(d.call));
    return call.get();
  }

  std::shared_ptr<service_state> state_;
};

/// How often the health service asks the node's readiness check.
constexpr auto readiness_poll = std::chrono::milliseconds{100};

std::string listen_address(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

} // namespace

// -- grpc_front_end -----------------------------------------------------------

struct grpc_front_end::impl {
  std::shared_ptr<service_state> state;
  std::unique_ptr<carts_service> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool stopped = false;
  // The health thread: follows the node's readiness (follow_readiness).
  std::thread health;
  std::mutex health_mtx;
  std::condition_variable health_cv;
  bool health_stop = false;

  /// Sets the overall status ("") and cartd.v1.Carts' to what the node's
  /// readiness check says, whenever it changes, until stop(): NOT_SERVING
  /// while the node starts, while its journal is unavailable, without its
  /// cluster lease and from SIGTERM on, as GET /ready answers 503. Clients
  /// and load balancers (grpc.health.v1, Kubernetes' gRPC probes) then stop
  /// sending calls the node would refuse.
  void follow_readiness() {
    auto* health = server->GetHealthCheckService();
    if (health == nullptr)
      return;
    const std::string service_name = v1::Carts::service_full_name();
    std::unique_lock<std::mutex> guard{health_mtx};
    std::optional<bool> last;
    while (!health_stop) {
      bool serving = state->bridge->failing_check().empty();
      if (serving != last) {
        health->SetServingStatus("", serving);
        health->SetServingStatus(service_name, serving);
        last = serving;
      }
      health_cv.wait_for(guard, readiness_poll, [this] { return health_stop; });
    }
  }
};

grpc_front_end::grpc_front_end(std::unique_ptr<impl> x) : impl_(std::move(x)) {}

std::unique_ptr<grpc_front_end>
grpc_front_end::start(const grpc_server_settings& settings,
                      std::shared_ptr<grpc_bridge_slot> bridge,
                      std::string& problem) {
  auto x = std::make_unique<impl>();
  x->state = std::make_shared<service_state>();
  x->state->bridge = std::move(bridge);
  x->service = std::make_unique<carts_service>(x->state);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  auto address = listen_address(settings.host, settings.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                           &x->port);
  // gRPC sets SO_REUSEPORT by default: a second node on the same port would
  // share it silently instead of failing at start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(settings.max_message_size));
  builder.RegisterService(x->service.get());
  x->server = builder.BuildAndStart();
  if (!x->server || x->port == 0) {
    problem = "cannot listen on " + address + " (gRPC)";
    return nullptr;
  }
  // NOT_SERVING until the node is ready, not gRPC's default SERVING.
  if (auto health = x->server->GetHealthCheckService()) {
    health->SetServingStatus("", false);
    health->SetServingStatus(v1::Carts::service_full_name(), false);
  }
  auto* raw = x.get();
  x->health = std::thread{[raw] { raw->follow_readiness(); }};
  return std::unique_ptr<grpc_front_end>{new grpc_front_end(std::move(x))};
}

grpc_front_end::~grpc_front_end() {
  stop(std::chrono::milliseconds{0});
}

uint16_t grpc_front_end::port() const noexcept {
  return static_cast<uint16_t>(impl_->port);
}

void grpc_front_end::stop(std::chrono::milliseconds grace) {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  {
    std::lock_guard<std::mutex> guard{impl_->health_mtx};
    impl_->health_stop = true;
  }
  impl_->health_cv.notify_all();
  if (impl_->health.joinable())
    impl_->health.join();
  if (auto health = impl_->server->GetHealthCheckService())
    health->SetServingStatus(false);
  std::set<std::shared_ptr<watch_call>> watches;
  {
    std::lock_guard<std::mutex> guard{impl_->state->mtx};
    impl_->state->stopping = true;
    watches = impl_->state->watches;
  }
  for (auto& w : watches)
    w->on_error(cart_errc::unavailable, "the node is stopping");
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
}

} // namespace cartd
