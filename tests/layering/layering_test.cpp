// Fails when an #include crosses a forbidden edge between components (see
// README.md, "Layout"). Project includes are written from the
// repository root, e.g. "runtime/journal/journal.hpp".

#define BOOST_TEST_MODULE layering
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;

namespace {

// -- parsing ------------------------------------------------------------------

/// One `#include` line.
struct include_directive {
  int line = 0;
  /// The path between the quotes or angle brackets.
  std::string target;
  /// True for `<...>`.
  bool angled = false;
};

std::vector<include_directive> parse_includes(std::string_view text) {
  static const std::regex pattern{R"(^\s*#\s*include\s*([<"])([^">]+)[">])"};
  std::vector<include_directive> result;
  std::istringstream in{std::string{text}};
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::smatch match;
    if (std::regex_search(line, match, pattern))
      result.push_back({number, match[2].str(), match[1].str() == "<"});
  }
  return result;
}

// -- rules --------------------------------------------------------------------

bool under(std::string_view path, std::string_view prefix) {
  return path.substr(0, prefix.size()) == prefix;
}

bool is_project_path(std::string_view path) {
  return under(path, "actors/") || under(path, "runtime/") ||
         under(path, "bindings/");
}

bool is_concrete_journal(std::string_view path) {
  return under(path, "runtime/journal/memory_journal") ||
         under(path, "runtime/journal/sqlite") ||
         under(path, "runtime/journal/postgres");
}

/// Returns why `from` may not include `to`, or an empty string if it may.
/// Both are paths from the repository root; `angled` marks a `<...>` include
/// that does not name a project file.
std::string forbidden_edge(std::string_view from, std::string_view to,
                           bool angled) {
  if (under(from, "actors/cart/model/")) {
    if (angled) {
      if (under(to, "caf/") || under(to, "boost/"))
        return "the cart model uses the C++ standard library only";
      return {};
    }
    if (!under(to, "actors/cart/model/"))
      return "the cart model may include only actors/cart/model";
    return {};
  }
  if (under(from, "actors/cart/actor/write_pipeline")) {
    if (angled) {
      if (under(to, "caf/") || under(to, "boost/"))
        return "the write pipeline uses the C++ standard library only";
      return {};
    }
    if (!under(to, "actors/cart/model/") &&
        !under(to, "actors/cart/actor/write_pipeline"))
      return "the write pipeline may include only itself and the model";
    return {};
  }
  if (angled)
    return {};
  if (under(to, "bindings/cartd/") && !under(from, "bindings/cartd/"))
    return "nothing may include the composition root bindings/cartd";
  if (under(from, "runtime/") &&
      (under(to, "actors/") || under(to, "bindings/")))
    return "runtime may not include actors or bindings";
  if (under(from, "actors/")) {
    if (under(to, "bindings/"))
      return "actors may not include bindings";
    if (under(from, "actors/cart/") && is_concrete_journal(to))
      return "the cart actor may not name a concrete journal backend";
  }
  if (under(from, "bindings/http/") &&
      (under(to, "actors/") || under(to, "bindings/cart_http/")))
    return "the generic HTTP server may not include actors or cart routes";
  if (under(from, "bindings/admin/")) {
    if (under(to, "actors/") && !under(to, "actors/cart/protocol/") &&
        !under(to, "actors/cart/model/"))
      return "management routes may use only actors/cart/protocol and model";
    if (under(to, "runtime/journal/"))
      return "management routes may not include the journal";
  }
  if (under(from, "bindings/grpc/")) {
    if (under(to, "bindings/") && !under(to, "bindings/grpc/"))
      return "the gRPC binding may not include another binding";
    if (under(to, "actors/") && !under(to, "actors/cart/protocol/") &&
        !under(to, "actors/cart/model/"))
      return "the gRPC binding may use only actors/cart/protocol and model";
    if (under(to, "runtime/journal/"))
      return "the gRPC binding may not include the journal";
  }
  if (under(from, "bindings/cart_http/")) {
    if (under(to, "bindings/admin/"))
      return "cart routes may not include the management routes";
    if (under(to, "actors/") && !under(to, "actors/cart/protocol/") &&
        !under(to, "actors/cart/model/"))
      return "cart routes may use only actors/cart/protocol and model";
    if (under(to, "runtime/journal/"))
      return "cart routes may not include the journal";
  }
  return {};
}

// -- checking -----------------------------------------------------------------

/// An include that crosses a forbidden edge.
struct violation {
  std::string file;
  int line = 0;
  /// The include as written, with its quotes or angle brackets.
  std::string spelling;
  std::string reason;
};

std::string spelling(const include_directive& inc) {
  return inc.angled ? '<' + inc.target + '>' : '"' + inc.target + '"';
}

std::string normal(const fs::path& path) {
  return path.lexically_normal().generic_string();
}

/// Maps an include as written to a path from the repository root. A quoted
/// include is read from the root; failing that, from the including file's
/// folder (the compiler's first guess), if the file exists there.
std::string resolve(const fs::path& root, std::string_view from,
                    const include_directive& inc) {
  if (inc.angled || root.empty() || fs::exists(root / inc.target))
    return normal(inc.target);
  auto sibling = fs::path{from}.parent_path() / inc.target;
  if (fs::exists(root / sibling))
    return normal(sibling);
  return normal(inc.target);
}

/// Checks the text of the file at `from` (a path from the repository root).
/// With an empty `root`, includes are taken as written.
std::vector<violation> check_source(std::string_view from,
                                    std::string_view text,
                                    const fs::path& root = {}) {
  std::vector<violation> result;
  for (const auto& inc : parse_includes(text)) {
    auto to = resolve(root, from, inc);
    auto angled = inc.angled && !is_project_path(to);
    auto reason = forbidden_edge(from, to, angled);
    if (!reason.empty())
      result.push_back({std::string{from}, inc.line, spelling(inc), reason});
  }
  return result;
}

const fs::path& source_dir() {
  static const fs::path dir{CARTD_SOURCE_DIR};
  return dir;
}

/// Every C++ source below actors/, runtime/ and bindings/, as paths from the
/// repository root, sorted.
std::vector<std::string> project_sources() {
  static const std::vector<std::string> extensions{".hpp", ".cpp", ".h",
                                                   ".hh",  ".cc",  ".ipp"};
  std::vector<std::string> result;
  for (auto top : {"actors", "runtime", "bindings"}) {
    auto dir = source_dir() / top;
    if (!fs::is_directory(dir))
      continue;
    for (const auto& entry : fs::recursive_directory_iterator{dir}) {
      auto ext = entry.path().extension().string();
      if (entry.is_regular_file() &&
          std::count(extensions.begin(), extensions.end(), ext) > 0)
        result.push_back(
            fs::relative(entry.path(), source_dir()).generic_string());
    }
  }
  std::sort(result.begin(), result.end());
  return result;
}

std::string read_all(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool forbidden(std::string_view from, std::string_view include_line) {
  return !check_source(from, include_line).empty();
}

} // namespace

BOOST_AUTO_TEST_CASE(the_scan_finds_the_source_tree) {
  // Guards against a wrong CARTD_SOURCE_DIR making the real check vacuous.
  auto sources = project_sources();
  BOOST_TEST_INFO("scanning " << source_dir());
  BOOST_TEST(std::count(sources.begin(), sources.end(),
                        "actors/cart/model/cart.hpp") == 1);
}

BOOST_AUTO_TEST_CASE(no_include_crosses_a_forbidden_edge) {
  size_t files = 0;
  for (const auto& file : project_sources()) {
    ++files;
    for (const auto& v :
         check_source(file, read_all(source_dir() / file), source_dir()))
      BOOST_ERROR(v.file << ':' << v.line << ": #include " << v.spelling << ": "
                         << v.reason);
  }
  BOOST_TEST(files > 0u);
}

BOOST_AUTO_TEST_CASE(a_synthetic_violating_include_is_reported) {
  auto text = "#pragma once\n"
              "\n"
              "#include <map>\n"
              "#include \"actors/cart/model/cart.hpp\"\n"
              "#include \"runtime/core/log.hpp\"\n";
  auto found = check_source("actors/cart/model/rules.hpp", text);
  BOOST_TEST_REQUIRE(found.size() == 1u);
  BOOST_TEST(found[0].file == "actors/cart/model/rules.hpp");
  BOOST_TEST(found[0].line == 5);
  BOOST_TEST(found[0].spelling == "\"runtime/core/log.hpp\"");
  BOOST_TEST(!found[0].reason.empty());
}

BOOST_AUTO_TEST_CASE(include_lines_are_parsed_in_their_usual_spellings) {
  auto found = parse_includes("#include \"a/b.hpp\"\n"
                              "  #  include   <caf/all.hpp>\n"
                              "#include\"c.hpp\" // trailing comment\n"
                              "// #include \"commented/out.hpp\"\n"
                              "#define X 1\n");
  BOOST_TEST_REQUIRE(found.size() == 3u);
  BOOST_TEST(found[0].target == "a/b.hpp");
  BOOST_TEST(!found[0].angled);
  BOOST_TEST(found[1].target == "caf/all.hpp");
  BOOST_TEST(found[1].angled);
  BOOST_TEST(found[1].line == 2);
  BOOST_TEST(found[2].target == "c.hpp");
}

BOOST_AUTO_TEST_CASE(the_cart_model_may_include_only_itself_and_the_stdlib) {
  auto from = "actors/cart/model/cart.cpp";
  BOOST_TEST(!forbidden(from, "#include \"actors/cart/model/cart.hpp\""));
  BOOST_TEST(!forbidden(from, "#include <vector>"));
  BOOST_TEST(forbidden(from, "#include <caf/all.hpp>"));
  BOOST_TEST(forbidden(from, "#include <boost/optional.hpp>"));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/protocol/p.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"runtime/core/log.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/http/http.hpp\""));
  BOOST_TEST(forbidden(from, "#include <runtime/core/log.hpp>"));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/model/../actor/a.hpp\""));
}

BOOST_AUTO_TEST_CASE(the_write_pipeline_is_caf_free) {
  auto from = "actors/cart/actor/write_pipeline.hpp";
  BOOST_TEST(!forbidden(from, "#include \"actors/cart/model/cart.hpp\""));
  BOOST_TEST(!forbidden("actors/cart/actor/write_pipeline.cpp",
                        "#include \"actors/cart/actor/write_pipeline.hpp\""));
  BOOST_TEST(!forbidden(from, "#include <vector>"));
  BOOST_TEST(forbidden(from, "#include <caf/all.hpp>"));
  BOOST_TEST(forbidden(from, "#include \"runtime/core/caf_shims.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"runtime/journal/journal.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/protocol/p.hpp\""));
  // The rest of the cart actor may use CAF.
  BOOST_TEST(!forbidden("actors/cart/actor/cart_actor_impl.cpp",
                        "#include <caf/all.hpp>"));
}

BOOST_AUTO_TEST_CASE(runtime_may_not_include_actors_or_bindings) {
  auto from = "runtime/journal/journal.cpp";
  BOOST_TEST(!forbidden(from, "#include \"runtime/core/log.hpp\""));
  BOOST_TEST(!forbidden(from, "#include <caf/all.hpp>"));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/model/cart.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/http/http.hpp\""));
}

BOOST_AUTO_TEST_CASE(actors_may_not_include_bindings_or_journal_backends) {
  auto from = "actors/cart/actor/cart_actor_impl.hpp";
  BOOST_TEST(!forbidden(from, "#include \"actors/cart/model/cart.hpp\""));
  BOOST_TEST(!forbidden(from, "#include \"runtime/journal/journal.hpp\""));
  BOOST_TEST(!forbidden(from, "#include <caf/all.hpp>"));
  BOOST_TEST(forbidden(from, "#include \"bindings/cart_http/routes.hpp\""));
  BOOST_TEST(
      forbidden(from, "#include \"runtime/journal/memory_journal.hpp\""));
  BOOST_TEST(
      forbidden(from, "#include \"runtime/journal/sqlite_journal.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"runtime/journal/postgres/pg.hpp\""));
  BOOST_TEST(forbidden("actors/cart/directory/directory.cpp",
                       "#include \"bindings/http/http.hpp\""));
}

BOOST_AUTO_TEST_CASE(the_http_server_may_not_include_actors_or_cart_routes) {
  auto from = "bindings/http/server.cpp";
  BOOST_TEST(!forbidden(from, "#include \"bindings/http/http.hpp\""));
  BOOST_TEST(!forbidden(from, "#include \"runtime/core/log.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/protocol/p.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/cart_http/routes.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/cartd/config.hpp\""));
}

BOOST_AUTO_TEST_CASE(cart_routes_may_use_only_the_protocol_and_model) {
  auto from = "bindings/cart_http/routes.cpp";
  BOOST_TEST(!forbidden(from, "#include \"bindings/http/http.hpp\""));
  BOOST_TEST(!forbidden(from, "#include \"actors/cart/protocol/p.hpp\""));
  BOOST_TEST(!forbidden(from, "#include \"actors/cart/model/cart.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/actor/impl.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/directory/d.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"runtime/journal/journal.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/cartd/config.hpp\""));
}

BOOST_AUTO_TEST_CASE(the_grpc_binding_may_use_only_the_protocol_and_model) {
  auto from = "bindings/grpc/grpc_server.cpp";
  BOOST_TEST(!forbidden(from, "#include \"bindings/grpc/cart.grpc.pb.h\""));
  BOOST_TEST(!forbidden(from, "#include \"actors/cart/protocol/p.hpp\""));
  BOOST_TEST(!forbidden(from, "#include \"actors/cart/model/cart.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"actors/cart/actor/impl.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"runtime/journal/journal.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/cart_http/routes.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/http/http.hpp\""));
  BOOST_TEST(forbidden(from, "#include \"bindings/cartd/config.hpp\""));
}

BOOST_AUTO_TEST_CASE(only_the_composition_root_includes_itself) {
  BOOST_TEST(forbidden("runtime/core/log.cpp",
                       "#include \"bindings/cartd/config.hpp\""));
  BOOST_TEST(!forbidden("bindings/cartd/main.cpp",
                        "#include \"bindings/cartd/config.hpp\""));
  BOOST_TEST(!forbidden("bindings/cartd/main.cpp",
                        "#include \"bindings/cart_http/routes.hpp\""));
  BOOST_TEST(!forbidden("bindings/cartd/main.cpp",
                        "#include \"runtime/journal/sqlite_journal.hpp\""));
}
