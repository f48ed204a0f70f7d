// log_file: appends to its file, and after the file was renamed away (what
// logrotate does) a reopen writes to a new file under the same name, while
// nothing written before the reopen moves or is lost.

#include "runtime/core/log_file.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

using namespace cartd;

namespace fs = std::filesystem;

namespace {

std::string contents(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::shared_ptr<log_file> open_ok(const std::string& path) {
  std::string problem;
  auto result = log_file::open(path, problem);
  BOOST_REQUIRE_MESSAGE(result != nullptr, problem);
  BOOST_TEST(problem.empty());
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(log_file_tests)

BOOST_AUTO_TEST_CASE(it_appends_to_what_the_file_held) {
  test::temp_dir dir;
  auto path = dir.path() + "/access.log";
  std::ofstream{path} << "before\n";
  auto file = open_ok(path);
  file->write("one\n");
  file->output()("two\n");
  BOOST_TEST(contents(path) == "before\none\ntwo\n");
}

BOOST_AUTO_TEST_CASE(after_a_rename_reopen_writes_to_a_new_file_of_that_name) {
  test::temp_dir dir;
  auto path = dir.path() + "/access.log";
  auto rotated = path + ".1";
  auto file = open_ok(path);
  file->write("a\n");
  fs::rename(path, rotated);
  file->write("b\n"); // still the renamed file: nobody said reopen
  BOOST_TEST(!fs::exists(path));
  BOOST_TEST(file->reopen() == "");
  file->write("c\n");
  BOOST_TEST(contents(rotated) == "a\nb\n");
  BOOST_TEST(contents(path) == "c\n");
}

BOOST_AUTO_TEST_CASE(a_reopen_that_fails_keeps_writing_to_the_old_file) {
  test::temp_dir dir;
  auto path = dir.path() + "/access.log";
  auto rotated = path + ".1";
  auto file = open_ok(path);
  file->write("a\n");
  fs::rename(path, rotated);
  fs::create_directory(path); // the name cannot be opened for writing now
  auto problem = file->reopen();
  BOOST_TEST(problem.find("cannot open " + path) == 0, problem);
  file->write("b\n");
  BOOST_TEST(contents(rotated) == "a\nb\n");
}

BOOST_AUTO_TEST_CASE(a_file_that_cannot_be_opened_is_a_problem_naming_it) {
  test::temp_dir dir;
  auto path = dir.path() + "/missing/access.log";
  std::string problem;
  BOOST_TEST(log_file::open(path, problem) == nullptr);
  BOOST_TEST(problem.find("cannot open " + path + ": ") == 0, problem);
}

BOOST_AUTO_TEST_SUITE_END()
