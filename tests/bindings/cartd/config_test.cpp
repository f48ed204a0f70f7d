#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <caf/settings.hpp>

#include "bindings/cartd/cartd_config.hpp"

using namespace cartd;

namespace {

/// Parses `args` as a command line (in an environment of `env`) and returns
/// the problem parse_args or validate() finds ("" when the configuration is
/// fine).
std::string verdict(std::vector<std::string> args,
                    const std::vector<std::string>& env = {}) {
  cartd_config cfg;
  args.insert(args.begin(), "cartd");
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  auto problem =
      cfg.parse_args(static_cast<int>(argv.size()), argv.data(), env);
  if (!problem.empty())
    return problem;
  return cfg.validate();
}

bool contains(const std::string& x, const std::string& part) {
  return x.find(part) != std::string::npos;
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
  BOOST_REQUIRE(
      cfg.parse_args(static_cast<int>(argv.size()), argv.data(), {}).empty());
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
    BOOST_TEST(starts_with(problem, std::string{"--openssl."} + option +
                                        "=/etc/x.pem: openssl." + option +
                                        " is not a cartd option"),
               option << ": " << problem);
    BOOST_TEST(problem.find("--cluster.tls.certificate") != std::string::npos,
               problem);
  }
  // In the INI file too.
  auto path = ini_file("[openssl]\ncertificate=\"/etc/x.pem\"\n");
  auto problem = verdict({"--config-file=" + path});
  std::remove(path.c_str());
  BOOST_TEST(starts_with(problem, path + ":2: openssl.certificate is not a "
                                         "cartd option"),
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
  BOOST_REQUIRE(cfg.parse_args(2, argv, {}) == "");
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
  BOOST_REQUIRE(cli.parse_args(3, argv2, {}) == "");
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

// -- sources and their order (issue 15) ---------------------------------------

namespace {

/// The configuration read from `args` in an environment of `env`; fails the
/// test on a problem.
std::unique_ptr<cartd_config> parsed(std::vector<std::string> args,
                                     const std::vector<std::string>& env) {
  auto cfg = std::make_unique<cartd_config>();
  args.insert(args.begin(), "cartd");
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  auto problem =
      cfg->parse_args(static_cast<int>(argv.size()), argv.data(), env);
  BOOST_TEST(problem == "");
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_CASE(command_line_beats_environment_beats_file_beats_default) {
  auto path = ini_file("[carts]\nmax-lines=5\nshards=6\nmax-pending=7\n");
  auto file = "--config-file=" + path;
  BOOST_TEST(parsed({}, {})->carts_max_lines == 1000u);
  BOOST_TEST(parsed({file}, {})->carts_max_lines == 5u);
  auto cfg =
      parsed({file}, {"CARTD_CARTS_MAX_LINES=8", "CARTD_CARTS_SHARDS=9"});
  BOOST_TEST(cfg->carts_max_lines == 8u);
  BOOST_TEST(cfg->carts_shards == 9u);
  BOOST_TEST(cfg->carts_max_pending == 7u);
  cfg = parsed({file, "--carts.max-lines=10"}, {"CARTD_CARTS_MAX_LINES=8"});
  BOOST_TEST(cfg->carts_max_lines == 10u);
  // The command line before the variable in argv order makes no difference.
  cfg = parsed({"--carts.max-lines=10", file}, {"CARTD_CARTS_MAX_LINES=8"});
  BOOST_TEST(cfg->carts_max_lines == 10u);
  // Flags, strings and durations, and the config file named by a variable.
  cfg = parsed({"--metrics.enabled=true"},
               {"CARTD_CONFIG_FILE=" + path, "CARTD_METRICS_ENABLED=false",
                "CARTD_STORAGE_PATH=/var/lib/cartd x",
                "CARTD_CARTS_IDLE_TIMEOUT=90s"});
  BOOST_TEST(cfg->carts_max_lines == 5u);
  BOOST_TEST(cfg->metrics_enabled);
  BOOST_TEST(cfg->storage_path == "/var/lib/cartd x");
  BOOST_CHECK(cfg->carts_idle_timeout ==
              caf::timespan{std::chrono::seconds{90}});
  cfg = parsed({}, {"CARTD_METRICS_ENABLED=false"});
  BOOST_TEST(!cfg->metrics_enabled);
  // A nested section of the file loses to the environment too.
  auto tls = ini_file("[cluster.tls]\nca=\"/file.pem\"\n");
  cfg = parsed({"--config-file=" + tls}, {"CARTD_CLUSTER_TLS_CA=/env.pem"});
  BOOST_TEST(cfg->cluster_tls_ca == "/env.pem");
  std::remove(tls.c_str());
  std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(a_variable_that_names_no_option_is_refused_naming_it) {
  auto problem = verdict({}, {"CARTD_HTTP_PROT=9000"});
  BOOST_TEST(starts_with(problem, "environment variable CARTD_HTTP_PROT names "
                                  "no cartd option (did you mean "
                                  "CARTD_HTTP_PORT?)"),
             problem);
  // Other variables are none of cartd's business.
  BOOST_TEST(verdict({}, {"HOME=/root", "CARTDX=1", "PGPASSWORD=x"}) == "");
  problem = verdict({}, {"CARTD_HTTP_PORT=http"});
  BOOST_TEST(problem == "environment variable CARTD_HTTP_PORT=http: http.port "
                        "takes a whole number from 0 to 65535");
  problem = verdict({}, {"CARTD_LOGGER_VERBOSITY=debug"});
  BOOST_TEST(starts_with(problem, "environment variable "
                                  "CARTD_LOGGER_VERBOSITY=debug: "
                                  "logger.verbosity is not a cartd option"),
             problem);
  // Actions are not options.
  BOOST_TEST(starts_with(verdict({}, {"CARTD_HELP=true"}),
                         "environment variable CARTD_HELP names no cartd"));
}

BOOST_AUTO_TEST_CASE(passwords_stay_out_of_value_errors) {
  auto path = ini_file("[storage]\npostgres=host=db password=s3cret\n");
  auto problem = verdict({"--config-file=" + path});
  std::remove(path.c_str());
  BOOST_TEST(starts_with(problem, path + ":2: cannot read postgres="), problem);
  BOOST_TEST(contains(problem, "strings are written in double quotes"),
             problem);
  BOOST_TEST(!contains(problem, "s3cret"), problem);
}

BOOST_AUTO_TEST_CASE(a_duration_without_a_unit_names_the_units) {
  auto problem = verdict({"--carts.idle-timeout=5"});
  BOOST_TEST(problem == "--carts.idle-timeout=5: carts.idle-timeout takes a "
                        "duration with a unit: ns, us, ms, s, min or h (such "
                        "as 30s or 250ms)");
  auto path = ini_file("; cartd\n[carts]\nshards=2\nidle-timeout=5\n");
  problem = verdict({"--config-file=" + path});
  std::remove(path.c_str());
  BOOST_TEST(starts_with(problem, path + ":4: idle-timeout=5 in [carts]: "
                                         "carts.idle-timeout takes a duration "
                                         "with a unit: ns, us, ms, s, min"),
             problem);
}

BOOST_AUTO_TEST_CASE(config_file_errors_name_file_line_option_and_value) {
  struct {
    const char* text;
    const char* message; // after "PATH:"
  } cases[] = {
      {"[http]\nport=8080\nhost=localhost\n",
       "3: cannot read host=localhost in [http] (unexpected character): "
       "strings are written in double quotes: host=\"localhost\""},
      {"[carts]\nidle-timout=5s\n",
       "2: unknown option carts.idle-timout in [carts] (did you mean "
       "carts.idle-timeout?)"},
      {"[http]\nport=\"8080\"\n",
       "2: port=\"8080\" in [http]: http.port takes a whole number from 0 to "
       "65535"},
      {"[logger]\nverbosity='debug'\n",
       "2: logger.verbosity is not a cartd option: cartd logs through "
       "--log.level, --log.format, --log.access and --log.access-file; CAF's "
       "logger.* change nothing"},
      {"[scheduler]\npolicy=sharing\n",
       "2: cannot read policy=sharing in [scheduler] (unexpected character): "
       "scheduler.policy takes a word (in a config file in single quotes, "
       "such as 'stealing')"},
  };
  for (auto& x : cases) {
    auto path = ini_file(x.text);
    auto problem = verdict({"--config-file=" + path});
    std::remove(path.c_str());
    BOOST_TEST(problem == path + ":" + x.message);
  }
  BOOST_TEST(verdict({"--config-file=/nonexistent/cartd.ini"}) ==
             "cannot read config file /nonexistent/cartd.ini: No such file "
             "or directory");
}

BOOST_AUTO_TEST_CASE(caf_options_cartd_does_not_honour_are_refused) {
  for (auto arg :
       {"--openssl.cafile=x", "--logger.file-name=x",
        "--stream.max-batch-delay=1s", "--opencl.device-ids=[1]",
        "--middleman.heartbeat-interval=1s",
        "--middleman.connection-timeout=1s",
        "--middleman.enable-automatic-connections",
        "--middleman.app-identifiers=[\"x\"]",
        "--middleman.network-backend=asio", "--middleman.manual-multiplexing",
        "--middleman.attach-utility-actors"}) {
    auto problem = verdict({arg});
    BOOST_TEST(contains(problem, " is not a cartd option: "),
               arg << ": " << problem);
  }
  BOOST_TEST(verdict({"--scheduler.policy=foo"}) ==
             "scheduler.policy must be stealing or sharing, not foo");
  BOOST_TEST(verdict({"--scheduler.policy=sharing"}) == "");
  BOOST_TEST(verdict({"--scheduler.max-threads=2", "--middleman.workers=2",
                      "--work-stealing.moderate-poll-attempts=5"}) == "");
  // --help lists none of them.
  cartd_config cfg;
  auto help = cfg.help_text();
  for (auto group : {"--openssl.", "--logger.", "--stream.", "--opencl.",
                     "--middleman.heartbeat", "--middleman.app"})
    BOOST_TEST(!contains(help, group), group);
}

BOOST_AUTO_TEST_CASE(unknown_and_valueless_arguments_are_refused_in_words) {
  BOOST_TEST(verdict({"--htp.port=1"}) ==
             "unknown option --htp.port (did you mean --http.port?); see "
             "--help");
  BOOST_TEST(verdict({"serve"}) == "unexpected argument serve: options are "
                                   "written --group.name=value (see --help)");
  BOOST_TEST(verdict({"--http.port"}) ==
             "--http.port needs a value: --http.port=<number>, a whole number "
             "from 0 to 65535");
  BOOST_TEST(verdict({"--metrics.enabled=yes"}) ==
             "--metrics.enabled=yes: metrics.enabled takes true or false");
}

BOOST_AUTO_TEST_CASE(help_shows_each_option_with_its_variable_and_default) {
  cartd_config cfg;
  auto help = cfg.help_text();
  BOOST_TEST(contains(help, "  --http.port=<number>\n      CARTD_HTTP_PORT, "
                            "default 8080\n"),
             help);
  BOOST_TEST(contains(help, "  --carts.idle-timeout=<duration>\n      "
                            "CARTD_CARTS_IDLE_TIMEOUT, default 2min\n"));
  BOOST_TEST(contains(help, "  --storage.path=<text>\n      "
                            "CARTD_STORAGE_PATH, default \"./data\"\n"));
  BOOST_TEST(contains(help, "  --cluster.enabled[=true|false]\n      "
                            "CARTD_CLUSTER_ENABLED, default false\n"));
  BOOST_TEST(contains(help, "CARTD_SCHEDULER_MAX_THREADS, default "));
  // Every option has its line.
  for (auto name : {"--http.host=", "--admin.port=", "--storage.postgres=",
                    "--cluster.tls.ca=", "--log.access-file=", "--config-file=",
                    "--work-stealing.moderate-sleep-duration"})
    BOOST_TEST(contains(help, name), name);
}

BOOST_AUTO_TEST_CASE(dump_lists_every_option_and_reads_back_the_same) {
  auto cfg = parsed({"--storage.backend=postgres",
                     "--storage.postgres=host=db password=s3cret",
                     "--carts.idle-timeout=90s", "--scheduler.policy=sharing"},
                    {"CARTD_CLUSTER_TLS_CA=/ca \"x\".pem"});
  auto dump = cfg->dump_text();
  BOOST_TEST(!contains(dump, "s3cret"));
  for (auto line :
       {"[http]\n", "\nport=8080\n", "[carts]\n", "idle-timeout=90s\n",
        "[cluster.tls]\nca=\"/ca \\\"x\\\".pem\"\n", "backend=\"postgres\"\n",
        "policy='sharing'\n", "max-threads=", "[work-stealing]\n"})
    BOOST_TEST(contains(dump, line), line << " in\n" << dump);
  auto path = ini_file(dump);
  auto again = parsed({"--config-file=" + path}, {});
  std::remove(path.c_str());
  BOOST_TEST(again->dump_text() == dump);
  BOOST_TEST(again->cluster_tls_ca == "/ca \"x\".pem");
}
