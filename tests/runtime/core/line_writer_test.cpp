// line_writer: lines arrive whole and in order on a thread of its own, and a
// writer whose output is stuck drops and counts lines instead of making the
// caller wait.

#include "runtime/core/line_writer.hpp"

#include <future>
#include <string>

#include <boost/test/unit_test.hpp>

using namespace cartd;

namespace {

std::string numbered(int i) {
  return "line " + std::to_string(i) + "\n";
}

} // namespace

BOOST_AUTO_TEST_SUITE(line_writer_tests)

BOOST_AUTO_TEST_CASE(every_line_arrives_in_order_by_the_time_it_is_destroyed) {
  std::string received; // written by the writer's thread, read after join
  {
    line_writer::settings cfg;
    cfg.capacity = 256; // many runs, some cut by the half-full wake-up
    line_writer out{[&](std::string_view run) { received.append(run); }, cfg};
    for (int i = 0; i < 200; ++i) {
      // Full buffer: the writer has it; the test may wait, the broker would
      // drop.
      while (!out.write(numbered(i)))
        std::this_thread::yield();
    }
  }
  std::string expected;
  for (int i = 0; i < 200; ++i)
    expected += numbered(i);
  BOOST_TEST(received == expected);
}

BOOST_AUTO_TEST_CASE(a_stuck_output_makes_it_drop_lines_not_block) {
  std::promise<void> release;
  auto released = release.get_future().share();
  std::string received;
  size_t accepted = 0;
  uint64_t dropped = 0;
  {
    line_writer::settings cfg;
    cfg.capacity = 1024;
    cfg.flush_every = std::chrono::milliseconds{1};
    line_writer out{[&, released](std::string_view run) {
                      released.wait(); // a pipe nobody reads
                      received.append(run);
                    },
                    cfg};
    // The output holds at most one buffer and the writer one more: the
    // writes must start failing (without waiting) well before 100000.
    int i = 0;
    for (; i < 100000; ++i) {
      if (out.write(numbered(i)))
        ++accepted;
      else if (out.dropped() > 100)
        break;
    }
    BOOST_TEST(i < 100000);
    dropped = out.dropped();
    BOOST_TEST(dropped > 100u);
    BOOST_TEST(accepted <= 2 * 1024 / numbered(0).size());
    release.set_value();
  }
  // What it accepted, it wrote, whole lines only.
  size_t lines = 0;
  for (auto c : received)
    lines += c == '\n';
  BOOST_TEST(lines == accepted);
  BOOST_TEST(received.back() == '\n');
}

BOOST_AUTO_TEST_SUITE_END()
