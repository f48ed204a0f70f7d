#pragma once

// Throwaway certificates for the TLS tests, made with the openssl command
// line in a temporary directory (removed at the end), as the README's "Run a
// cluster" shows: a CA per name, node certificates it signs (EC P-256, for
// TLS client and server use, subjectAltName localhost and 127.0.0.1).
//
//   test_pki pki;
//   pki.make_ca("cluster");
//   auto n = pki.issue("cluster", "n1");   // n.certificate, n.key
//   pki.ca("cluster")                      // the CA certificate's path

#include <string>

#include "tests/support/temp_dir.hpp"

namespace cartd::test {

class test_pki {
public:
  /// A certificate and its key (paths).
  struct issued {
    std::string certificate;
    std::string key;
  };

  test_pki();

  /// Makes a self-signed CA `name` (<dir>/<name>.ca.pem and its key);
  /// throws std::runtime_error when openssl fails.
  void make_ca(const std::string& name);

  /// The certificate path of CA `name`.
  std::string ca(const std::string& name) const;

  /// Issues a certificate with common name `cn` signed by CA `ca`, with the
  /// extended key usage `eku` (default: serverAuth,clientAuth). Throws
  /// std::runtime_error when openssl fails.
  issued issue(const std::string& ca, const std::string& cn,
               const std::string& eku = "serverAuth,clientAuth");

  /// The key of `x` encrypted with a passphrase (a new file).
  std::string encrypted_key(const issued& x);

  const std::string& dir() const noexcept { return dir_.path(); }

private:
  void run(const std::string& command);

  temp_dir dir_;
  int serial_ = 0;
};

} // namespace cartd::test
