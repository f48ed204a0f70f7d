// bench_memory: resident memory per active cart, and how RSS behaves when
// millions of distinct carts are touched under a resident cap.
//
//   bench_memory --carts=1000000 [--journal=sqlite|null|memory] [--dir=DIR]
//                [--max-resident=0] [--concurrency=1024] [--samples=10]
//                [--shards=4] [--threads=0]
//
// In-process (no HTTP): the cart subsystem of a node (journal + directory +
// shards + carts) is started, 1,000 warm-up carts are activated, RSS is
// read from /proc/self/status, then `carts` distinct carts c0.. each get one
// add (one item) through the directory, `concurrency` at a time, and RSS is
// read again. Idle passivation is off, so without a cap every cart stays
// resident: (after - before) / carts is the memory of one active cart
// (actor, state, shard bookkeeping, allocator overhead). With
// --max-resident, shards passivate their least recently resolved carts.
// Prints one line `BENCH_JSON {...}` on stdout.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "bench/support/local_node.hpp"

using namespace cartd;
using namespace cartd::bench;

namespace {

struct options {
  size_t carts = 100000;
  std::string journal = "sqlite";
  std::string dir;
  size_t max_resident = 0;
  size_t concurrency = 1024;
  size_t samples = 10;
  size_t shards = 4;
  size_t threads = 0;
  std::string sync = "off";
  bool orderly_shutdown = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_memory: " << why
            << "\nusage: bench_memory --carts=N [--journal=sqlite|null|memory]"
               " [--dir=DIR] [--max-resident=N] [--concurrency=N]"
               " [--samples=N] [--shards=N] [--threads=N]"
               " [--sync=off|normal|full] [--shutdown=fast|orderly]\n";
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos)
      usage("bad argument " + a);
    auto key = a.substr(2, eq - 2);
    auto val = a.substr(eq + 1);
    auto num = [&] {
      char* end = nullptr;
      auto x = std::strtoull(val.c_str(), &end, 10);
      if (val.empty() || *end != '\0')
        usage("not a number: " + a);
      return static_cast<size_t>(x);
    };
    if (key == "carts")
      o.carts = num();
    else if (key == "journal")
      o.journal = val;
    else if (key == "dir")
      o.dir = val;
    else if (key == "max-resident")
      o.max_resident = num();
    else if (key == "concurrency")
      o.concurrency = num();
    else if (key == "samples")
      o.samples = num();
    else if (key == "shards")
      o.shards = num();
    else if (key == "threads")
      o.threads = num();
    else if (key == "sync")
      o.sync = val;
    else if (key == "shutdown" && (val == "fast" || val == "orderly"))
      o.orderly_shutdown = val == "orderly";
    else
      usage("unknown option " + a);
  }
  if (o.carts == 0 || o.concurrency == 0)
    usage("carts and concurrency must be positive");
  return o;
}

struct sample {
  size_t touched;
  size_t rss;
};

// Touches carts [first, first + count) with one add each, `concurrency` in
// flight, and reports RSS every `sample_every` completions.
struct driver_state {
  cart_directory_actor directory;
  std::string prefix;
  size_t first = 0;
  size_t count = 0;
  size_t next = 0;
  size_t done = 0;
  size_t failed = 0;
  size_t sample_every = 0;
  std::vector<sample> samples;
  caf::response_promise finished;
};

using driver_actor = caf::stateful_actor<driver_state>;

void finish_one(driver_actor* self);

void touch_next(driver_actor* self) {
  auto& st = self->state;
  if (st.next >= st.count)
    return;
  auto id = st.prefix + std::to_string(st.first + st.next++);
  self->request(st.directory, caf::infinite, resolve_atom::value, id)
      .then(
          [self](cart_actor& cart) {
            self->request(cart, caf::infinite, add_mutation("apple", 1))
                .then([self](cart_view&) { finish_one(self); },
                      [self](caf::error&) {
                        ++self->state.failed;
                        finish_one(self);
                      });
          },
          [self](caf::error&) {
            ++self->state.failed;
            finish_one(self);
          });
}

void finish_one(driver_actor* self) {
  auto& st = self->state;
  ++st.done;
  if (st.sample_every > 0 && st.done % st.sample_every == 0)
    st.samples.push_back(sample{st.done, rss_bytes()});
  if (st.done == st.count) {
    std::vector<uint64_t> flat;
    for (auto& x : st.samples) {
      flat.push_back(x.touched);
      flat.push_back(x.rss);
    }
    st.finished.deliver(std::move(flat), static_cast<uint64_t>(st.failed));
    return;
  }
  touch_next(self);
}

caf::behavior driver(driver_actor* self, cart_directory_actor directory) {
  self->state.directory = std::move(directory);
  return {
      [self](
          caf::ok_atom, const std::string& prefix, size_t first, size_t count,
          size_t concurrency,
          size_t sample_every) -> caf::result<std::vector<uint64_t>, uint64_t> {
        auto& st = self->state;
        st.prefix = prefix;
        st.first = first;
        st.count = count;
        st.next = st.done = st.failed = 0;
        st.sample_every = sample_every;
        st.samples.clear();
        st.finished = self->make_response_promise();
        for (size_t i = 0; i < concurrency && i < count; ++i)
          touch_next(self);
        return st.finished;
      },
  };
}

// Runs one pass and waits for it.
struct pass_result {
  double seconds = 0;
  std::vector<sample> samples;
  size_t failed = 0;
};

pass_result run_pass(local_node& node, const caf::actor& d,
                     const std::string& prefix, size_t first, size_t count,
                     size_t concurrency, size_t sample_every) {
  auto start = std::chrono::steady_clock::now();
  pass_result result;
  node.self()
      ->request(d, caf::infinite, caf::ok_atom::value, prefix, first, count,
                concurrency, sample_every)
      .receive(
          [&](std::vector<uint64_t>& flat, uint64_t failed) {
            for (size_t i = 0; i + 1 < flat.size(); i += 2)
              result.samples.push_back(sample{flat[i], flat[i + 1]});
            result.failed = failed;
          },
          [&](caf::error& err) {
            std::cerr << "pass failed: " << node.render(err) << "\n";
            std::exit(1);
          });
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return result;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  std::unique_ptr<temp_dir> own_dir;
  if (o.dir.empty() && o.journal == "sqlite") {
    own_dir = std::make_unique<temp_dir>("cartd-bench-mem-");
    o.dir = own_dir->path();
  }
  std::shared_ptr<journal_backend> backend;
  try {
    backend = open_backend(o.journal, o.dir, o.sync);
  } catch (const std::exception& e) {
    std::cerr << "bench_memory: " << e.what() << "\n";
    return 1;
  }
  local_node_options opts;
  opts.threads = o.threads;
  opts.carts.idle_timeout = caf::timespan{0}; // residency is what we measure
  opts.directory.shards = o.shards;
  opts.directory.max_resident = o.max_resident;
  size_t rss_before = 0;
  size_t rss_after = 0;
  size_t running_before = 0;
  size_t running_after = 0;
  pass_result pass;
  auto node = std::make_unique<local_node>(backend, opts);
  auto d = node->system().spawn(driver, node->directory());
  // Warm-up: thread stacks, allocator arenas, journal caches, then settle.
  run_pass(*node, d, "warm", 0, 1000, o.concurrency, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  rss_before = rss_bytes();
  running_before = node->system().registry().running();
  auto sample_every =
      o.samples > 0 ? std::max<size_t>(1, o.carts / o.samples) : 0;
  pass = run_pass(*node, d, "c", 0, o.carts, o.concurrency, sample_every);
  // Let passivations (with a cap) finish before the last reading.
  std::this_thread::sleep_for(std::chrono::milliseconds{500});
  rss_after = rss_bytes();
  running_after = node->system().registry().running();
  auto mode = o.max_resident > 0 ? "capped" : "active";
  auto resident =
      running_after > running_before ? running_after - running_before : 0;
  double per_cart = rss_after > rss_before
                        ? double(rss_after - rss_before) / double(o.carts)
                        : 0.0;
  double shutdown_s = -1;
  if (o.orderly_shutdown) {
    // The node's ordered shutdown with every cart still resident.
    auto t0 = std::chrono::steady_clock::now();
    caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
    node.reset();
    shutdown_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
  }
  std::printf("BENCH_JSON {\"mode\":\"%s\",\"journal\":\"%s\",\"sync\":\"%s\","
              "\"carts\":%zu,\"max_resident\":%zu,\"shards\":%zu,"
              "\"concurrency\":%zu,\"failed\":%zu,\"seconds\":%.3f,"
              "\"carts_per_s\":%.1f,\"rss_before_bytes\":%zu,"
              "\"rss_after_bytes\":%zu,\"rss_peak_bytes\":%zu,"
              "\"rss_per_cart_bytes\":%.1f,\"resident_end\":%zu,"
              "\"shutdown_s\":%.3f,\"samples\":[",
              mode, o.journal.c_str(),
              o.journal == "sqlite" ? o.sync.c_str() : "-", o.carts,
              o.max_resident, o.shards, o.concurrency, pass.failed,
              pass.seconds, double(o.carts) / pass.seconds, rss_before,
              rss_after, peak_rss_bytes(), per_cart, resident, shutdown_s);
  for (size_t i = 0; i < pass.samples.size(); ++i)
    std::printf("%s{\"touched\":%zu,\"rss_bytes\":%zu}", i ? "," : "",
                pass.samples[i].touched, pass.samples[i].rss);
  std::printf("]}\n");
  std::fflush(stdout);
  if (!o.orderly_shutdown) {
    // Stopping a million resident carts one by one is not what this tool
    // measures (see --shutdown=orderly); the journal's commits are done.
    own_dir.reset();
    std::_Exit(pass.failed == 0 ? 0 : 1);
  }
  return pass.failed == 0 ? 0 : 1;
}
