// directory_lock: one holder per journal directory, across processes, and a
// killed holder's lock released by the kernel.

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "runtime/journal/directory_lock.hpp"
#include "runtime/journal/sqlite_journal.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cartd;

namespace {

bool contains(const std::string& x, const std::string& part) {
  return x.find(part) != std::string::npos;
}

std::string message_of(const caf::error& err) {
  return caf::to_string(err);
}

/// A child process that holds `path` with flock (raw system calls only: it
/// is forked from a process that may run threads) until killed.
pid_t holding_child(const std::string& path) {
  int ready[2];
  BOOST_REQUIRE(::pipe(ready) == 0);
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0)
      ::_exit(1);
    char c = 'x';
    if (::write(ready[1], &c, 1) != 1)
      ::_exit(1);
    for (;;)
      ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  BOOST_REQUIRE(::read(ready[0], &c, 1) == 1);
  ::close(ready[0]);
  return pid;
}

} // namespace

BOOST_AUTO_TEST_SUITE(directory_lock_tests)

BOOST_AUTO_TEST_CASE(a_second_lock_is_refused_naming_the_holder) {
  test::temp_dir dir;
  auto first = directory_lock::acquire(dir.path());
  BOOST_REQUIRE(first);
  BOOST_TEST(first->held());
  auto second = directory_lock::acquire(dir.path());
  BOOST_REQUIRE(!second);
  auto text = message_of(second.error());
  BOOST_TEST(contains(text, "journal directory " + dir.path() +
                                " is in use by process " +
                                std::to_string(::getpid())),
             text);
}

BOOST_AUTO_TEST_CASE(a_released_lock_can_be_taken_again) {
  test::temp_dir dir;
  {
    auto first = directory_lock::acquire(dir.path());
    BOOST_REQUIRE(first);
    auto moved = std::move(*first);
    BOOST_TEST(!first->held());
    BOOST_TEST(moved.held());
  }
  BOOST_TEST(static_cast<bool>(directory_lock::acquire(dir.path())));
}

BOOST_AUTO_TEST_CASE(a_killed_holder_leaves_no_lock_behind) {
  test::temp_dir dir;
  auto path = dir.path() + "/" + directory_lock::file_name;
  auto child = holding_child(path);
  auto refused = directory_lock::acquire(dir.path());
  BOOST_TEST(!refused);
  ::kill(child, SIGKILL);
  int status = 0;
  BOOST_REQUIRE(::waitpid(child, &status, 0) == child);
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST(static_cast<bool>(directory_lock::acquire(dir.path())));
}

BOOST_AUTO_TEST_CASE(a_second_sqlite_journal_on_a_directory_is_refused) {
  test::temp_dir dir;
  auto first = sqlite_journal::open(dir.path());
  BOOST_REQUIRE(first);
  auto second = sqlite_journal::open(dir.path());
  BOOST_REQUIRE(!second);
  BOOST_TEST(contains(message_of(second.error()), "is in use by process"));
  first->reset();
  BOOST_TEST(static_cast<bool>(sqlite_journal::open(dir.path())));
  // Unless both give up exclusivity (tests of the journal's conflicts).
  sqlite_options shared;
  shared.exclusive = false;
  auto a = sqlite_journal::open(dir.path(), shared);
  auto b = sqlite_journal::open(dir.path(), shared);
  BOOST_TEST((a && b));
}

BOOST_AUTO_TEST_SUITE_END()
