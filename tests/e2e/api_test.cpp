// End-to-end tests of the REST API: every route, every error code, the
// headers (ETag, Allow, Content-Type, Content-Length), If-Match, the seed API
// and the command line. Most tests share one node and use their own cart ids.

#define BOOST_TEST_MODULE e2e_api
#include "tests/e2e/e2e.hpp"

#include <sched.h>

#include <filesystem>
#include <string>
#include <thread>

using namespace cartd::test;

namespace {

namespace http = boost::beast::http;

std::string add_body(std::string_view item, int64_t quantity) {
  return json{{"item", std::string{item}}, {"quantity", quantity}}.dump();
}

std::string set_body(int64_t quantity) {
  return json{{"quantity", quantity}}.dump();
}

std::string etag(uint64_t version) {
  return "\"" + std::to_string(version) + "\"";
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(routes, shared_node_fixture)

BOOST_AUTO_TEST_CASE(never_touched_cart_is_empty_at_version_0) {
  auto res = call(port, "GET", cart_path("r-fresh"));
  check_cart(res, "r-fresh", items({}), 0);
}

BOOST_AUTO_TEST_CASE(adding_an_item_returns_the_cart_with_its_line) {
  auto res = call(port, "POST", items_path("r-add"), add_body("apple", 2));
  check_cart(res, "r-add", items({{"apple", 2}}), 1);
  check_cart(call(port, "GET", cart_path("r-add")), "r-add",
             items({{"apple", 2}}), 1);
}

BOOST_AUTO_TEST_CASE(adding_without_quantity_adds_one) {
  auto res = call(port, "POST", items_path("r-add1"), R"({"item":"apple"})");
  check_cart(res, "r-add1", items({{"apple", 1}}), 1);
}

BOOST_AUTO_TEST_CASE(adding_to_an_existing_line_sums_the_quantities) {
  call(port, "POST", items_path("r-sum"), add_body("apple", 2));
  auto res = call(port, "POST", items_path("r-sum"), add_body("apple", 3));
  check_cart(res, "r-sum", items({{"apple", 5}}), 2);
}

BOOST_AUTO_TEST_CASE(items_are_sorted_by_item_id) {
  for (auto item : {"pear", "apple", "banana", "Zucchini"})
    call(port, "POST", items_path("r-sorted"), add_body(item, 1));
  auto res = call(port, "GET", cart_path("r-sorted"));
  check_cart(res, "r-sorted",
             items({{"Zucchini", 1}, {"apple", 1}, {"banana", 1}, {"pear", 1}}),
             4);
}

BOOST_AUTO_TEST_CASE(setting_a_quantity_replaces_the_line) {
  call(port, "POST", items_path("r-set"), add_body("apple", 2));
  auto res = call(port, "PUT", item_path("r-set", "apple"), set_body(5));
  check_cart(res, "r-set", items({{"apple", 5}}), 2);
}

BOOST_AUTO_TEST_CASE(setting_the_quantity_of_a_new_item_creates_its_line) {
  auto res = call(port, "PUT", item_path("r-setnew", "kiwi"), set_body(4));
  check_cart(res, "r-setnew", items({{"kiwi", 4}}), 1);
}

BOOST_AUTO_TEST_CASE(setting_quantity_zero_removes_the_line) {
  call(port, "POST", items_path("r-set0"), add_body("apple", 2));
  call(port, "POST", items_path("r-set0"), add_body("pear", 1));
  auto res = call(port, "PUT", item_path("r-set0", "apple"), set_body(0));
  check_cart(res, "r-set0", items({{"pear", 1}}), 3);
}

BOOST_AUTO_TEST_CASE(deleting_an_item_removes_its_line) {
  call(port, "POST", items_path("r-del"), add_body("apple", 2));
  call(port, "POST", items_path("r-del"), add_body("pear", 1));
  auto res = call(port, "DELETE", item_path("r-del", "apple"));
  check_cart(res, "r-del", items({{"pear", 1}}), 3);
}

BOOST_AUTO_TEST_CASE(deleting_an_absent_item_is_item_not_found) {
  call(port, "POST", items_path("r-del404"), add_body("apple", 1));
  check_error(call(port, "DELETE", item_path("r-del404", "pear")), 404,
              "item_not_found");
  check_error(call(port, "DELETE", item_path("r-del404-empty", "pear")), 404,
              "item_not_found");
  check_cart(call(port, "GET", cart_path("r-del404")), "r-del404",
             items({{"apple", 1}}), 1);
}

BOOST_AUTO_TEST_CASE(deleting_a_cart_clears_its_lines) {
  call(port, "POST", items_path("r-clear"), add_body("apple", 2));
  call(port, "POST", items_path("r-clear"), add_body("pear", 1));
  auto res = call(port, "DELETE", cart_path("r-clear"));
  check_cart(res, "r-clear", items({}), 3);
  check_cart(call(port, "GET", cart_path("r-clear")), "r-clear", items({}), 3);
}

BOOST_AUTO_TEST_CASE(checkout_marks_the_cart_checked_out) {
  call(port, "POST", items_path("r-co"), add_body("apple", 2));
  auto res = call(port, "POST", cart_path("r-co") + "/checkout");
  check_cart(res, "r-co", items({{"apple", 2}}), 2, true);
  check_cart(call(port, "GET", cart_path("r-co")), "r-co",
             items({{"apple", 2}}), 2, true);
}

BOOST_AUTO_TEST_CASE(checkout_needs_no_request_body) {
  call(port, "POST", items_path("r-co-nobody"), add_body("apple", 1));
  http_connection conn{port};
  conn.send("POST /carts/r-co-nobody/checkout HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n\r\n");
  auto res = conn.read_response();
  BOOST_REQUIRE(res);
  check_framing(*res);
  check_cart(*res, "r-co-nobody", items({{"apple", 1}}), 2, true);
}

BOOST_AUTO_TEST_CASE(checkout_of_empty_cart_is_rejected) {
  check_error(call(port, "POST", cart_path("r-co-empty") + "/checkout"), 409,
              "empty_cart");
  call(port, "POST", items_path("r-co-empty2"), add_body("apple", 1));
  call(port, "DELETE", item_path("r-co-empty2", "apple"));
  check_error(call(port, "POST", cart_path("r-co-empty2") + "/checkout"), 409,
              "empty_cart");
  check_cart(call(port, "GET", cart_path("r-co-empty2")), "r-co-empty2",
             items({}), 2);
}

BOOST_AUTO_TEST_CASE(every_change_after_checkout_is_rejected) {
  auto id = std::string{"r-after-co"};
  call(port, "POST", items_path(id), add_body("apple", 2));
  call(port, "POST", cart_path(id) + "/checkout");
  check_error(call(port, "POST", items_path(id), add_body("pear", 1)), 409,
              "checked_out");
  check_error(call(port, "POST", items_path(id), add_body("apple", 1)), 409,
              "checked_out");
  check_error(call(port, "PUT", item_path(id, "apple"), set_body(7)), 409,
              "checked_out");
  check_error(call(port, "PUT", item_path(id, "apple"), set_body(0)), 409,
              "checked_out");
  check_error(call(port, "DELETE", item_path(id, "apple")), 409, "checked_out");
  check_error(call(port, "DELETE", cart_path(id)), 409, "checked_out");
  check_error(call(port, "POST", cart_path(id) + "/checkout"), 409,
              "checked_out");
  check_cart(call(port, "GET", cart_path(id)), id, items({{"apple", 2}}), 2,
             true);
}

BOOST_AUTO_TEST_CASE(every_accepted_change_increments_the_version_by_one) {
  auto id = std::string{"r-versions"};
  auto expect_version = [&](const http_response& res, uint64_t version) {
    BOOST_TEST_CONTEXT(res.body()) {
      BOOST_TEST(res.result_int() == 200u);
      BOOST_TEST(body_json(res).value("version", uint64_t{0}) == version);
      BOOST_TEST(std::string{res[http::field::etag]} == etag(version));
    }
  };
  expect_version(call(port, "POST", items_path(id), add_body("a", 1)), 1);
  expect_version(call(port, "POST", items_path(id), add_body("a", 2)), 2);
  expect_version(call(port, "POST", items_path(id), add_body("b", 1)), 3);
  expect_version(call(port, "PUT", item_path(id, "a"), set_body(9)), 4);
  // Rejected changes leave the version alone.
  call(port, "POST", items_path(id), add_body("a", 0));
  call(port, "DELETE", item_path(id, "nope"));
  call(port, "POST", items_path(id), "{oops");
  expect_version(call(port, "GET", cart_path(id)), 4);
  expect_version(call(port, "DELETE", item_path(id, "b")), 5);
  expect_version(call(port, "PUT", item_path(id, "a"), set_body(0)), 6);
  expect_version(call(port, "POST", items_path(id), add_body("c", 1)), 7);
  expect_version(call(port, "DELETE", cart_path(id)), 8);
  expect_version(call(port, "POST", items_path(id), add_body("d", 1)), 9);
  expect_version(call(port, "POST", cart_path(id) + "/checkout"), 10);
  expect_version(call(port, "GET", cart_path(id)), 10);
}

BOOST_AUTO_TEST_CASE(health_reports_ok) {
  auto res = call(port, "GET", "/health");
  BOOST_TEST(res.result_int() == 200u);
  check_json(body_json(res), {{"status", "ok"}});
}

BOOST_AUTO_TEST_CASE(ready_is_200_once_listening) {
  auto res = call(port, "GET", "/ready");
  BOOST_TEST(res.result_int() == 200u, res.body());
}

BOOST_AUTO_TEST_CASE(head_of_every_get_route_has_the_get_headers_and_no_body) {
  call(port, "POST", items_path("r-head"), add_body("apple", 3));
  for (auto target : {"/carts/r-head", "/carts/r-head-fresh", "/health",
                      "/ready", "/cart", "/nope"}) {
    BOOST_TEST_CONTEXT("HEAD " << target) {
      auto get = call(port, "GET", target);
      // HEAD and then GET on one connection: a stray body after the HEAD
      // response would garble the GET response.
      http_connection conn{port};
      auto head = conn.exchange("HEAD", target);
      check_framing(head, true);
      auto again = conn.exchange("GET", target);
      BOOST_TEST(head.result_int() == get.result_int());
      BOOST_TEST(head.body().empty());
      for (auto field : {http::field::content_length, http::field::content_type,
                         http::field::etag})
        BOOST_TEST(std::string{head[field]} == std::string{get[field]},
                   "field " << to_string(field));
      BOOST_TEST(again.body() == get.body());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(if_none_match, shared_node_fixture)

BOOST_AUTO_TEST_CASE(
    if_none_match_with_the_current_etag_is_304_on_get_and_head) {
  auto id = std::string{"inm-current"};
  call(port, "POST", items_path(id), add_body("apple", 2));
  // The first GET asks the cart, later ones read the front end's copy: both
  // paths answer 304.
  for (int round = 0; round < 2; ++round) {
    for (std::string method : {"GET", "HEAD"}) {
      for (std::string tag :
           {etag(1), "W/" + etag(1), "\"0\", " + etag(1), std::string{"*"}}) {
        BOOST_TEST_CONTEXT(method << " If-None-Match: " << tag << ", round "
                                  << round) {
          auto res =
              call(port, method, cart_path(id), {}, {{"If-None-Match", tag}});
          BOOST_TEST(res.result_int() == 304u);
          BOOST_TEST(std::string{res[http::field::etag]} == etag(1));
          BOOST_TEST(res.body().empty());
        }
      }
    }
  }
  // An old tag or a malformed one: the cart.
  check_cart(call(port, "GET", cart_path(id), {}, {{"If-None-Match", etag(0)}}),
             id, items({{"apple", 2}}), 1);
  check_cart(call(port, "GET", cart_path(id), {}, {{"If-None-Match", "1"}}), id,
             items({{"apple", 2}}), 1);
  // After a change the old tag no longer matches.
  call(port, "POST", items_path(id), add_body("pear", 1));
  check_cart(call(port, "GET", cart_path(id), {}, {{"If-None-Match", etag(1)}}),
             id, items({{"apple", 2}, {"pear", 1}}), 2);
  // Changes ignore it (If-Match is theirs).
  check_cart(call(port, "POST", items_path(id), add_body("fig", 1),
                  {{"If-None-Match", "*"}}),
             id, items({{"apple", 2}, {"fig", 1}, {"pear", 1}}), 3);
}

BOOST_AUTO_TEST_CASE(a_304_leaves_the_connection_in_step) {
  auto id = std::string{"inm-keepalive"};
  call(port, "POST", items_path(id), add_body("apple", 1));
  http_connection conn{port};
  auto res =
      conn.exchange("GET", cart_path(id), {}, {{"If-None-Match", etag(1)}});
  BOOST_TEST(res.result_int() == 304u);
  auto next = conn.exchange("GET", cart_path(id));
  check_cart(next, id, items({{"apple", 1}}), 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(idempotency, shared_node_fixture)

BOOST_AUTO_TEST_CASE(a_replayed_answer_says_idempotent_replayed) {
  auto id = std::string{"replayed"};
  header_list key{{"Idempotency-Key", "replayed-1"}};
  auto first = call(port, "POST", items_path(id), add_body("apple", 2), key);
  check_cart(first, id, items({{"apple", 2}}), 1);
  BOOST_TEST((first.find("Idempotent-Replayed") == first.end()));
  auto again = call(port, "POST", items_path(id), add_body("apple", 2), key);
  check_cart(again, id, items({{"apple", 2}}), 1);
  BOOST_TEST(std::string{again["Idempotent-Replayed"]} == "true");
  // A change without a key, or with a new one, is not a replay.
  auto plain = call(port, "POST", items_path(id), add_body("apple", 1));
  BOOST_TEST((plain.find("Idempotent-Replayed") == plain.end()));
  auto other = call(port, "PUT", item_path(id, "apple"), set_body(7),
                    {{"Idempotency-Key", "replayed-2"}});
  BOOST_TEST((other.find("Idempotent-Replayed") == other.end()));
  auto other_again = call(port, "PUT", item_path(id, "apple"), set_body(7),
                          {{"Idempotency-Key", "replayed-2"}});
  BOOST_TEST(std::string{other_again["Idempotent-Replayed"]} == "true");
  // The seed API too.
  header_list seed_key{{"Idempotency-Key", "replayed-seed"}};
  auto seed = call(port, "POST", "/cart", R"({"item":"replayed"})", seed_key);
  BOOST_TEST((seed.find("Idempotent-Replayed") == seed.end()));
  auto seed_again =
      call(port, "POST", "/cart", R"({"item":"replayed"})", seed_key);
  BOOST_TEST(seed_again.result_int() == 200u);
  BOOST_TEST(std::string{seed_again["Idempotent-Replayed"]} == "true");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(if_match, shared_node_fixture)

BOOST_AUTO_TEST_CASE(mutation_with_a_stale_if_match_is_version_mismatch) {
  auto id = std::string{"im-stale"};
  call(port, "POST", items_path(id), add_body("apple", 2));
  call(port, "POST", items_path(id), add_body("pear", 1));
  header_list stale{{"If-Match", etag(1)}};
  check_error(call(port, "POST", items_path(id), add_body("kiwi", 1), stale),
              412, "version_mismatch");
  check_error(call(port, "PUT", item_path(id, "apple"), set_body(9), stale),
              412, "version_mismatch");
  check_error(call(port, "DELETE", item_path(id, "apple"), {}, stale), 412,
              "version_mismatch");
  check_error(call(port, "DELETE", cart_path(id), {}, stale), 412,
              "version_mismatch");
  check_error(call(port, "POST", cart_path(id) + "/checkout", {}, stale), 412,
              "version_mismatch");
  header_list future{{"If-Match", etag(3)}};
  check_error(call(port, "POST", items_path(id), add_body("kiwi", 1), future),
              412, "version_mismatch");
  check_cart(call(port, "GET", cart_path(id)), id,
             items({{"apple", 2}, {"pear", 1}}), 2);
}

BOOST_AUTO_TEST_CASE(mutation_with_a_matching_if_match_applies) {
  auto id = std::string{"im-match"};
  auto match = [](uint64_t v) { return header_list{{"If-Match", etag(v)}}; };
  check_cart(call(port, "POST", items_path(id), add_body("apple", 2), match(0)),
             id, items({{"apple", 2}}), 1);
  check_cart(call(port, "POST", items_path(id), add_body("pear", 1), match(1)),
             id, items({{"apple", 2}, {"pear", 1}}), 2);
  check_cart(call(port, "PUT", item_path(id, "apple"), set_body(5), match(2)),
             id, items({{"apple", 5}, {"pear", 1}}), 3);
  check_cart(call(port, "DELETE", item_path(id, "pear"), {}, match(3)), id,
             items({{"apple", 5}}), 4);
  check_cart(call(port, "POST", cart_path(id) + "/checkout", {}, match(4)), id,
             items({{"apple", 5}}), 5, true);
  auto id2 = std::string{"im-match-clear"};
  call(port, "POST", items_path(id2), add_body("apple", 2));
  check_cart(call(port, "DELETE", cart_path(id2), {}, match(1)), id2, items({}),
             2);
}

BOOST_AUTO_TEST_CASE(if_match_uses_the_etag_the_server_sent) {
  auto id = std::string{"im-etag"};
  auto res = call(port, "POST", items_path(id), add_body("apple", 1));
  auto tag = std::string{res[http::field::etag]};
  res = call(port, "POST", items_path(id), add_body("apple", 1),
             {{"If-Match", tag}});
  check_cart(res, id, items({{"apple", 2}}), 2);
  check_error(call(port, "POST", items_path(id), add_body("apple", 1),
                   {{"If-Match", tag}}),
              412, "version_mismatch");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(ids, shared_node_fixture)

BOOST_AUTO_TEST_CASE(item_in_the_path_is_percent_decoded) {
  auto id = std::string{"id-pct"};
  auto res = call(port, "PUT", "/carts/id-pct/items/red%20apple", set_body(5));
  check_cart(res, id, items({{"red apple", 5}}), 1);
  res = call(port, "POST", items_path(id), add_body("red apple", 1));
  check_cart(res, id, items({{"red apple", 6}}), 2);
  res = call(port, "DELETE", "/carts/id-pct/items/red%20apple");
  check_cart(res, id, items({}), 3);
}

BOOST_AUTO_TEST_CASE(percent_encoded_utf8_and_reserved_bytes_are_decoded) {
  auto id = std::string{"id-utf8"};
  // "crème/brûlée?#%" needs %-escapes for UTF-8 and for reserved bytes.
  auto item = std::string{"cr\xC3\xA8me/br\xC3\xBBl\xC3\xA9"
                          "e?#%"};
  auto res = call(port, "PUT", item_path(id, item), set_body(2));
  check_cart(res, id, items({{item, 2}}), 1);
  res = call(port, "DELETE", item_path(id, item));
  check_cart(res, id, items({}), 2);
}

BOOST_AUTO_TEST_CASE(item_id_must_be_1_to_128_bytes) {
  auto id = std::string{"id-item-size"};
  check_error(call(port, "POST", items_path(id), add_body("", 1)), 400,
              "invalid_item_id");
  check_error(
      call(port, "POST", items_path(id), add_body(std::string(129, 'x'), 1)),
      400, "invalid_item_id");
  check_error(
      call(port, "PUT", item_path(id, std::string(129, 'x')), set_body(1)), 400,
      "invalid_item_id");
  // 64 two-byte characters are 128 bytes; one more is too long.
  std::string e_acute = "\xC3\xA9";
  std::string max_utf8;
  for (int i = 0; i < 64; ++i)
    max_utf8 += e_acute;
  check_error(
      call(port, "POST", items_path(id), add_body(max_utf8 + e_acute, 1)), 400,
      "invalid_item_id");
  auto longest = std::string(128, 'x');
  auto res = call(port, "POST", items_path(id), add_body(longest, 1));
  res = call(port, "PUT", item_path(id, max_utf8), set_body(2));
  check_cart(res, id, items({{longest, 1}, {max_utf8, 2}}), 2);
}

BOOST_AUTO_TEST_CASE(item_id_with_control_characters_is_invalid) {
  auto id = std::string{"id-item-ctl"};
  for (auto item : {std::string{"a\x01"
                                "b"},
                    std::string{"line\nbreak"}, std::string{"tab\t"},
                    std::string{"nul", 4}, std::string{"del\x7F"}}) {
    BOOST_TEST_CONTEXT("item " << json(item).dump()) {
      check_error(call(port, "POST", items_path(id), add_body(item, 1)), 400,
                  "invalid_item_id");
      check_error(call(port, "PUT", item_path(id, item), set_body(1)), 400,
                  "invalid_item_id");
    }
  }
  check_cart(call(port, "GET", cart_path(id)), id, items({}), 0);
}

BOOST_AUTO_TEST_CASE(item_id_that_is_not_utf8_is_invalid) {
  auto id = std::string{"id-item-utf8"};
  for (auto target :
       {"/carts/id-item-utf8/items/%FF", "/carts/id-item-utf8/items/a%C3",
        "/carts/id-item-utf8/items/%C0%AF"})
    BOOST_TEST_CONTEXT(target) {
      check_error(call(port, "PUT", target, set_body(1)), 400,
                  "invalid_item_id");
    }
  check_cart(call(port, "GET", cart_path(id)), id, items({}), 0);
}

BOOST_AUTO_TEST_CASE(cart_id_must_be_1_to_128_safe_characters) {
  auto longest = std::string(128, 'c');
  check_cart(call(port, "GET", cart_path(longest)), longest, items({}), 0);
  auto all_kinds = std::string{"AZaz09._~-"};
  check_cart(call(port, "POST", items_path(all_kinds), add_body("apple", 1)),
             all_kinds, items({{"apple", 1}}), 1);
  for (auto cart :
       {std::string(129, 'c'), std::string{"a!b"}, std::string{"a*b"},
        std::string{"a@b"}, std::string{"caf%C3%A9"}, std::string{"a%20b"}}) {
    BOOST_TEST_CONTEXT("cart " << cart) {
      check_error(call(port, "GET", cart_path(cart)), 400, "invalid_cart_id");
      check_error(call(port, "POST", items_path(cart), add_body("apple", 1)),
                  400, "invalid_cart_id");
      check_error(
          call(port, "PUT", cart_path(cart) + "/items/apple", set_body(1)), 400,
          "invalid_cart_id");
      check_error(call(port, "DELETE", cart_path(cart)), 400,
                  "invalid_cart_id");
      check_error(call(port, "POST", cart_path(cart) + "/checkout"), 400,
                  "invalid_cart_id");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(quantities, shared_node_fixture)

BOOST_AUTO_TEST_CASE(add_quantity_outside_1_to_1000000_is_invalid_quantity) {
  auto id = std::string{"q-add"};
  for (int64_t quantity : {0LL, -1LL, 1'000'001LL, -1'000'000'000'000LL})
    BOOST_TEST_CONTEXT("quantity " << quantity) {
      check_error(call(port, "POST", items_path(id), add_body("a", quantity)),
                  400, "invalid_quantity");
    }
  check_cart(call(port, "POST", items_path(id), add_body("a", 1'000'000)), id,
             items({{"a", 1'000'000}}), 1);
}

BOOST_AUTO_TEST_CASE(set_quantity_outside_0_to_1000000_is_invalid_quantity) {
  auto id = std::string{"q-set"};
  call(port, "POST", items_path(id), add_body("a", 3));
  for (int64_t quantity : {-1LL, 1'000'001LL, 5'000'000'000LL})
    BOOST_TEST_CONTEXT("quantity " << quantity) {
      check_error(call(port, "PUT", item_path(id, "a"), set_body(quantity)),
                  400, "invalid_quantity");
    }
  check_cart(call(port, "PUT", item_path(id, "a"), set_body(1'000'000)), id,
             items({{"a", 1'000'000}}), 2);
}

BOOST_AUTO_TEST_CASE(a_line_never_exceeds_1000000000) {
  auto id = std::string{"q-line-max"};
  http_connection conn{port};
  auto res = conn.exchange("PUT", item_path(id, "a"), set_body(1'000'000));
  BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
  // 999 more adds of the largest change reach the limit exactly.
  for (int i = 0; i < 999; ++i) {
    res = conn.exchange("POST", items_path(id), add_body("a", 1'000'000));
    BOOST_REQUIRE_MESSAGE(res.result_int() == 200u,
                          "add #" << i << ": " << res.body());
  }
  check_cart(res, id, items({{"a", 1'000'000'000}}), 1000);
  check_error(call(port, "POST", items_path(id), add_body("a", 1)), 409,
              "line_quantity_exceeded");
  check_error(call(port, "POST", items_path(id), add_body("a", 1'000'000)), 409,
              "line_quantity_exceeded");
  check_cart(call(port, "GET", cart_path(id)), id,
             items({{"a", 1'000'000'000}}), 1000);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_cart_holds_at_most_max_lines_distinct_lines) {
  test_node node{{"--carts.max-lines=3"}};
  auto port = node.port();
  auto id = std::string{"full"};
  for (auto item : {"a", "b", "c"})
    call(port, "POST", items_path(id), add_body(item, 1));
  check_error(call(port, "POST", items_path(id), add_body("d", 1)), 409,
              "cart_full");
  check_error(call(port, "PUT", item_path(id, "d"), set_body(1)), 409,
              "cart_full");
  // Existing lines still change, and a freed line can be reused.
  call(port, "POST", items_path(id), add_body("a", 1));
  call(port, "DELETE", item_path(id, "b"));
  auto res = call(port, "POST", items_path(id), add_body("d", 1));
  check_cart(res, id, items({{"a", 2}, {"c", 1}, {"d", 1}}), 6);
}

BOOST_FIXTURE_TEST_SUITE(bad_requests, shared_node_fixture)

BOOST_AUTO_TEST_CASE(unparseable_body_is_malformed_json) {
  auto id = std::string{"bad-json"};
  using namespace std::string_literals;
  // A raw NUL byte is never valid JSON, not even after a complete value.
  for (auto body : {"{oops"s, "{\"item\":\"apple\""s, "[1,2"s,
                    "\"unterminated"s, "{\"item\":\"apple\"} trailing"s, "nul"s,
                    "{\"item\":\"apple\"}\0{junk"s, "{\"item\":\"a\0b\"}"s})
    BOOST_TEST_CONTEXT("body " << json(body).dump()) {
      check_error(call(port, "POST", items_path(id), body), 400,
                  "malformed_json");
      check_error(call(port, "PUT", item_path(id, "apple"), body), 400,
                  "malformed_json");
    }
  check_error(call(port, "POST", "/cart", "{oops"), 400, "malformed_json");
  check_cart(call(port, "GET", cart_path(id)), id, items({}), 0);
}

BOOST_AUTO_TEST_CASE(missing_or_wrong_typed_fields_are_invalid_field) {
  auto id = std::string{"bad-field"};
  for (auto body :
       {R"({"quantity":2})", R"({})", R"({"item":5})", R"({"item":null})",
        R"({"item":["apple"]})", R"({"item":"apple","quantity":"2"})",
        R"({"item":"apple","quantity":2.5})",
        R"({"item":"apple","quantity":true})",
        R"({"item":"apple","quantity":null})", R"([1,2])", R"("apple")", R"(5)",
        R"(null)"})
    BOOST_TEST_CONTEXT("POST body " << body) {
      check_error(call(port, "POST", items_path(id), body), 400,
                  "invalid_field");
    }
  for (auto body : {R"({})", R"({"quantity":"2"})", R"({"quantity":2.5})",
                    R"({"quantity":true})", R"([5])", R"(5)"})
    BOOST_TEST_CONTEXT("PUT body " << body) {
      check_error(call(port, "PUT", item_path(id, "apple"), body), 400,
                  "invalid_field");
    }
  check_cart(call(port, "GET", cart_path(id)), id, items({}), 0);
}

BOOST_AUTO_TEST_CASE(a_body_member_the_route_does_not_define_is_400_naming_it) {
  auto id = std::string{"bad-unknown"};
  auto check_unknown = [](const http_response& res, std::string_view field) {
    check_error(res, 400, "unknown_field");
    auto message = body_json(res).value("message", "");
    BOOST_TEST(message.find("\"" + std::string{field} + "\"") !=
                   std::string::npos,
               message << " does not name " << field);
  };
  // The issue's example: "qty" was taken for an add without a quantity.
  check_unknown(call(port, "POST", items_path(id), R"({"item":"a","qty":2})"),
                "qty");
  check_unknown(call(port, "POST", items_path(id),
                     R"({"item":"a","quantity":2,"note":"x"})"),
                "note");
  check_unknown(
      call(port, "PUT", item_path(id, "a"), R"({"quantity":2,"item":"a"})"),
      "item");
  check_unknown(call(port, "PUT", item_path(id, "a"), R"({"qty":2})"), "qty");
  // The seed API always adds one unit: a quantity is not one of its members.
  check_unknown(
      call(port, "POST", "/cart", R"({"item":"bad-unknown","quantity":2})"),
      "quantity");
  check_cart(call(port, "GET", cart_path(id)), id, items({}), 0);
  auto seed = body_json(call(port, "GET", "/cart"));
  BOOST_TEST(!seed.contains("bad-unknown"));
}

BOOST_AUTO_TEST_CASE(unknown_route_is_not_found) {
  for (auto target :
       {"/", "/nope", "/carts", "/carts/c/nope", "/carts/c/items/a/b",
        "/health/x", "/debug/carts/c/crash"})
    BOOST_TEST_CONTEXT("GET " << target) {
      check_error(call(port, "GET", target), 404, "not_found");
    }
  check_error(call(port, "POST", "/debug/carts/api-no-crash/crash"), 404,
              "not_found");
  check_error(call(port, "POST", "/nope", R"({"item":"a"})"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(wrong_method_is_405_with_an_allow_header) {
  auto res = call(port, "PATCH", "/carts/c1", R"({"item":"a"})");
  check_error(res, 405, "method_not_allowed");
  BOOST_TEST(header_tokens(res[http::field::allow]) ==
                 (std::set<std::string>{"GET", "HEAD", "DELETE"}),
             "Allow: " << res[http::field::allow]);
  struct expectation {
    const char* method;
    const char* target;
    std::set<std::string> allowed;
  };
  for (auto& [method, target, allowed] : std::vector<expectation>{
           {"PUT", "/carts/c1", {"GET", "HEAD", "DELETE"}},
           {"POST", "/carts/c1", {"GET", "HEAD", "DELETE"}},
           {"GET", "/carts/c1/items", {"POST"}},
           {"DELETE", "/carts/c1/items", {"POST"}},
           {"GET", "/carts/c1/items/a", {"PUT", "DELETE"}},
           {"POST", "/carts/c1/items/a", {"PUT", "DELETE"}},
           {"GET", "/carts/c1/checkout", {"POST"}},
           {"POST", "/health", {"GET", "HEAD"}},
           {"DELETE", "/ready", {"GET", "HEAD"}},
       }) {
    BOOST_TEST_CONTEXT(method << " " << target) {
      auto res = call(port, method, target);
      check_error(res, 405, "method_not_allowed");
      auto tokens = header_tokens(res[http::field::allow]);
      for (auto& name : allowed)
        BOOST_TEST(tokens.count(name) == 1u,
                   "Allow: " << res[http::field::allow] << " lacks " << name);
      BOOST_TEST(tokens.count(method) == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(post_or_put_without_a_length_is_length_required) {
  for (auto head : {"POST /carts/bad-411/items HTTP/1.1\r\n",
                    "PUT /carts/bad-411/items/apple HTTP/1.1\r\n",
                    "POST /cart HTTP/1.1\r\n"}) {
    BOOST_TEST_CONTEXT(head) {
      http_connection conn{port};
      conn.send(std::string{head} +
                "Host: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n");
      auto res = conn.read_response();
      BOOST_REQUIRE(res);
      check_framing(*res);
      check_error(*res, 411, "length_required");
    }
  }
  check_cart(call(port, "GET", cart_path("bad-411")), "bad-411", items({}), 0);
}

BOOST_AUTO_TEST_CASE(body_that_is_not_json_typed_is_unsupported_media_type) {
  auto id = std::string{"bad-415"};
  for (auto type : {"text/plain", "application/x-www-form-urlencoded",
                    "application/xml", "application/jsonp"})
    BOOST_TEST_CONTEXT("Content-Type " << type) {
      check_error(call(port, "POST", items_path(id), add_body("apple", 1),
                       {{"Content-Type", type}}),
                  415, "unsupported_media_type");
      check_error(call(port, "PUT", item_path(id, "apple"), set_body(1),
                       {{"Content-Type", type}}),
                  415, "unsupported_media_type");
    }
  // No Content-Type at all is not application/json either.
  http_connection conn{port};
  auto body = add_body("apple", 1);
  conn.send("POST /carts/bad-415/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
  auto res = conn.read_response();
  BOOST_REQUIRE(res);
  check_error(*res, 415, "unsupported_media_type");
  check_cart(call(port, "GET", cart_path(id)), id, items({}), 0);
}

BOOST_AUTO_TEST_CASE(json_content_type_with_a_charset_is_accepted) {
  auto id = std::string{"ok-charset"};
  auto res = call(port, "POST", items_path(id), add_body("apple", 1),
                  {{"Content-Type", "application/json; charset=utf-8"}});
  check_cart(res, id, items({{"apple", 1}}), 1);
}

BOOST_AUTO_TEST_CASE(malformed_http_is_bad_request_and_closes_the_connection) {
  for (auto bytes :
       {"HELLO\r\n\r\n", "GET /health HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: abc\r\n\r\n"}) {
    BOOST_TEST_CONTEXT(json(bytes).dump()) {
      http_connection conn{port};
      conn.send(bytes);
      auto res = conn.read_response();
      BOOST_REQUIRE(res);
      check_framing(*res);
      check_error(*res, 400, "bad_request");
      BOOST_TEST(conn.wait_closed(10s));
    }
  }
  BOOST_TEST(call(port, "GET", "/health").result_int() == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(seed_api)

BOOST_AUTO_TEST_CASE(seed_post_adds_one_unit_to_the_default_cart) {
  test_node node;
  auto port = node.port();
  for (int i = 0; i < 2; ++i) {
    auto res = call(port, "POST", "/cart", R"({"item":"apple"})");
    BOOST_TEST(res.result_int() == 200u);
    check_json(body_json(res), {{"message", "Added to cart"}});
  }
  call(port, "POST", "/cart", R"({"item":"pear"})");
  auto res = call(port, "GET", "/cart");
  BOOST_TEST(res.result_int() == 200u);
  check_json(body_json(res), {{"apple", 2}, {"pear", 1}});
  check_cart(call(port, "GET", "/carts/default"), "default",
             items({{"apple", 2}, {"pear", 1}}), 3);
}

BOOST_AUTO_TEST_CASE(seed_get_of_an_untouched_cart_is_an_empty_map) {
  test_node node;
  auto res = call(node.port(), "GET", "/cart");
  BOOST_TEST(res.result_int() == 200u);
  check_json(body_json(res), json::object());
}

BOOST_AUTO_TEST_CASE(seed_delete_removes_one_unit_and_the_line_at_zero) {
  test_node node;
  auto port = node.port();
  call(port, "POST", "/cart", R"({"item":"apple"})");
  call(port, "POST", "/cart", R"({"item":"apple"})");
  auto res = call(port, "DELETE", "/cart/apple");
  BOOST_TEST(res.result_int() == 200u);
  check_json(body_json(res), {{"message", "Removed from cart"}});
  check_json(body_json(call(port, "GET", "/cart")), {{"apple", 1}});
  res = call(port, "DELETE", "/cart/apple");
  BOOST_TEST(res.result_int() == 200u);
  check_json(body_json(call(port, "GET", "/cart")), json::object());
  res = call(port, "DELETE", "/cart/apple");
  BOOST_TEST(res.result_int() == 404u);
  BOOST_TEST(body_json(res).contains("error"), res.body());
}

BOOST_AUTO_TEST_CASE(seed_routes_percent_decode_and_validate_items) {
  test_node node;
  auto port = node.port();
  call(port, "POST", "/cart", R"({"item":"red apple"})");
  check_json(body_json(call(port, "GET", "/cart")), {{"red apple", 1}});
  BOOST_TEST(call(port, "DELETE", "/cart/red%20apple").result_int() == 200u);
  check_error(call(port, "POST", "/cart", R"({"item":""})"), 400,
              "invalid_item_id");
  // No item (a quantity is not one of its members: see
  // a_body_member_the_route_does_not_define_is_400_naming_it).
  check_error(call(port, "POST", "/cart", R"({})"), 400, "invalid_field");
  check_json(body_json(call(port, "GET", "/cart")), json::object());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(crashed_cart_answers_crashed_and_keeps_its_state) {
  test_node node{{"--debug.fault-injection=true"}};
  auto port = node.port();
  call(port, "POST", items_path("f-x"), add_body("apple", 2));
  call(port, "POST", items_path("f-x"), add_body("pear", 1));
  call(port, "POST", items_path("f-other"), add_body("kiwi", 4));
  check_error(call(port, "POST", "/debug/carts/f-x/crash"), 500, "crashed");
  check_cart(call(port, "GET", cart_path("f-x")), "f-x",
             items({{"apple", 2}, {"pear", 1}}), 2);
  check_cart(call(port, "GET", cart_path("f-other")), "f-other",
             items({{"kiwi", 4}}), 1);
  check_cart(call(port, "POST", items_path("f-x"), add_body("apple", 1)), "f-x",
             items({{"apple", 3}, {"pear", 1}}), 3);
}

BOOST_AUTO_TEST_CASE(passivated_cart_keeps_its_state) {
  test_node node{{"--carts.idle-timeout=100ms"}};
  auto port = node.port();
  call(port, "POST", items_path("f-idle"), add_body("apple", 2));
  call(port, "POST", cart_path("f-idle") + "/checkout");
  // Long enough for the idle cart to be passivated several times over.
  std::this_thread::sleep_for(1s);
  check_cart(call(port, "GET", cart_path("f-idle")), "f-idle",
             items({{"apple", 2}}), 2, true);
  check_error(call(port, "POST", items_path("f-idle"), add_body("pear", 1)),
              409, "checked_out");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(command_line)

BOOST_AUTO_TEST_CASE(help_lists_every_option_and_exits_0) {
  auto res = cartd_process::run(cartd_binary(), {"--help"}, 10s);
  BOOST_REQUIRE_MESSAGE(res.status, "cartd --help did not exit within 10 s");
  BOOST_TEST(res.status->code == 0);
  auto text = res.out + res.err;
  for (auto option : {"http.port",
                      "http.host",
                      "http.port-file",
                      "http.idle-timeout",
                      "http.max-connections",
                      "http.max-header-size",
                      "http.max-body-size",
                      "http.max-uri-size",
                      "http.request-timeout",
                      "http.cart-cache",
                      "carts.max-lines",
                      "carts.shards",
                      "carts.idle-timeout",
                      "supervisor.max-restarts",
                      "supervisor.restart-period",
                      "debug.fault-injection",
                      "storage.backend",
                      "storage.cache-mib",
                      "storage.checkpoint-pages",
                      "storage.postgres",
                      "storage.postgres-schema",
                      "storage.readers",
                      "storage.retry-for",
                      "storage.import",
                      "process.sched-batch",
                      "log.level"})
    BOOST_TEST(text.find(std::string{"--"} + option) != std::string::npos,
               "--help does not mention --" << option);
}

// The scheduling policy of every thread of process `pid` (-1: unreadable).
std::vector<int> thread_policies(int pid) {
  std::vector<int> result;
  auto dir = "/proc/" + std::to_string(pid) + "/task";
  for (auto& entry : std::filesystem::directory_iterator{dir})
    result.push_back(sched_getscheduler(std::stoi(entry.path().filename())));
  return result;
}

BOOST_AUTO_TEST_CASE(every_thread_runs_under_sched_batch_unless_turned_off) {
  for (bool batch : {true, false}) {
    BOOST_TEST_CONTEXT("sched-batch " << batch) {
      test_node node{{batch ? "--process.sched-batch=true"
                            : "--process.sched-batch=false"}};
      // Serving a request proves CAF's threads are up.
      BOOST_REQUIRE(call(node.port(), "GET", "/health").result_int() == 200u);
      auto policies = thread_policies(node.proc().pid());
      BOOST_TEST(policies.size() >= 4u);
      for (auto policy : policies)
        BOOST_TEST(policy == (batch ? SCHED_BATCH : SCHED_OTHER));
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_or_ill_typed_options_exit_non_zero) {
  for (auto arg : {"--http.nope=1", "--http.port=abc", "--carts.max-lines=x",
                   "--http.idle-timeout=soon"}) {
    BOOST_TEST_CONTEXT(arg) {
      auto res = cartd_process::run(cartd_binary(), {arg}, 10s);
      BOOST_REQUIRE_MESSAGE(res.status,
                            "cartd " << arg << " still ran after 10 s");
      BOOST_TEST(res.status->signal == 0);
      BOOST_TEST(res.status->code != 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(dump_config_never_shows_a_postgres_password) {
  for (auto conninfo : {"host=db password=s3cret dbname=shop",
                        "postgresql://cart:s3cret@db/shop?password=s3cret"}) {
    BOOST_TEST_CONTEXT(conninfo) {
      auto res = cartd_process::run(
          cartd_binary(),
          {"--storage.backend=postgres",
           std::string{"--storage.postgres="} + conninfo, "--dump-config"},
          10s);
      BOOST_REQUIRE_MESSAGE(res.status, "cartd --dump-config still ran");
      BOOST_TEST(res.status->code == 0);
      auto text = res.out + res.err;
      BOOST_TEST(text.find("postgres") != std::string::npos, text);
      BOOST_TEST(text.find("*****") != std::string::npos, text);
      BOOST_TEST(text.find("s3cret") == std::string::npos, text);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_bad_storage_backend_names_every_backend) {
  auto res =
      cartd_process::run(cartd_binary(), {"--storage.backend=mysql"}, 10s);
  BOOST_REQUIRE(res.status);
  BOOST_TEST(res.status->code == 2);
  BOOST_TEST(res.err.find("sqlite, postgres or memory") != std::string::npos,
             res.err);
}

BOOST_AUTO_TEST_SUITE_END()
