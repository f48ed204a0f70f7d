#include "tests/support/test_pki.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace cartd::test {

test_pki::test_pki() : dir_("cartd-test-pki-") {}

void test_pki::run(const std::string& command) {
  auto line = "cd '" + dir() + "' && " + command + " >>openssl.log 2>&1";
  if (std::system(line.c_str()) != 0)
    throw std::runtime_error("openssl failed (see " + dir() +
                             "/openssl.log): " + command);
}

void test_pki::make_ca(const std::string& name) {
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -keyout '" +
      name + ".ca.key' -out '" + name + ".ca.pem' -days 2 -subj '/CN=" + name +
      " CA' -addext basicConstraints=critical,CA:TRUE -addext "
      "keyUsage=critical,keyCertSign,cRLSign");
}

std::string test_pki::ca(const std::string& name) const {
  return dir() + "/" + name + ".ca.pem";
}

test_pki::issued test_pki::issue(const std::string& ca, const std::string& cn,
                                 const std::string& eku) {
  auto base = ca + "." + cn + "." + std::to_string(serial_++);
  {
    std::ofstream ext{dir() + "/" + base + ".ext"};
    ext << "basicConstraints=CA:FALSE\n"
           "keyUsage=critical,digitalSignature\n"
           "extendedKeyUsage="
        << eku << "\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n";
  }
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout '" +
      base + ".key' -out '" + base + ".csr' -subj '/CN=" + cn + "'");
  run("openssl x509 -req -in '" + base + ".csr' -CA '" + ca + ".ca.pem' " +
      "-CAkey '" + ca + ".ca.key' -CAcreateserial -days 2 -out '" + base +
      ".pem' -extfile '" + base + ".ext'");
  return {dir() + "/" + base + ".pem", dir() + "/" + base + ".key"};
}

std::string test_pki::encrypted_key(const issued& x) {
  auto out = x.key + ".enc";
  run("openssl pkey -in '" + x.key + "' -aes256 -passout pass:secret -out '" +
      out + "'");
  return out;
}

} // namespace cartd::test
