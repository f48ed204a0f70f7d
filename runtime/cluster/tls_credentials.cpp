#include "runtime/cluster/tls_credentials.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace cartd {

namespace {

struct bio_deleter {
  void operator()(BIO* x) const noexcept { BIO_free(x); }
};
struct x509_deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_deleter {
  void operator()(EVP_PKEY* x) const noexcept { EVP_PKEY_free(x); }
};
struct store_deleter {
  void operator()(X509_STORE* x) const noexcept { X509_STORE_free(x); }
};
struct store_ctx_deleter {
  void operator()(X509_STORE_CTX* x) const noexcept { X509_STORE_CTX_free(x); }
};
struct stack_deleter {
  void operator()(STACK_OF(X509) * x) const noexcept { sk_X509_free(x); }
};

using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

/// The whole file, or nothing with `problem` set.
std::optional<std::string>
read_file(const char* option, const std::string& path, std::string& problem) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    problem = std::string{option} + ": cannot read " + path + ": " +
              std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bio_ptr memory_bio(const std::string& text) {
  return bio_ptr{BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))};
}

/// Every PEM certificate in `text`, in order.
std::vector<x509_ptr> certificates_in(const std::string& text) {
  std::vector<x509_ptr> result;
  auto bio = memory_bio(text);
  while (auto* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    result.emplace_back(cert);
  ERR_clear_error(); // the end of the input reads as an error
  return result;
}

/// Never asks for a passphrase: an encrypted key fails to load.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

/// "sha256:<hex>" over the DER encodings of `certs`.
std::string fingerprint_of(const std::vector<x509_ptr>& certs) {
  std::string der;
  for (auto& cert : certs) {
    unsigned char* buf = nullptr;
    auto len = i2d_X509(cert.get(), &buf);
    if (len > 0)
      der.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
    OPENSSL_free(buf);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(der.data(), der.size(), md, &md_len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string result = "sha256:";
  for (unsigned int i = 0; i < md_len; ++i) {
    result += hex[md[i] >> 4];
    result += hex[md[i] & 0xf];
  }
  return result;
}

/// Why `chain` (leaf first) does not verify against `cas` for `purpose`, or
/// an empty string.
std::string verify(const std::vector<x509_ptr>& chain,
                   const std::vector<x509_ptr>& cas, int purpose) {
  std::unique_ptr<X509_STORE, store_deleter> store{X509_STORE_new()};
  for (auto& ca : cas)
    X509_STORE_add_cert(store.get(), ca.get());
  std::unique_ptr<STACK_OF(X509), stack_deleter> untrusted{sk_X509_new_null()};
  for (size_t i = 1; i < chain.size(); ++i)
    sk_X509_push(untrusted.get(), chain[i].get());
  std::unique_ptr<X509_STORE_CTX, store_ctx_deleter> ctx{X509_STORE_CTX_new()};
  if (!store || !untrusted || !ctx ||
      X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(),
                          untrusted.get()) != 1)
    return "out of memory";
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (X509_verify_cert(ctx.get()) == 1)
    return {};
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

/// The descriptor of a sealed in-memory copy of `text` (read through
/// /proc/self/fd/<fd>), or -1: then CAF reads the original file.
int sealed_copy(const char* name, const std::string& text) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return -1;
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ::close(fd);
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  fcntl(fd, F_ADD_SEALS,
        F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  // CAF opens the path anew: check that this works here (/proc mounted).
  auto path = "/proc/self/fd/" + std::to_string(fd);
  int probe = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (probe < 0) {
    ::close(fd);
    return -1;
  }
  ::close(probe);
  return fd;
}

} // namespace

struct tls_credentials::impl {
  std::string certificate_path;
  std::string key_path;
  std::string ca_path;
  std::string ca_fingerprint;
  std::string subject;
  std::vector<int> fds;

  ~impl() {
    for (auto fd : fds)
      ::close(fd);
  }

  /// Points `path` at a sealed copy of `text` when one can be made.
  void use_copy(std::string& path, const char* name, const std::string& text) {
    auto fd = sealed_copy(name, text);
    if (fd < 0)
      return;
    fds.push_back(fd);
    path = "/proc/self/fd/" + std::to_string(fd);
  }
};

std::optional<tls_credentials>
tls_credentials::load(const std::string& certificate, const std::string& key,
                      const std::string& ca, std::string& problem) {
  auto cert_text = read_file("cluster.tls.certificate", certificate, problem);
  if (!cert_text)
    return std::nullopt;
  auto key_text = read_file("cluster.tls.key", key, problem);
  if (!key_text)
    return std::nullopt;
  auto ca_text = read_file("cluster.tls.ca", ca, problem);
  if (!ca_text)
    return std::nullopt;
  auto chain = certificates_in(*cert_text);
  if (chain.empty()) {
    problem =
        "cluster.tls.certificate: " + certificate + " holds no PEM certificate";
    return std::nullopt;
  }
  auto cas = certificates_in(*ca_text);
  if (cas.empty()) {
    problem = "cluster.tls.ca: " + ca + " holds no PEM certificate";
    return std::nullopt;
  }
  pkey_ptr pkey;
  {
    auto bio = memory_bio(*key_text);
    pkey.reset(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    ERR_clear_error();
  }
  if (!pkey) {
    problem = "cluster.tls.key: " + key +
              (key_text->find("ENCRYPTED") != std::string::npos
                   ? " is encrypted (cartd reads unencrypted keys: protect "
                     "the file by its permissions)"
                   : " holds no PEM private key");
    return std::nullopt;
  }
  if (X509_check_private_key(chain.front().get(), pkey.get()) != 1) {
    ERR_clear_error();
    problem = "cluster.tls.key: " + key +
              " is not the private key of the certificate in " + certificate;
    return std::nullopt;
  }
  for (auto [purpose, role] : {std::pair{X509_PURPOSE_SSL_SERVER, "server"},
                               std::pair{X509_PURPOSE_SSL_CLIENT, "client"}}) {
    auto why = verify(chain, cas, purpose);
    if (!why.empty()) {
      problem = "cluster.tls.certificate: " + certificate +
                " does not verify against cluster.tls.ca " + ca + " as a TLS " +
                role + " (every node is both): " + why;
      return std::nullopt;
    }
  }
  auto result = std::make_unique<impl>();
  result->certificate_path = certificate;
  result->key_path = key;
  result->ca_path = ca;
  result->ca_fingerprint = fingerprint_of(cas);
  char subject[512];
  X509_NAME_oneline(X509_get_subject_name(chain.front().get()), subject,
                    sizeof(subject));
  result->subject = subject;
  result->use_copy(result->certificate_path, "cartd-tls-certificate",
                   *cert_text);
  result->use_copy(result->key_path, "cartd-tls-key", *key_text);
  result->use_copy(result->ca_path, "cartd-tls-ca", *ca_text);
  return tls_credentials{std::move(result)};
}

tls_credentials::tls_credentials(std::unique_ptr<impl> ptr)
    : impl_(std::move(ptr)) {}

tls_credentials::tls_credentials(tls_credentials&&) noexcept = default;

tls_credentials&
tls_credentials::operator=(tls_credentials&&) noexcept = default;

tls_credentials::~tls_credentials() = default;

const std::string& tls_credentials::certificate_path() const noexcept {
  return impl_->certificate_path;
}

const std::string& tls_credentials::key_path() const noexcept {
  return impl_->key_path;
}

const std::string& tls_credentials::ca_path() const noexcept {
  return impl_->ca_path;
}

const std::string& tls_credentials::ca_fingerprint() const noexcept {
  return impl_->ca_fingerprint;
}

const std::string& tls_credentials::subject() const noexcept {
  return impl_->subject;
}

} // namespace cartd
