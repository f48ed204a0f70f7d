// End-to-end test of deploy/nginx-https.conf.in: nginx terminating HTTPS in
// front of real cartd nodes, driven with curl over TLS (the certificate
// checked against a throwaway CA made with the openssl command line).
//
//   curl ──HTTPS──► nginx ──HTTP──► n0 / n1

#define BOOST_TEST_MODULE e2e_nginx_https
#include "tests/e2e/e2e.hpp"
#include "tests/e2e/keyed_load.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_pki.hpp"

using namespace cartd::test;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void replace_all(std::string& x, const std::string& what,
                 const std::string& with) {
  for (auto i = x.find(what); i != std::string::npos;
       i = x.find(what, i + with.size()))
    x.replace(i, what.size(), with);
}

/// A TCP port nothing listens on right now.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// nginx in the foreground on deploy/nginx-https.conf.in, stopped (SIGTERM
/// to its master, our child) at the end.
class nginx_process {
public:
  nginx_process(const std::string& work, uint16_t port,
                const std::vector<uint16_t>& upstreams,
                const test_pki::issued& server)
      : work_(work) {
    auto conf = read_all(CARTD_SOURCE_DIR "/deploy/nginx-https.conf.in");
    BOOST_REQUIRE(!conf.empty());
    std::string servers;
    for (auto p : upstreams)
      servers += "    server 127.0.0.1:" + std::to_string(p) + ";\n";
    replace_all(conf, "@UPSTREAMS@\n", servers);
    replace_all(conf, "@LB_PORT@", std::to_string(port));
    replace_all(conf, "@WORK@", work);
    replace_all(conf, "@CERTIFICATE@", server.certificate);
    replace_all(conf, "@KEY@", server.key);
    std::filesystem::create_directories(work + "/logs");
    std::ofstream{work + "/nginx.conf"} << conf;
    pid_ = ::fork();
    if (pid_ == 0) {
      auto err = work + "/logs/stderr.log";
      std::freopen(err.c_str(), "w", stderr);
      ::execlp("nginx", "nginx", "-p", work.c_str(), "-c",
               (work + "/nginx.conf").c_str(), "-g", "daemon off;", nullptr);
      ::_exit(127);
    }
    // Ready once the pid file is there (written after the sockets are
    // bound).
    for (int i = 0; i < 200 && read_all(work + "/nginx.pid").empty(); ++i)
      std::this_thread::sleep_for(50ms);
    BOOST_REQUIRE_MESSAGE(!read_all(work + "/nginx.pid").empty(),
                          "nginx did not start: "
                              << read_all(work + "/logs/stderr.log")
                              << read_all(work + "/logs/error.log"));
  }

  ~nginx_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

private:
  std::string work_;
  pid_t pid_ = -1;
};

/// What curl got: the status line's code (0: no response) and the body.
struct curl_result {
  int status = 0;
  std::string body;
  std::string err;
};

/// Runs curl with `args` (status code appended after the body).
curl_result curl(const std::string& work, const std::string& args) {
  auto err_file = work + "/curl.err";
  auto command =
      "curl -sS --max-time 10 -w '\\n%{http_code}' " + args + " 2>" + err_file;
  curl_result result;
  if (auto* pipe = ::popen(command.c_str(), "r")) {
    char buf[4096];
    std::string out;
    while (auto n = std::fread(buf, 1, sizeof(buf), pipe))
      out.append(buf, n);
    ::pclose(pipe);
    auto nl = out.rfind('\n');
    if (nl != std::string::npos) {
      result.body = out.substr(0, nl);
      result.status = std::atoi(out.c_str() + nl + 1);
    }
  }
  result.err = read_all(err_file);
  return result;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_request_through_nginx_https_reaches_a_node) {
  test_pki pki;
  pki.make_ca("front");
  pki.make_ca("other");
  auto server = pki.issue("front", "localhost", "serverAuth");
  test_node node;
  auto port = free_port();
  nginx_process nginx{pki.dir() + "/nginx", port, {node.port()}, server};
  auto base = "https://127.0.0.1:" + std::to_string(port);
  auto ca = " --cacert '" + pki.ca("front") + "' ";
  // A change and a read over HTTPS, the server's certificate verified.
  auto added = curl(pki.dir(), ca + "-H 'Content-Type: application/json' " +
                                   "-d '{\"item\":\"apple\",\"quantity\":3}' " +
                                   base + items_path("tls-cart"));
  BOOST_TEST_CONTEXT("curl: " << added.err << " body: " << added.body) {
    BOOST_TEST(added.status == 200);
  }
  auto got = curl(pki.dir(), ca + base + cart_path("tls-cart"));
  BOOST_REQUIRE_MESSAGE(got.status == 200, got.err << got.body);
  BOOST_TEST(quantity_of(json::parse(got.body), "apple") == 3);
  // The node itself saw it (plain HTTP behind nginx).
  auto direct = call(node.port(), "GET", cart_path("tls-cart"));
  BOOST_TEST(quantity_of(body_json(direct), "apple") == 3);
  // It is TLS: a client trusting another CA refuses the server, and plain
  // HTTP to the port gets nginx's 400, not a cart.
  auto untrusted = curl(pki.dir(), " --cacert '" + pki.ca("other") + "' " +
                                       base + cart_path("tls-cart"));
  BOOST_TEST(untrusted.status == 0, untrusted.body);
  auto plain = curl(pki.dir(), "http://127.0.0.1:" + std::to_string(port) +
                                   cart_path("tls-cart"));
  BOOST_TEST(plain.status == 400);
}
