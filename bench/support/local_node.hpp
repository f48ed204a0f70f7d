#pragma once

// An in-process cart subsystem for the microbenchmarks and the memory tool:
// the same supervision tree as a cartd node (journal, cart directory with
// its shards, wired by actors/cart/subsystem) minus the HTTP server, over a
// journal backend the caller picks.
//
//   root (rest_for_one)
//   ├── journal   journal actor over `backend`
//   └── carts     cart directory
//
// Also: a null journal backend (accepts every append, recovers every stream
// as empty) to measure what the carts themselves cost, and helpers for
// temporary directories and the process's resident memory.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/cart/actor/cart_actor_impl.hpp"
#include "actors/cart/directory/cart_directory.hpp"
#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/subsystem.hpp"
#include "runtime/journal/journal.hpp"
#include "runtime/journal/journal_actor_impl.hpp"

namespace cartd::bench {

/// A journal that stores nothing: appends succeed at once (the stream's new
/// last sequence number is expected_seq + payloads), every stream recovers
/// empty. Isolates the cost of carts from the cost of storage.
class null_journal : public journal_backend {
public:
  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override;

  caf::expected<journal_recovery> recover(const std::string& stream,
                                          int64_t keys_since_ms) override;

  caf::expected<std::vector<journal_event>> replay(const std::string& stream,
                                                   uint64_t after_seq) override;

  const char* name() const noexcept override;
};

/// A directory under $TMPDIR (or /tmp), removed with everything in it when
/// the object goes.
class temp_dir {
public:
  explicit temp_dir(const std::string& prefix = "cartd-bench-");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
};

/// Opens the journal backend `name`: "null", "memory", "sqlite" under
/// `dir` with `sync` = full, normal or off, or "postgres" on the server
/// postgres_conninfo() names, in a schema of its own (new for each call).
/// Throws std::runtime_error when it cannot.
std::shared_ptr<journal_backend> open_backend(const std::string& name,
                                              const std::string& dir = {},
                                              const std::string& sync = "full");

/// The PostgreSQL server for the "postgres" backend: $CARTD_BENCH_POSTGRES
/// (bench/run.py starts a server and sets it); empty when unset, and then
/// the PostgreSQL benchmarks are skipped.
std::string postgres_conninfo();

/// Resident set size of this process in bytes (VmRSS), 0 if unknown.
size_t rss_bytes();

/// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
size_t peak_rss_bytes();

/// How to set up a local node.
struct local_node_options {
  /// CAF scheduler threads (0: CAF's default).
  size_t threads = 0;
  /// Load CAF's middleman (needed to spawn brokers).
  bool middleman = false;
  cart_settings carts;
  directory_settings directory;
  journal_settings journal;
};

/// The actor system plus the cart subsystem over one journal backend.
class local_node {
public:
  local_node(std::shared_ptr<journal_backend> backend,
             local_node_options opts = {});

  /// Stops the tree and waits for it, then the actor system.
  ~local_node();

  local_node(const local_node&) = delete;
  local_node& operator=(const local_node&) = delete;

  caf::actor_system& system() { return *sys_; }

  caf::scoped_actor& self() { return *self_; }

  const cart_directory_actor& directory() const { return directory_; }

  /// One blocking request; the reply or the error.
  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& dest, Ts&&... xs) {
    caf::expected<T> result{caf::sec::request_timeout};
    (*self_)
        ->request(dest, std::chrono::seconds{30}, std::forward<Ts>(xs)...)
        .receive([&](T& x) { result = std::move(x); },
                 [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Resolves `id` through the directory; throws on error.
  cart_actor resolve(const std::string& id);

  /// Renders an error for messages.
  std::string render(const caf::error& err) { return sys_->render(err); }

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  caf::actor root_;
  cart_directory_actor directory_;
};

/// A cart_mutation that adds `quantity` of `item`.
cart_mutation add_mutation(std::string item, int64_t quantity = 1);

} // namespace cartd::bench
