#pragma once

// The journal tests' one way to build an append (journal_test.cpp,
// sqlite_journal_test.cpp).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/type_ids.hpp"

namespace cartd::test {

/// `payloads` extending `stream` after `expected_seq`, whose event carries
/// `expected_tag`; the new events carry `tag`.
inline journal_append make_append(std::string stream, uint64_t expected_seq,
                                  std::vector<std::string> payloads,
                                  uint64_t expected_tag = 0, uint64_t tag = 0) {
  journal_append result;
  result.stream = std::move(stream);
  result.expected_seq = expected_seq;
  result.expected_tag = expected_tag;
  result.tag = tag;
  result.payloads = std::move(payloads);
  return result;
}

} // namespace cartd::test
