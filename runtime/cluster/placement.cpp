#include "runtime/cluster/placement.hpp"

// The hash, as docs/cluster.md ("Placement") documents it, so that any
// implementation agrees with this one:
//
//   fnv1a64(s)      FNV-1a, 64 bits, over the bytes of s (offset basis
//                   0xcbf29ce484222325, prime 0x100000001b3)
//   fmix64(k)       MurmurHash3's 64-bit finalizer
//   score(m, c)  =  fmix64(fnv1a64(m) ^ fmix64(fnv1a64(c)))
//
// FNV-1a alone mixes its last bytes poorly (names such as node-1, node-2
// differ there); the finalizer on both sides makes every member's score of
// a cart look independent, which is what rendezvous hashing needs for
// balance.

namespace cartd {

namespace {

constexpr uint64_t fnv_offset_basis = 0xcbf29ce484222325ULL;
constexpr uint64_t fnv_prime = 0x100000001b3ULL;

uint64_t fnv1a64(std::string_view s) noexcept {
  auto h = fnv_offset_basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= fnv_prime;
  }
  return h;
}

uint64_t fmix64(uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

} // namespace

uint64_t placement_score(std::string_view member,
                         std::string_view cart) noexcept {
  return fmix64(fnv1a64(member) ^ fmix64(fnv1a64(cart)));
}

size_t owner_index(const std::vector<std::string>& owners,
                   std::string_view cart) noexcept {
  auto cart_hash = fmix64(fnv1a64(cart));
  size_t best = owners.size();
  uint64_t best_score = 0;
  for (size_t i = 0; i < owners.size(); ++i) {
    auto score = fmix64(fnv1a64(owners[i]) ^ cart_hash);
    if (best == owners.size() || score > best_score ||
        (score == best_score && owners[i] < owners[best])) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

} // namespace cartd
