#pragma once

// A temporary directory that outlives the nodes of one test, e.g. the
// `--storage.path` of a node that is killed and started again.
//
//   temp_dir data;
//   cartd_process a{cartd_binary(), {"--storage.path=" + data.path()}};
//   ...

#include <string>

namespace cartd::test {

/// Creates a fresh directory under the system's temporary directory; the
/// destructor removes it with everything in it. Not copyable.
class temp_dir {
public:
  /// Creates `<tmp>/<prefix>XXXXXX`; throws `std::runtime_error` on failure.
  explicit temp_dir(const std::string& prefix = "cartd-e2e-data-");

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  ~temp_dir();

  /// The absolute path of the directory.
  const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
};

} // namespace cartd::test
