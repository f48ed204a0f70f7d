// How a supervisor_core attaches to the actor that hosts it: init, the
// handlers it installs (down, exit, error, default with the core's timers),
// the functor that kills the children if the host dies, and the public
// members of supervisor_core.

#include "runtime/supervision/core_impl.hpp"

#include <caf/message_view.hpp>
#include <caf/scheduled_actor.hpp>

#include "runtime/core/caf_shims.hpp"
#include "runtime/core/log.hpp"

namespace cartd::supervision {

// -- supervisor_core::impl ----------------------------------------------------

supervisor_core::impl::impl(supervisor_flags flags,
                            std::vector<child_spec> specs,
                            dynamic_child_template dynamic,
                            dynamic_child_hooks hooks)
    : flags(flags), dynamic_tpl(std::move(dynamic)), hooks(std::move(hooks)) {
  children.reserve(specs.size());
  for (auto& spec : specs)
    children.push_back(static_child{std::move(spec), {}});
}

std::string supervisor_core::impl::render(const caf::error& x) const {
  return self->system().render(x);
}

supervisor_core::impl::static_child*
supervisor_core::impl::find_static(caf::actor_id aid) {
  for (auto& child : children)
    if (child.state != phase::down && child.handle.untyped().id() == aid)
      return &child;
  return nullptr;
}

void supervisor_core::impl::init(caf::event_based_actor* host,
                                 const std::shared_ptr<impl>& me) {
  if (self != nullptr) {
    cartd::log().error("supervisor {}: init called twice; ignored", label);
    return;
  }
  self = host;
  label = std::string{host->name()} + "#" + std::to_string(host->id());
  install_handlers(me);
  for (size_t i = 0; i < children.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (children[j].spec.id == children[i].spec.id) {
        cartd::log().error("supervisor {}: duplicate child id '{}'", label,
                           children[i].spec.id);
        begin_shutdown(make_error(supervision_errc::start_failed));
        return;
      }
    }
    if (!start_static(i)) {
      begin_shutdown(make_error(supervision_errc::start_failed));
      return;
    }
  }
}

void supervisor_core::impl::install_handlers(const std::shared_ptr<impl>& me) {
  self->set_down_handler(
      [me](caf::scheduled_actor*, caf::down_msg& msg) { me->on_down(msg); });
  self->set_exit_handler(
      [me](caf::scheduled_actor*, caf::exit_msg& msg) { me->on_exit(msg); });
  self->set_error_handler([me](caf::scheduled_actor*, caf::error& err) {
    cartd::log().warn("supervisor {}: ignored error message: {}", me->label,
                      me->render(err));
  });
  self->set_default_handler(
      [me](caf::scheduled_actor* ptr,
           caf::message_view& msg) -> caf::result<caf::message> {
        if (me->on_timer(ptr, msg))
          return caf::message{};
        cartd::log().debug("supervisor {}: dropped unexpected message {}",
                           me->label, msg.content().stringify());
        // An empty message is never sent back for an asynchronous message,
        // whereas an error would be and would kill a sender that does not
        // expect it (caf::drop returns one).
        if (ptr->current_message_id().is_request())
          return caf::sec::unexpected_message;
        return caf::message{};
      });
  // Monitors do not take children down with us. The state (and this
  // core) is gone by the time CAF runs attached functors, hence the
  // shared pointer.
  self->attach_functor([me](const caf::error&) { me->kill_all(); });
}

bool supervisor_core::impl::on_timer(caf::scheduled_actor* ptr,
                                     caf::message_view& msg) {
  auto timer = caf_shims::read_self_timer(ptr, msg);
  if (!timer)
    return false;
  if (timer->tag == detail::kill_static_timer) {
    on_kill_static(timer->arg);
    return true;
  }
  if (timer->tag == detail::kill_dynamic_timer) {
    on_kill_dynamic();
    return true;
  }
  return false;
}

void supervisor_core::impl::on_exit(caf::exit_msg& msg) {
  // Like CAF's default exit handler, a normal exit of a linked actor does
  // not stop us. Supervisors stop their children with user_shutdown.
  if (!msg.reason)
    return;
  // A start function may have linked a child; its down_msg handles that.
  auto aid = msg.source.id();
  if (find_static(aid) != nullptr ||
      dynamic.find_by_aid(aid) != dynamic_children::none)
    return;
  begin_shutdown(std::move(msg.reason));
}

void supervisor_core::impl::on_down(caf::down_msg& msg) {
  auto aid = msg.source.id();
  if (auto child = find_static(aid)) {
    on_static_down(*child, msg.reason);
    return;
  }
  if (auto x = dynamic.find_by_aid(aid); x != dynamic_children::none) {
    dynamic.set_handle(x, nullptr);
    bool asked = stopping_dynamic.erase(aid) > 0;
    on_dynamic_down(x, msg.reason);
    if (asked)
      stop_next_dynamic();
    return;
  }
  cartd::log().debug("supervisor {}: ignored down_msg of a non-child", label);
}

// -- supervisor_core ----------------------------------------------------------

supervisor_core::supervisor_core(supervisor_flags flags,
                                 std::vector<child_spec> children,
                                 dynamic_child_template dynamic,
                                 dynamic_child_hooks hooks)
    : impl_(std::make_shared<impl>(flags, std::move(children),
                                   std::move(dynamic), std::move(hooks))) {
  // nop
}

supervisor_core::~supervisor_core() = default;

void supervisor_core::init(caf::event_based_actor* self) {
  impl_->init(self, impl_);
}

caf::actor supervisor_core::start_dynamic(const std::string& id) {
  return impl_->start_dynamic(id);
}

caf::actor supervisor_core::find_dynamic(const std::string& id) const {
  auto x = impl_->dynamic.find(id);
  return x != impl::dynamic_children::none ? impl_->dynamic.handle(x)
                                           : caf::actor{};
}

size_t supervisor_core::dynamic_count() const noexcept {
  return impl_->dynamic.size();
}

void supervisor_core::for_each_dynamic(
    const std::function<void(const std::string&, const caf::actor&)>& f) const {
  auto& dynamic = impl_->dynamic;
  dynamic.for_each([&](impl::dynamic_children::slot x) {
    if (auto& handle = dynamic.handle(x))
      f(dynamic.id(x), handle);
  });
}

caf::actor supervisor_core::find(const std::string& id) const {
  return find_child(id).untyped();
}

child_handle supervisor_core::find_child(const std::string& id) const {
  for (auto& child : impl_->children)
    if (child.spec.id == id && child.state != impl::phase::down)
      return child.handle;
  return {};
}

bool supervisor_core::shutting_down() const noexcept {
  return impl_->shutting_down;
}

void supervisor_core::shutdown(caf::error reason) {
  if (impl_->self != nullptr)
    impl_->begin_shutdown(std::move(reason));
}

} // namespace cartd::supervision
