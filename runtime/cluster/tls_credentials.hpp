#pragma once

// A node's credentials for mutual TLS between the nodes (--cluster.tls.*),
// read and checked once at start, before the actor system exists: CAF's
// openssl module reads its files again for every connection and aborts the
// whole process (std::terminate in the I/O thread) when one is missing or
// bad. So the node checks them first, then hands CAF private, sealed
// in-memory copies (memfd, read through /proc/self/fd): what CAF reads for
// every later connection is what was checked, whatever happens to the files
// on disk meanwhile (certificates are read at start, like any server).

#include <memory>
#include <optional>
#include <string>

namespace cartd {

class tls_credentials {
public:
  /// Reads `certificate` (this node's PEM chain, leaf first), `key` (its
  /// unencrypted PEM private key) and `ca` (the cluster's PEM CA
  /// certificates) and checks them: each parses, the key belongs to the
  /// certificate, and the certificate verifies against the CA for TLS
  /// client and server use alike (every node is both), valid today. On a
  /// problem, returns nothing and sets `problem` to a sentence naming the
  /// option and the file (never the key's content).
  static std::optional<tls_credentials> load(const std::string& certificate,
                                             const std::string& key,
                                             const std::string& ca,
                                             std::string& problem);

  tls_credentials(tls_credentials&&) noexcept;
  tls_credentials& operator=(tls_credentials&&) noexcept;
  ~tls_credentials();

  // -- inspectors -------------------------------------------------------------

  /// The paths CAF reads (the checked copies; the originals when no copy
  /// could be made).
  const std::string& certificate_path() const noexcept;
  const std::string& key_path() const noexcept;
  const std::string& ca_path() const noexcept;

  /// "sha256:" and the hex SHA-256 over the CA file's certificates (DER, in
  /// file order): what every node of one cluster must share.
  const std::string& ca_fingerprint() const noexcept;

  /// The node certificate's subject (one line), for the log.
  const std::string& subject() const noexcept;

private:
  struct impl;

  explicit tls_credentials(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace cartd
