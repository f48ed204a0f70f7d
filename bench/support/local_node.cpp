#include "bench/support/local_node.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "runtime/journal/memory_journal.hpp"
#include "runtime/supervision/supervisor.hpp"

#include "runtime/journal/postgres/pg_journal.hpp"
#include "runtime/journal/sqlite_journal.hpp"

namespace cartd::bench {

// -- null_journal -------------------------------------------------------------

std::vector<caf::expected<uint64_t>>
null_journal::append_batch(const std::vector<journal_append>& batch) {
  std::vector<caf::expected<uint64_t>> result;
  result.reserve(batch.size());
  for (auto& req : batch)
    result.emplace_back(req.expected_seq + req.payloads.size());
  return result;
}

caf::expected<journal_recovery> null_journal::recover(const std::string&,
                                                      int64_t) {
  return journal_recovery{};
}

caf::expected<std::vector<journal_event>>
null_journal::replay(const std::string&, uint64_t) {
  return std::vector<journal_event>{};
}

const char* null_journal::name() const noexcept {
  return "null";
}

// -- temp_dir -----------------------------------------------------------------

temp_dir::temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string{base && *base ? base : "/tmp"} + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed for " + tmpl);
  path_ = buf.data();
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// -- backends -----------------------------------------------------------------

std::shared_ptr<journal_backend> open_backend(const std::string& name,
                                              const std::string& dir,
                                              const std::string& sync) {
  if (name == "null")
    return std::make_shared<null_journal>();
  if (name == "memory")
    return std::make_shared<memory_journal>();
  if (name == "sqlite") {
    sqlite_options opts;
    opts.sync = sync;
    auto db = sqlite_journal::open(dir, opts);
    if (!db)
      throw std::runtime_error("cannot open the SQLite journal in " + dir +
                               ": " + caf::to_string(db.error()));
    return std::shared_ptr<journal_backend>{std::move(*db)};
  }
  if (name == "postgres") {
    static int schemas = 0;
    pg_options opts;
    opts.conninfo = postgres_conninfo();
    if (opts.conninfo.empty())
      throw std::runtime_error(
          "no PostgreSQL server: set CARTD_BENCH_POSTGRES");
    opts.schema =
        "bench_" + std::to_string(::getpid()) + "_" + std::to_string(++schemas);
    auto db = pg_journal::open(opts);
    if (!db)
      throw std::runtime_error("cannot open the PostgreSQL journal: " +
                               caf::to_string(db.error()));
    return std::shared_ptr<journal_backend>{std::move(*db)};
  }
  throw std::runtime_error("unknown journal backend: " + name);
}

std::string postgres_conninfo() {
  const char* env = std::getenv("CARTD_BENCH_POSTGRES");
  return env != nullptr ? env : "";
}

// -- memory -------------------------------------------------------------------

namespace {

size_t status_kib(const char* key) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  auto len = std::char_traits<char>::length(key);
  while (std::getline(in, line))
    if (line.compare(0, len, key) == 0)
      return std::strtoull(line.c_str() + len, nullptr, 10);
  return 0;
}

} // namespace

size_t rss_bytes() {
  return status_kib("VmRSS:") * 1024;
}

size_t peak_rss_bytes() {
  return status_kib("VmHWM:") * 1024;
}

// -- local_node ---------------------------------------------------------------

local_node::local_node(std::shared_ptr<journal_backend> backend,
                       local_node_options opts) {
  if (opts.threads > 0)
    cfg_.set("scheduler.max-threads", opts.threads);
  if (opts.middleman)
    cfg_.load<caf::io::middleman>();
  add_cartd_types(cfg_);
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  self_ = std::make_unique<caf::scoped_actor>(*sys_);
  cart_subsystem_settings subsystem;
  subsystem.carts = opts.carts;
  subsystem.directory = opts.directory;
  subsystem.journal = opts.journal;
  supervision::supervisor_flags flags;
  flags.how = supervision::strategy::rest_for_one;
  root_ = supervision::spawn_supervisor(
      *sys_, flags, cart_subsystem_specs(std::move(backend), subsystem));
  auto child = call<caf::actor>(root_, caf::get_atom::value,
                                std::string{directory_child_id});
  if (!child || !*child)
    throw std::runtime_error("the cart directory did not start");
  directory_ = caf::actor_cast<cart_directory_actor>(*child);
}

local_node::~local_node() {
  if (root_) {
    (*self_)->monitor(root_);
    caf::anon_send_exit(root_, caf::exit_reason::user_shutdown);
    (*self_)->receive([](caf::down_msg&) {},
                      caf::after(std::chrono::seconds{30}) >> [] {});
  }
  directory_ = nullptr;
  root_ = nullptr;
  self_.reset();
  sys_.reset();
}

cart_actor local_node::resolve(const std::string& id) {
  auto cart = call<cart_actor>(directory_, resolve_atom::value, id);
  if (!cart)
    throw std::runtime_error("resolve " + id + ": " + render(cart.error()));
  return *cart;
}

cart_mutation add_mutation(std::string item, int64_t quantity) {
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.item = std::move(item);
  m.quantity = quantity;
  return m;
}

} // namespace cartd::bench
