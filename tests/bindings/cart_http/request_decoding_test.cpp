#include "bindings/cart_http/request_decoding.hpp"

#include <optional>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

using namespace cartd;
using namespace std::string_literals;

namespace bhttp = boost::beast::http;

namespace {

std::vector<std::string> segments_of(std::string_view path) {
  auto segs = split_path(path);
  std::vector<std::string> result;
  for (size_t i = 0; i < segs.size; ++i)
    result.emplace_back(segs[i]);
  return result;
}

using strings = std::vector<std::string>;

/// A request as the server hands it over: a body with a length, unless
/// `has_length` is false.
http::request make_request(std::string body = {},
                           std::string content_type = "application/json",
                           bool has_length = true) {
  http::request req;
  req.msg.method(bhttp::verb::post);
  req.msg.target("/carts/c/items");
  if (!content_type.empty())
    req.msg.set(bhttp::field::content_type, content_type);
  req.msg.body() = std::move(body);
  req.has_length = has_length;
  return req;
}

/// The error code of a refusal ("" for none).
std::string code_of(const std::optional<http::response>& res) {
  if (!res)
    return {};
  return nlohmann::json::parse(res->body)["error"].get<std::string>();
}

std::string code_of(const body_or_error& x) {
  return code_of(x.error);
}

/// The error message of a refusal.
std::string message_of(const body_or_error& x) {
  return nlohmann::json::parse(x.error->body)["message"].get<std::string>();
}

/// parse_json_body for the add-item route's members.
body_or_error parse_add(const http::request& req) {
  return parse_json_body(req, {"item", "quantity"});
}

} // namespace

// -- path ---------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(path_decoding)

BOOST_AUTO_TEST_CASE(split_path_gives_the_segments_between_slashes) {
  BOOST_TEST(segments_of("/") == strings{}, boost::test_tools::per_element());
  BOOST_TEST(segments_of("") == strings{}, boost::test_tools::per_element());
  BOOST_TEST(segments_of("/carts/c1") == (strings{"carts", "c1"}),
             boost::test_tools::per_element());
  BOOST_TEST(segments_of("carts/c1") == (strings{"carts", "c1"}),
             boost::test_tools::per_element());
  BOOST_TEST(segments_of("/carts/") == (strings{"carts", ""}),
             boost::test_tools::per_element());
  BOOST_TEST(segments_of("/carts//items") == (strings{"carts", "", "items"}),
             boost::test_tools::per_element());
  BOOST_TEST(segments_of("//") == (strings{"", ""}),
             boost::test_tools::per_element());
  // Still encoded: splitting happens before decoding, so %2F is no slash.
  BOOST_TEST(segments_of("/a%2Fb/c") == (strings{"a%2Fb", "c"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(split_path_flags_paths_longer_than_its_capacity) {
  auto eight = split_path("/1/2/3/4/5/6/7/8");
  BOOST_TEST(eight.size == 8u);
  BOOST_TEST(!eight.overflow);
  auto nine = split_path("/1/2/3/4/5/6/7/8/9");
  BOOST_TEST(nine.overflow);
  auto trailing = split_path("/1/2/3/4/5/6/7/8/");
  BOOST_TEST(trailing.overflow);
}

BOOST_AUTO_TEST_CASE(percent_decode_decodes_escapes_in_either_case) {
  BOOST_TEST(percent_decode("plain").value() == "plain");
  BOOST_TEST(percent_decode("").value() == "");
  BOOST_TEST(percent_decode("%41").value() == "A");
  BOOST_TEST(percent_decode("%4a%4A").value() == "JJ");
  BOOST_TEST(percent_decode("a%2Fb").value() == "a/b");
  BOOST_TEST(percent_decode("%C3%A9").value() == "\xc3\xa9");
  BOOST_TEST(percent_decode("%25").value() == "%");
  BOOST_TEST(percent_decode("%2541").value() == "%41"); // decoded once only
  BOOST_TEST(percent_decode("%00").value() == "\0"s);
  BOOST_TEST(percent_decode("a+b").value() == "a+b"); // not a form
}

BOOST_AUTO_TEST_CASE(percent_decode_refuses_broken_escapes) {
  for (auto broken :
       {"%", "%4", "abc%", "abc%4", "%G1", "%1G", "%%41", "%-1", "% 1"})
    BOOST_TEST(!percent_decode(broken).has_value(), broken);
}

BOOST_AUTO_TEST_CASE(cart_ids_are_decoded_then_validated) {
  BOOST_TEST(decode_cart_id("c-1.x_~").value() == "c-1.x_~");
  BOOST_TEST(decode_cart_id("%63%31").value() == "c1");
  BOOST_TEST(decode_cart_id(std::string(128, 'a')).has_value());
  BOOST_TEST(!decode_cart_id(std::string(129, 'a')).has_value());
  BOOST_TEST(!decode_cart_id("").has_value());
  BOOST_TEST(!decode_cart_id("a%2Fb").has_value()); // a slash
  BOOST_TEST(!decode_cart_id("a%20b").has_value());
  BOOST_TEST(!decode_cart_id("%").has_value());
}

BOOST_AUTO_TEST_CASE(item_ids_are_decoded_then_validated) {
  BOOST_TEST(decode_item_id("apple").value() == "apple");
  BOOST_TEST(decode_item_id("a%20b%2Fc").value() == "a b/c");
  BOOST_TEST(decode_item_id("%C3%A9t%C3%A9").value() == "\xc3\xa9t\xc3\xa9");
  BOOST_TEST(!decode_item_id("%FF").has_value());   // not UTF-8
  BOOST_TEST(!decode_item_id("a%0Ab").has_value()); // a control character
  BOOST_TEST(!decode_item_id("").has_value());
  BOOST_TEST(!decode_item_id("%zz").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// -- body ---------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(body_decoding)

BOOST_AUTO_TEST_CASE(json_media_types_are_recognized) {
  for (auto yes : {"application/json", "Application/JSON",
                   "application/json; charset=utf-8", "application/json ;x=y",
                   "application/merge-patch+json", "APPLICATION/X+JSON"})
    BOOST_TEST(is_json_media_type(yes), yes);
  for (auto no : {"", "text/json", "text/plain", "application/jsonx",
                  "application/+jsonx", "+json", "text/x+json"})
    BOOST_TEST(!is_json_media_type(no), no);
}

BOOST_AUTO_TEST_CASE(a_json_object_body_is_parsed) {
  auto parsed = parse_add(make_request(R"({"item":"a","quantity":2})"));
  BOOST_REQUIRE(!parsed.error);
  BOOST_TEST(parsed.body["item"] == "a");
  BOOST_TEST(parsed.body["quantity"] == 2);
}

BOOST_AUTO_TEST_CASE(a_body_without_length_gets_411) {
  auto parsed = parse_add(make_request("{}", "application/json", false));
  BOOST_REQUIRE(parsed.error);
  BOOST_TEST(parsed.error->status == 411u);
  BOOST_TEST(code_of(parsed) == "length_required");
}

BOOST_AUTO_TEST_CASE(a_body_of_another_media_type_gets_415) {
  for (auto type : {"text/plain", ""}) {
    auto parsed = parse_add(make_request("{}", type));
    BOOST_REQUIRE(parsed.error);
    BOOST_TEST(parsed.error->status == 415u);
    BOOST_TEST(code_of(parsed) == "unsupported_media_type");
  }
}

BOOST_AUTO_TEST_CASE(malformed_json_gets_400) {
  // The empty body is no JSON either.
  for (auto body : {""s, "{"s, "{\"item\":}"s, "{} x"s, "{\"a\":1}\0"s, "\0{}"s,
                    "{\"item\":\"a\0b\"}"s, "nul"s, "'a'"s}) {
    auto parsed = parse_add(make_request(body));
    BOOST_TEST_CONTEXT(
        "body " << nlohmann::json(body).dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace)) {
      BOOST_REQUIRE(parsed.error);
      BOOST_TEST(parsed.error->status == 400u);
      BOOST_TEST(code_of(parsed) == "malformed_json");
    }
  }
}

BOOST_AUTO_TEST_CASE(json_other_than_an_object_gets_400_invalid_field) {
  for (auto body : {"[1]", "1", "\"x\"", "null", "true"}) {
    auto parsed = parse_add(make_request(body));
    BOOST_REQUIRE(parsed.error);
    BOOST_TEST(parsed.error->status == 400u);
    BOOST_TEST(code_of(parsed) == "invalid_field", body);
  }
}

BOOST_AUTO_TEST_CASE(a_member_the_route_does_not_define_gets_400_naming_it) {
  auto parsed = parse_add(make_request(R"({"item":"a","qty":2})"));
  BOOST_REQUIRE(parsed.error);
  BOOST_TEST(parsed.error->status == 400u);
  BOOST_TEST(code_of(parsed) == "unknown_field");
  BOOST_TEST(message_of(parsed) ==
             R"(unknown field "qty" (this route takes "item", "quantity"))");
  // The first unknown member is named, whatever follows.
  parsed = parse_add(make_request(R"({"Item":"a","item":"a","x":1})"));
  BOOST_REQUIRE(parsed.error);
  BOOST_TEST(message_of(parsed).rfind(R"(unknown field "Item")", 0) == 0u);
  // A member the route defines but another route does not.
  parsed = parse_json_body(make_request(R"({"item":"a","quantity":2})"),
                           {"quantity"});
  BOOST_REQUIRE(parsed.error);
  BOOST_TEST(message_of(parsed) ==
             R"(unknown field "item" (this route takes "quantity"))");
  // A name with quotes or control characters stays one JSON string.
  parsed = parse_add(make_request(R"({"a\"b\n":1})"));
  BOOST_REQUIRE(parsed.error);
  BOOST_TEST(message_of(parsed).rfind(R"(unknown field "a\"b\n")", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(only_defined_members_pass) {
  for (auto body : {R"({})", R"({"item":"a"})", R"({"quantity":1,"item":"a"})"})
    BOOST_TEST(!parse_add(make_request(body)).error, body);
}

BOOST_AUTO_TEST_CASE(quantities_in_range_are_read_and_the_rest_refused) {
  auto read = [](const std::string& json_text, std::optional<int64_t>& out) {
    auto body = request_json::parse(json_text);
    return read_quantity(body, "quantity", out);
  };
  std::optional<int64_t> q;
  BOOST_TEST(code_of(read(R"({})", q)) == "");
  BOOST_TEST(!q.has_value()); // missing: left alone
  BOOST_TEST(code_of(read(R"({"quantity":1000000})", q)) == "");
  BOOST_TEST(q.value() == 1000000);
  BOOST_TEST(code_of(read(R"({"quantity":0})", q)) == "");
  BOOST_TEST(q.value() == 0);
  // Below the range the cart's rules judge (they know add from set).
  BOOST_TEST(code_of(read(R"({"quantity":-3})", q)) == "");
  BOOST_TEST(q.value() == -3);
  BOOST_TEST(code_of(read(R"({"quantity":-9223372036854775808})", q)) == "");
  BOOST_TEST(q.value() == INT64_MIN);
  for (auto above :
       {R"({"quantity":1000001})", R"({"quantity":9223372036854775808})",
        R"({"quantity":18446744073709551615})"}) {
    std::optional<int64_t> untouched;
    auto err = read(above, untouched);
    BOOST_REQUIRE(err);
    BOOST_TEST(err->status == 400u);
    BOOST_TEST(code_of(err) == "invalid_quantity", above);
    BOOST_TEST(!untouched.has_value());
  }
  for (auto not_int :
       {R"({"quantity":2.5})", R"({"quantity":2.0})", R"({"quantity":1e3})",
        R"({"quantity":"2"})", R"({"quantity":true})", R"({"quantity":null})",
        R"({"quantity":[1]})", R"({"quantity":99999999999999999999999})"}) {
    auto err = read(not_int, q);
    BOOST_REQUIRE(err);
    BOOST_TEST(err->status == 400u);
    BOOST_TEST(code_of(err) == "invalid_field", not_int);
    BOOST_TEST(err->body.find("\\\"quantity\\\" must be an integer") !=
               std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(item_must_be_a_valid_item_id_string) {
  auto read = [](const std::string& json_text, std::string& out) {
    return read_item(request_json::parse(json_text), out);
  };
  std::string item;
  BOOST_TEST(code_of(read(R"({"item":"apple"})", item)) == "");
  BOOST_TEST(item == "apple");
  BOOST_TEST(code_of(read(R"({})", item)) == "invalid_field");
  BOOST_TEST(code_of(read(R"({"item":5})", item)) == "invalid_field");
  BOOST_TEST(code_of(read(R"({"item":null})", item)) == "invalid_field");
  BOOST_TEST(code_of(read(R"({"item":""})", item)) == "invalid_item_id");
  BOOST_TEST(code_of(read(R"({"item":"a\nb"})", item)) == "invalid_item_id");
  BOOST_TEST(code_of(read(R"({"item":")" + std::string(129, 'x') + "\"}",
                          item)) == "invalid_item_id");
}

BOOST_AUTO_TEST_SUITE_END()

// -- headers ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(header_decoding)

BOOST_AUTO_TEST_CASE(if_match_accepts_the_forms_of_one_version) {
  struct {
    const char* value;
    uint64_t version;
  } accepted[] = {
      {"\"7\"", 7}, {"W/\"7\"", 7},
      {"7", 7},     {" \"7\"\t", 7},
      {"\"0\"", 0}, {"\"18446744073709551615\"", 18446744073709551615u}};
  for (auto& x : accepted) {
    auto req = make_request();
    req.msg.set(bhttp::field::if_match, x.value);
    cart_mutation m;
    BOOST_TEST(code_of(read_if_match(req, m)) == "", x.value);
    BOOST_TEST(m.has_expected_version);
    BOOST_TEST(m.expected_version == x.version);
  }
}

BOOST_AUTO_TEST_CASE(if_match_star_or_none_expects_nothing) {
  auto req = make_request();
  cart_mutation m;
  BOOST_TEST(code_of(read_if_match(req, m)) == "");
  BOOST_TEST(!m.has_expected_version);
  req.msg.set(bhttp::field::if_match, "*");
  BOOST_TEST(code_of(read_if_match(req, m)) == "");
  BOOST_TEST(!m.has_expected_version);
}

BOOST_AUTO_TEST_CASE(if_match_refuses_anything_else) {
  for (auto value : {"", "\"\"", "\"x\"", "\"7", "7\"", "W/", "W/7x", "\"-1\"",
                     "\"+7\"", "\"18446744073709551616\"", "\"7\", \"8\"",
                     "w/\"7\"", "\"7 \"", "**"}) {
    auto req = make_request();
    req.msg.set(bhttp::field::if_match, value);
    cart_mutation m;
    auto err = read_if_match(req, m);
    BOOST_REQUIRE(err);
    BOOST_TEST(err->status == 400u);
    BOOST_TEST(code_of(err) == "invalid_if_match", value);
    BOOST_TEST(!m.has_expected_version);
  }
}

BOOST_AUTO_TEST_CASE(idempotency_keys_are_1_to_128_visible_ascii_chars) {
  auto key_of = [](std::optional<std::string> value, cart_mutation& m) {
    auto req = make_request();
    if (value)
      req.msg.set("Idempotency-Key", *value);
    return read_idempotency_key(req, m);
  };
  cart_mutation m;
  BOOST_TEST(code_of(key_of(std::nullopt, m)) == "");
  BOOST_TEST(m.idempotency_key.empty());
  for (auto good : {"k"s, "!~"s, std::string(128, 'k'), "0c6e-4a7f:x/y=z?"s}) {
    cart_mutation ok;
    BOOST_TEST(code_of(key_of(good, ok)) == "", good);
    BOOST_TEST(ok.idempotency_key == good);
  }
  for (auto bad : {""s, std::string(129, 'k'), "a b"s, "a\tb"s, "\x7f"s,
                   "\xc3\xa9"s, "a\x01"s}) {
    cart_mutation refused;
    auto err = key_of(bad, refused);
    BOOST_REQUIRE(err);
    BOOST_TEST(err->status == 400u);
    BOOST_TEST(code_of(err) == "invalid_idempotency_key");
    BOOST_TEST(refused.idempotency_key.empty());
  }
}

BOOST_AUTO_TEST_SUITE_END()
