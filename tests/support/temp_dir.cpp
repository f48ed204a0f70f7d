#include "tests/support/temp_dir.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <stdlib.h>

namespace cartd::test {

temp_dir::temp_dir(const std::string& prefix) {
  auto tmpl =
      (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed: " +
                             std::string{std::strerror(errno)});
  path_ = std::move(tmpl);
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

} // namespace cartd::test
