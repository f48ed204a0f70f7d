#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <caf/settings.hpp>

#include "bindings/cartd/cartd_config.hpp"

using namespace cartd;

namespace {

/// Parses `args` as a command line and returns validate()'s verdict ("" when
/// the configuration is fine); a parse error is returned as "parse error".
std::string verdict(std::vector<std::string> args) {
  cartd_config cfg;
  args.insert(args.begin(), "cartd");
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  if (cfg.parse_args(static_cast<int>(argv.size()), argv.data()))
    return "parse error";
  return cfg.validate();
}

bool starts_with(const std::string& x, const std::string& prefix) {
  return x.rfind(prefix, 0) == 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(sqlite_stays_the_default_backend) {
  cartd_config cfg;
  BOOST_TEST(cfg.storage_backend == "sqlite");
  BOOST_TEST(cfg.storage_postgres_schema == "cartd");
  BOOST_TEST(cfg.storage_readers == 4u);
  BOOST_TEST(verdict({}) == "");
}

BOOST_AUTO_TEST_CASE(an_unknown_backend_is_refused_naming_all_three) {
  auto problem = verdict({"--storage.backend=mysql"});
  BOOST_TEST(problem ==
             "storage.backend must be sqlite, postgres or memory, not mysql");
  BOOST_TEST(verdict({"--storage.backend=postgres",
                      "--storage.postgres=host=db dbname=shop"}) == "");
  BOOST_TEST(verdict({"--storage.backend=postgres",
                      "--storage.postgres=postgresql://cart@db/shop"}) == "");
}

BOOST_AUTO_TEST_CASE(a_connection_string_libpq_refuses_is_refused_masked) {
  auto problem = verdict({"--storage.backend=postgres",
                          "--storage.postgres=host=db password=s3cret x"});
  BOOST_TEST(starts_with(problem, "storage.postgres is not a connection"),
             problem);
  BOOST_TEST(problem.find("s3cret") == std::string::npos, problem);
  problem = verdict({"--storage.backend=postgres",
                     "--storage.postgres=host=db password=s3cret bogus=1"});
  BOOST_TEST(starts_with(problem, "storage.postgres is not a connection"),
             problem);
  BOOST_TEST(problem.find("s3cret") == std::string::npos, problem);
}

BOOST_AUTO_TEST_CASE(schema_names_must_need_no_quoting) {
  BOOST_TEST(verdict({"--storage.postgres-schema=cart_2"}) == "");
  BOOST_TEST(verdict({"--storage.postgres-schema=_x"}) == "");
  for (auto bad : {"Cart", "2cart", "cart-x", "a;drop", "c\"x",
                   "a123456789012345678901234567890123456789012345678901234567"
                   "890123"}) {
    auto problem = verdict({std::string{"--storage.postgres-schema="} + bad});
    BOOST_TEST(starts_with(problem, "storage.postgres-schema must be"),
               bad << ": " << problem);
  }
}

BOOST_AUTO_TEST_CASE(retries_must_end_before_the_request_timeout) {
  BOOST_TEST(verdict({"--storage.retry-for=4s"}) == "");
  BOOST_TEST(starts_with(verdict({"--storage.retry-for=5s"}),
                         "storage.retry-for must be below"));
  BOOST_TEST(starts_with(
      verdict({"--storage.retry-for=3s", "--http.request-timeout=2s"}),
      "storage.retry-for must be below"));
}

BOOST_AUTO_TEST_CASE(retries_default_to_1s_or_half_the_request_timeout) {
  using std::chrono::milliseconds;
  auto ms = [](caf::timespan x) {
    return std::chrono::duration_cast<milliseconds>(x).count();
  };
  cartd_config cfg;
  BOOST_TEST(ms(cfg.retry_for()) == 1000);
  cfg.http_request_timeout = milliseconds{500};
  BOOST_TEST(ms(cfg.retry_for()) == 250);
  BOOST_TEST(cfg.validate() == "");
  cfg.storage_retry_for = milliseconds{100};
  BOOST_TEST(ms(cfg.retry_for()) == 100);
}

BOOST_AUTO_TEST_CASE(an_import_needs_a_sqlite_path_and_the_postgres_backend) {
  BOOST_TEST(verdict({"--storage.backend=postgres",
                      "--storage.import=sqlite:/var/lib/cartd"}) == "");
  BOOST_TEST(starts_with(verdict({"--storage.backend=postgres",
                                  "--storage.import=/var/lib/cartd"}),
                         "storage.import must be sqlite:PATH"));
  BOOST_TEST(starts_with(
      verdict({"--storage.backend=postgres", "--storage.import=sqlite:"}),
      "storage.import must be sqlite:PATH"));
  BOOST_TEST(starts_with(verdict({"--storage.import=sqlite:/var/lib/cartd"}),
                         "storage.import copies into PostgreSQL"));
}

BOOST_AUTO_TEST_CASE(dumped_configuration_masks_the_password) {
  cartd_config cfg;
  std::vector<std::string> args{
      "cartd", "--storage.backend=postgres",
      "--storage.postgres=host=db password=s3cret dbname=shop"};
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  BOOST_REQUIRE(!cfg.parse_args(static_cast<int>(argv.size()), argv.data()));
  BOOST_TEST(cfg.storage_postgres == "host=db password=s3cret dbname=shop");
  auto dump = cfg.dump_content();
  auto text = caf::to_string(caf::config_value{dump});
  BOOST_TEST(text.find("s3cret") == std::string::npos, text);
  BOOST_TEST(text.find("password=*****") != std::string::npos, text);
  BOOST_TEST(text.find("dbname=shop") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(cluster_mode_is_off_by_default_with_the_issues_timing) {
  cartd_config cfg;
  BOOST_TEST(!cfg.cluster_enabled);
  BOOST_TEST(cfg.cluster_port == 0u);
  BOOST_CHECK(cfg.cluster_lease == caf::timespan{std::chrono::seconds{2}});
  BOOST_CHECK(cfg.cluster_heartbeat ==
              caf::timespan{std::chrono::milliseconds{500}});
  // The name defaults to the HTTP address.
  cfg.http_host = "10.0.0.7";
  cfg.http_port = 8081;
  BOOST_TEST(cfg.cluster_node_name() == "10.0.0.7:8081");
  cfg.cluster_node = "cart-a";
  BOOST_TEST(cfg.cluster_node_name() == "cart-a");
}

BOOST_AUTO_TEST_CASE(cluster_mode_refuses_any_journal_but_postgres) {
  for (auto backend : {"sqlite", "memory"}) {
    auto problem = verdict(
        {"--cluster.enabled", std::string{"--storage.backend="} + backend});
    BOOST_TEST(starts_with(problem, "cluster.enabled needs "
                                    "--storage.backend=postgres"),
               problem);
    BOOST_TEST(problem.find(backend) != std::string::npos, problem);
  }
  // The default backend (sqlite) too, and --flag=true like --flag.
  BOOST_TEST(starts_with(verdict({"--cluster.enabled=true"}),
                         "cluster.enabled needs --storage.backend=postgres"));
  BOOST_TEST(verdict({"--cluster.enabled", "--storage.backend=postgres"}) ==
             "");
  BOOST_TEST(verdict({"--cluster.enabled=false"}) == "");
}

BOOST_AUTO_TEST_CASE(cluster_heartbeat_must_be_below_the_lease) {
  auto pg = std::string{"--storage.backend=postgres"};
  BOOST_TEST(verdict({"--cluster.enabled", pg, "--cluster.lease=1s",
                      "--cluster.heartbeat=250ms"}) == "");
  for (auto heartbeat : {"1s", "2s"}) {
    auto problem = verdict({"--cluster.enabled", pg, "--cluster.lease=1s",
                            std::string{"--cluster.heartbeat="} + heartbeat});
    BOOST_TEST(starts_with(problem, "cluster.heartbeat must be below "
                                    "cluster.lease"),
               heartbeat << ": " << problem);
  }
  BOOST_TEST(
      starts_with(verdict({"--cluster.enabled", pg, "--cluster.heartbeat=0s"}),
                  "cluster.heartbeat must be positive"));
  // Outside cluster mode the cluster options are not checked.
  BOOST_TEST(verdict({"--cluster.lease=1s", "--cluster.heartbeat=2s"}) == "");
}

BOOST_AUTO_TEST_CASE(cluster_node_names_are_checked) {
  auto pg = std::string{"--storage.backend=postgres"};
  BOOST_TEST(verdict({"--cluster.enabled", pg, "--cluster.node=a-1"}) == "");
  BOOST_TEST(
      starts_with(verdict({"--cluster.enabled", pg, "--cluster.node=a b"}),
                  "cluster.node must not contain spaces"));
  BOOST_TEST(starts_with(verdict({"--cluster.enabled", pg,
                                  "--cluster.node=" + std::string(129, 'x')}),
                         "cluster.node must be at most 128 bytes"));
  // An ephemeral HTTP port gives no stable default name.
  BOOST_TEST(starts_with(verdict({"--cluster.enabled", pg, "--http.port=0"}),
                         "cluster.node must be set when http.port is 0"));
  BOOST_TEST(verdict({"--cluster.enabled", pg, "--http.port=0",
                      "--cluster.node=n1"}) == "");
  BOOST_TEST(starts_with(
      verdict({"--cluster.enabled", pg, "--storage.import=sqlite:/x"}),
      "storage.import runs alone"));
}

namespace {

/// Writes `text` to a fresh INI file and returns its path.
std::string ini_file(const std::string& text) {
  static int n = 0;
  auto path = std::string{"/tmp/cartd-config-test-"} +
              std::to_string(::getpid()) + "-" + std::to_string(n++) + ".ini";
  std::ofstream{path} << text;
  return path;
}

} // namespace

BOOST_AUTO_TEST_CASE(openssl_options_are_refused_naming_the_cluster_tls_ones) {
  // CAF declares them; without cartd's check they were accepted and did
  // nothing (no HTTPS, no TLS between nodes).
  for (auto option : {"certificate", "key", "passphrase", "capath", "cafile"}) {
    auto problem =
        verdict({std::string{"--openssl."} + option + "=/etc/x.pem"});
    BOOST_TEST(starts_with(problem, std::string{"openssl."} + option +
                                        " is not a cartd option"),
               option << ": " << problem);
    BOOST_TEST(problem.find("--cluster.tls.certificate") != std::string::npos,
               problem);
  }
  // In the INI file too.
  auto path = ini_file("[openssl]\ncertificate=\"/etc/x.pem\"\n");
  auto problem = verdict({"--config-file=" + path});
  std::remove(path.c_str());
  BOOST_TEST(starts_with(problem, "openssl.certificate is not a cartd option"),
             problem);
}

BOOST_AUTO_TEST_CASE(cluster_tls_options_go_together_and_need_cluster_mode) {
  auto pg = std::string{"--storage.backend=postgres"};
  std::vector<std::string> all{"--cluster.tls.certificate=/c.pem",
                               "--cluster.tls.key=/k.pem",
                               "--cluster.tls.ca=/ca.pem"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--cluster.enabled", pg});
    return verdict(std::move(args));
  };
  BOOST_TEST(with(all) == "");
  for (size_t left_out = 0; left_out < all.size(); ++left_out) {
    auto some = all;
    some.erase(some.begin() + static_cast<ptrdiff_t>(left_out));
    auto problem = with(some);
    BOOST_TEST(starts_with(problem, "cluster.tls.certificate, cluster.tls.key "
                                    "and cluster.tls.ca go together"),
               left_out << ": " << problem);
  }
  BOOST_TEST(starts_with(verdict(all), "cluster.tls.* secure the traffic "
                                       "between cluster nodes"));
  cartd_config cfg;
  BOOST_TEST(!cfg.cluster_tls());
}

BOOST_AUTO_TEST_CASE(cluster_tls_options_are_read_from_the_ini_file) {
  auto path = ini_file("[storage]\nbackend=\"postgres\"\n"
                       "[cluster]\nenabled=true\n"
                       "[cluster.tls]\ncertificate=\"/c.pem\"\n"
                       "key=\"/k.pem\"\nca=\"/ca.pem\"\n");
  cartd_config cfg;
  std::string config_file = "--config-file=" + path;
  std::string program = "cartd";
  char* argv[] = {program.data(), config_file.data()};
  BOOST_REQUIRE(!cfg.parse_args(2, argv));
  auto problem = cfg.validate();
  std::remove(path.c_str());
  BOOST_TEST(problem == "");
  BOOST_TEST(cfg.cluster_tls_certificate == "/c.pem");
  BOOST_TEST(cfg.cluster_tls_key == "/k.pem");
  BOOST_TEST(cfg.cluster_tls_ca == "/ca.pem");
  // The command line wins.
  path = ini_file("[cluster.tls]\ncertificate=\"/ini.pem\"\n");
  cartd_config cli;
  config_file = "--config-file=" + path;
  std::string option = "--cluster.tls.certificate=/cli.pem";
  char* argv2[] = {program.data(), config_file.data(), option.data()};
  BOOST_REQUIRE(!cli.parse_args(3, argv2));
  std::remove(path.c_str());
  BOOST_TEST(cli.cluster_tls_certificate == "/cli.pem");
  // An unknown entry in the nested section is refused like any.
  path = ini_file("[cluster.tls]\ncertficate=\"/x.pem\"\n");
  auto problem2 = verdict({"--config-file=" + path});
  std::remove(path.c_str());
  BOOST_TEST(problem2.find("unknown option cluster.tls.certficate") !=
                 std::string::npos,
             problem2);
}
