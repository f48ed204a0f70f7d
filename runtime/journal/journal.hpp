#pragma once

// The event journal: an append-only log of opaque events per stream (one
// stream per cart). A backend sits behind `journal_backend` and reports
// failures as values (Zeek Broker's abstract_backend pattern); the node picks
// the backend (bindings/cartd), actors only ever see `journal_actor`.
//
// Versioned writes: an append names the sequence number it extends. If the
// stream's last sequence number differs, the append fails with
// journal_errc::conflict and changes nothing, so two writers for one stream
// can never both succeed.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/core/type_ids.hpp"

namespace caf {
class actor_system_config;
} // namespace caf

namespace cartd {

/// Why a journal operation failed (category atom "journal").
enum class journal_errc : uint8_t {
  /// Not an error.
  none = 0,
  /// The append's expected sequence number is not the stream's last one.
  conflict,
  /// The backend cannot serve the request now (I/O error, full, locked).
  unavailable,
  /// Stored data cannot be read back.
  corrupt,
};

const char* to_string(journal_errc x) noexcept;

caf::error make_error(journal_errc x, std::string context = {});

/// Registers the "journal" error category's renderer.
void add_journal_error_category(caf::actor_system_config& cfg);

/// A storage engine for the journal. Not thread-safe: the journal actor is its
/// only user.
class journal_backend {
public:
  virtual ~journal_backend();

  // -- modifiers --------------------------------------------------------------

  /// Appends `payloads` to `stream` after sequence number `expected_seq`
  /// (0 for an empty stream); they get expected_seq + 1, + 2, ... Returns the
  /// new last sequence number. Durable when it returns (as far as the backend
  /// is durable at all).
  virtual caf::expected<uint64_t>
  append(const std::string& stream, uint64_t expected_seq,
         const std::vector<std::string>& payloads)
    = 0;

  // -- inspectors -------------------------------------------------------------

  /// Returns the events of `stream` with a sequence number > `after_seq`, in
  /// order (empty for an unknown stream).
  virtual caf::expected<std::vector<journal_event>>
  replay(const std::string& stream, uint64_t after_seq)
    = 0;

  /// The backend's name for logs, e.g. "memory".
  virtual const char* name() const noexcept = 0;
};

} // namespace cartd
