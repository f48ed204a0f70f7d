#pragma once

// Placement: which member owns a cart. Rendezvous (highest-random-weight)
// hashing of the cart id over the owners of the current view
// (cluster_view::owners): the owner of cart c is the member m with the
// largest score(m, c). Deterministic on every node and every build (no
// std::hash), no ring to maintain, and a join or leave moves only the carts
// whose top choice changed: about 1/(N+1) of them for a join, the leaver's
// for a leave, nothing else. docs/cluster.md documents the hash so another
// implementation can agree with it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cartd {

/// The rendezvous score of member `member` for cart `cart`: a 64-bit mix of
/// stable 64-bit hashes of both (documented in docs/cluster.md).
uint64_t placement_score(std::string_view member,
                         std::string_view cart) noexcept;

/// The index in `owners` of the owner of `cart` (the highest score; ties go
/// to the smaller name), or owners.size() when `owners` is empty.
size_t owner_index(const std::vector<std::string>& owners,
                   std::string_view cart) noexcept;

} // namespace cartd
