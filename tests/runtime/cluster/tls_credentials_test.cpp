// tls_credentials: the checks a node runs on --cluster.tls.* before the actor
// system exists (CAF's openssl module would abort the process on a bad file
// later), on certificates made by the openssl command line.

#define BOOST_TEST_MODULE runtime_cluster_tls
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/cluster/tls_credentials.hpp"
#include "tests/support/test_pki.hpp"

using namespace cartd;
using cartd::test::test_pki;

namespace {

std::string contents(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool contains(const std::string& x, const std::string& part) {
  return x.find(part) != std::string::npos;
}

/// One PKI for the whole suite: a cluster CA, another CA, and a node of
/// each.
struct pki_fixture {
  pki_fixture() {
    pki.make_ca("cluster");
    pki.make_ca("other");
    node = pki.issue("cluster", "n1");
    stranger = pki.issue("other", "n1");
  }
  test_pki pki;
  test_pki::issued node;
  test_pki::issued stranger;
};

pki_fixture& pki() {
  static pki_fixture instance;
  return instance;
}

/// load's problem ("" when it loaded).
std::string problem_of(const std::string& certificate, const std::string& key,
                       const std::string& ca) {
  std::string problem;
  auto x = tls_credentials::load(certificate, key, ca, problem);
  BOOST_TEST(x.has_value() == problem.empty());
  return problem;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_node_certificate_signed_by_the_ca_loads) {
  auto& p = pki();
  std::string problem;
  auto x = tls_credentials::load(p.node.certificate, p.node.key,
                                 p.pki.ca("cluster"), problem);
  BOOST_REQUIRE_MESSAGE(x, problem);
  BOOST_TEST(contains(x->subject(), "CN=n1"), x->subject());
  BOOST_TEST(x->ca_fingerprint().rfind("sha256:", 0) == 0u);
  BOOST_TEST(x->ca_fingerprint().size() == 7u + 64u);
  // The same CA file gives the same fingerprint, another CA another one.
  auto again = tls_credentials::load(p.node.certificate, p.node.key,
                                     p.pki.ca("cluster"), problem);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->ca_fingerprint() == x->ca_fingerprint());
  auto other = tls_credentials::load(p.stranger.certificate, p.stranger.key,
                                     p.pki.ca("other"), problem);
  BOOST_REQUIRE(other);
  BOOST_TEST(other->ca_fingerprint() != x->ca_fingerprint());
}

BOOST_AUTO_TEST_CASE(caf_reads_sealed_copies_that_outlive_the_files) {
  // Copies of the three files: CAF reads its paths for every connection,
  // and a file changed or removed later must not reach it.
  test_pki own;
  own.make_ca("c");
  auto n = own.issue("c", "n");
  std::string problem;
  auto x = tls_credentials::load(n.certificate, n.key, own.ca("c"), problem);
  BOOST_REQUIRE_MESSAGE(x, problem);
  auto cert = contents(n.certificate);
  auto key = contents(n.key);
  auto ca = contents(own.ca("c"));
  BOOST_TEST(x->certificate_path() != n.certificate);
  BOOST_TEST(x->key_path() != n.key);
  BOOST_TEST(x->ca_path() != own.ca("c"));
  std::remove(n.certificate.c_str());
  std::ofstream{n.key} << "garbage";
  BOOST_TEST(contents(x->certificate_path()) == cert);
  BOOST_TEST(contents(x->key_path()) == key);
  BOOST_TEST(contents(x->ca_path()) == ca);
  // And they cannot be written.
  std::ofstream attempt{x->key_path()};
  attempt << "x";
  attempt.flush();
  BOOST_TEST(contents(x->key_path()) == key);
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_named_with_its_option) {
  auto& p = pki();
  auto missing = p.pki.dir() + "/nope.pem";
  auto problem = problem_of(missing, p.node.key, p.pki.ca("cluster"));
  BOOST_TEST(
      contains(problem, "cluster.tls.certificate: cannot read " + missing),
      problem);
  problem = problem_of(p.node.certificate, missing, p.pki.ca("cluster"));
  BOOST_TEST(contains(problem, "cluster.tls.key: cannot read"), problem);
  problem = problem_of(p.node.certificate, p.node.key, missing);
  BOOST_TEST(contains(problem, "cluster.tls.ca: cannot read"), problem);
}

BOOST_AUTO_TEST_CASE(files_without_pem_content_are_refused) {
  auto& p = pki();
  auto junk = p.pki.dir() + "/junk.pem";
  std::ofstream{junk} << "not a certificate\n";
  auto problem = problem_of(junk, p.node.key, p.pki.ca("cluster"));
  BOOST_TEST(contains(problem, "holds no PEM certificate"), problem);
  problem = problem_of(p.node.certificate, junk, p.pki.ca("cluster"));
  BOOST_TEST(contains(problem,
                      "cluster.tls.key: " + junk + " holds no PEM private key"),
             problem);
  problem = problem_of(p.node.certificate, p.node.key, junk);
  BOOST_TEST(contains(problem, "cluster.tls.ca: " + junk), problem);
}

BOOST_AUTO_TEST_CASE(a_certificate_of_another_ca_is_refused) {
  auto& p = pki();
  auto problem =
      problem_of(p.stranger.certificate, p.stranger.key, p.pki.ca("cluster"));
  BOOST_TEST(contains(problem, "does not verify against cluster.tls.ca"),
             problem);
}

BOOST_AUTO_TEST_CASE(a_key_of_another_certificate_is_refused) {
  auto& p = pki();
  auto problem =
      problem_of(p.node.certificate, p.stranger.key, p.pki.ca("cluster"));
  BOOST_TEST(contains(problem, "is not the private key of the certificate"),
             problem);
}

BOOST_AUTO_TEST_CASE(an_encrypted_key_is_refused_as_such) {
  auto& p = pki();
  auto problem = problem_of(p.node.certificate, p.pki.encrypted_key(p.node),
                            p.pki.ca("cluster"));
  BOOST_TEST(contains(problem, "is encrypted"), problem);
  BOOST_TEST(!contains(problem, "PRIVATE KEY"), problem);
}

BOOST_AUTO_TEST_CASE(a_certificate_only_for_servers_is_refused) {
  // Every node is a TLS client of the others, too.
  auto& p = pki();
  auto server_only = p.pki.issue("cluster", "s", "serverAuth");
  auto problem =
      problem_of(server_only.certificate, server_only.key, p.pki.ca("cluster"));
  BOOST_TEST(contains(problem, "as a TLS client"), problem);
}
