// The server's test cases, included once per write path by server_test.cpp
// (inside a suite whose fixture picks the path): every case runs with
// direct socket writes and with CAF's write buffer only.

BOOST_AUTO_TEST_CASE(keep_alive_connection_serves_several_requests) {
  start();
  client c{port};
  BOOST_REQUIRE(c.connected());
  for (int i = 0; i < 3; ++i) {
    auto res = c.get("/echo/" + std::to_string(i));
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == 200u);
    BOOST_TEST(res->body == "GET /echo/" + std::to_string(i) + " ");
    BOOST_TEST(res->header(bh::field::content_type) == "text/plain");
    BOOST_TEST(res->header(bh::field::connection) == "");
  }
  c.send("POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->body == "POST /items hello");
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_arrival_order) {
  start();
  client c{port};
  // The first one completes last, yet its response comes first.
  c.send(get_request("/delay/200") + get_request("/echo/a") +
         "POST /echo/b HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
  auto r1 = c.read();
  auto r2 = c.read();
  auto r3 = c.read();
  BOOST_REQUIRE(r1 && r2 && r3);
  BOOST_TEST(r1->body == "delayed 200");
  BOOST_TEST(r2->body == "GET /echo/a ");
  BOOST_TEST(r3->body == "POST /echo/b hi");
}

BOOST_AUTO_TEST_CASE(pending_request_does_not_hold_up_other_connections) {
  start();
  client a{port};
  client b{port};
  a.send(get_request("/park"));
  BOOST_REQUIRE(eventually([&] { return handler->parked == 1; }));
  auto rb = b.get("/echo/b");
  BOOST_REQUIRE(rb);
  BOOST_TEST(rb->body == "GET /echo/b ");
  BOOST_TEST(!a.has_data());
  auto release = b.get("/release");
  BOOST_REQUIRE(release);
  BOOST_TEST(release->body == "release");
  auto ra = a.read();
  BOOST_REQUIRE(ra);
  BOOST_TEST(ra->body == "released");
}

BOOST_AUTO_TEST_CASE(client_pipelining_far_ahead_is_still_served_in_order) {
  start();
  client c{port};
  client other{port};
  // Input piles up behind a parked request (the server stops reading) ...
  std::string batch = get_request("/park");
  for (int i = 0; i < 1000; ++i)
    batch += get_request("/echo/" + std::to_string(i));
  c.send(batch);
  BOOST_REQUIRE(eventually([&] { return handler->parked == 1; }));
  BOOST_REQUIRE(other.get("/release"));
  auto parked = c.read();
  BOOST_REQUIRE(parked);
  BOOST_TEST(parked->body == "released");
  for (int i = 0; i < 1000; ++i) {
    auto res = c.read();
    BOOST_REQUIRE(res);
    BOOST_REQUIRE_EQUAL(res->body, "GET /echo/" + std::to_string(i) + " ");
  }
}

BOOST_AUTO_TEST_CASE(
    client_not_reading_its_responses_is_still_served_in_order) {
  start();
  client c{port};
  // ... and output piles up when the client does not read (about 13 MB
  // here, more than the socket buffers hold): the server stops serving the
  // connection until the client reads, then goes on.
  std::string batch;
  for (int i = 0; i < 200; ++i)
    batch += get_request("/big") + get_request("/echo/" + std::to_string(i));
  c.send(batch);
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 200; ++i) {
    auto big = c.read();
    BOOST_REQUIRE(big);
    BOOST_REQUIRE_EQUAL(big->body.size(), 64u * 1024u);
    auto res = c.read();
    BOOST_REQUIRE(res);
    BOOST_REQUIRE_EQUAL(res->body, "GET /echo/" + std::to_string(i) + " ");
  }
}

BOOST_AUTO_TEST_CASE(health_and_ready_are_answered_by_the_server) {
  start();
  client c{port};
  auto health = c.get("/health");
  BOOST_REQUIRE(health);
  BOOST_TEST(health->status == 200u);
  BOOST_TEST(health->body == R"({"status":"ok"})");
  BOOST_TEST(health->header(bh::field::content_type) == "application/json");
  auto ready = c.get("/ready?probe=1");
  BOOST_REQUIRE(ready);
  BOOST_TEST(ready->status == 200u);
  BOOST_TEST(ready->body == R"({"status":"ready"})");
  c.send("HEAD /ready HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = c.read(true);
  BOOST_REQUIRE(head);
  BOOST_TEST(head->status == 200u);
  BOOST_TEST(head->header(bh::field::content_length) == "18");
  c.send("POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  auto post = c.read();
  BOOST_REQUIRE(post);
  BOOST_TEST(post->status == 405u);
  BOOST_TEST(post->header(bh::field::allow) == "GET, HEAD");
  BOOST_TEST(handler->dispatched == 0);
}

BOOST_AUTO_TEST_CASE(ready_answers_503_while_the_handler_is_not_ready) {
  start();
  handler->ready_flag = false;
  client c{port};
  auto res = c.get("/ready");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 503u);
  BOOST_TEST(res->body.find(R"("error":"not_ready")") != std::string::npos);
  // The body names the failing check (the handler's default: "service").
  BOOST_TEST(res->body.find(R"("check":"service")") != std::string::npos,
             res->body);
  handler->ready_flag = true;
  res = c.get("/ready");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200u);
}

BOOST_AUTO_TEST_CASE(head_response_has_content_length_and_no_body) {
  start();
  client c{port};
  c.send("HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n" + get_request("/after"));
  auto head = c.read(true);
  BOOST_REQUIRE(head);
  BOOST_TEST(head->status == 200u);
  // The handler saw a GET; the GET body "GET /echo " has 10 bytes.
  BOOST_TEST(head->header(bh::field::content_length) == "10");
  // No body bytes leaked: the next response starts right after the head.
  auto next = c.read();
  BOOST_REQUIRE(next);
  BOOST_TEST(next->body == "GET /after ");
}

BOOST_AUTO_TEST_CASE(expect_continue_gets_100_before_the_body_is_sent) {
  start();
  client c{port};
  c.send("PUT /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
         "Content-Length: 5\r\n\r\n");
  auto interim = c.read();
  BOOST_REQUIRE(interim);
  BOOST_TEST(interim->status == 100u);
  c.send("hello");
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 200u);
  BOOST_TEST(res->body == "PUT /upload hello");
}

BOOST_AUTO_TEST_CASE(expect_continue_waits_for_the_pending_response_first) {
  start();
  client c{port};
  c.send(get_request("/delay/100") +
         "PUT /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
         "Content-Length: 2\r\n\r\n");
  auto first = c.read();
  BOOST_REQUIRE(first);
  BOOST_TEST(first->body == "delayed 100");
  auto interim = c.read();
  BOOST_REQUIRE(interim);
  BOOST_TEST(interim->status == 100u);
  c.send("ok");
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->body == "PUT /upload ok");
}

BOOST_AUTO_TEST_CASE(http10_connection_closes_unless_keep_alive_is_asked) {
  start();
  client c{port};
  c.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->header(bh::field::connection) == "keep-alive");
  c.send("GET /old HTTP/1.0\r\n\r\n");
  res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->body == "GET /old ");
  BOOST_TEST(res->header(bh::field::connection) == "close");
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(connection_close_request_is_answered_then_closed) {
  start();
  client c{port};
  c.send(get_request("/bye", "Connection: close\r\n") + get_request("/never"));
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->body == "GET /bye ");
  BOOST_TEST(res->header(bh::field::connection) == "close");
  BOOST_TEST(c.closed_by_peer());
  BOOST_TEST(handler->dispatched == 1);
}

BOOST_AUTO_TEST_CASE(connections_beyond_max_connections_get_503) {
  auto scfg = config();
  scfg.max_connections = 2;
  start(scfg);
  auto first = std::make_unique<client>(port);
  client second{port};
  // Both are accepted once they are served.
  BOOST_REQUIRE(first->get("/one"));
  BOOST_REQUIRE(second.get("/two"));
  client third{port};
  auto refused = third.read();
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 503u);
  BOOST_TEST(refused->body.find("too_many_connections") != std::string::npos);
  BOOST_TEST(refused->header(bh::field::connection) == "close");
  BOOST_TEST(third.closed_by_peer());
  // A slot frees up when a client leaves.
  first.reset();
  auto served = eventually([&] {
    client next{port};
    auto res = next.get("/again");
    return res && res->status == 200u;
  });
  BOOST_TEST(served);
}

BOOST_AUTO_TEST_CASE(
    a_client_that_does_not_read_loses_its_socket_at_the_idle_timeout) {
  auto scfg = config();
  scfg.max_connections = 1;
  scfg.idle_timeout = 1s;
  start(scfg);
  // Pipelines about 13 MB of responses and reads none of them.
  client greedy{port};
  std::string batch;
  for (int i = 0; i < 200; ++i)
    batch += get_request("/big");
  greedy.send(batch);
  BOOST_REQUIRE(eventually([&] { return handler->dispatched > 0; }));
  // It holds the one slot while it is served ...
  client refused{port};
  auto res = refused.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 503u);
  // ... and when the idle timeout gives up on it, its socket goes at once
  // (not when the client leaves: it is still connected), output discarded,
  // and the slot with it.
  BOOST_TEST(eventually([&] { return accepted_sockets(port) == 0; }));
  client next{port};
  auto served = next.get("/next");
  BOOST_REQUIRE(served);
  BOOST_TEST(served->status == 200u);
  BOOST_TEST(accepted_sockets(port) == 1u);
}

BOOST_AUTO_TEST_CASE(
    a_closed_connection_counts_until_its_last_response_is_written) {
  auto scfg = config();
  scfg.max_connections = 1;
  scfg.idle_timeout = 30s;
  start(scfg);
  // 8 MiB and then a last response the client does not read yet: the
  // server closes the connection while CAF still holds its bytes.
  client slow{port, 4096};
  slow.send(get_request("/huge") +
            get_request("/bye", "Connection: close\r\n"));
  BOOST_REQUIRE(eventually([&] { return handler->dispatched == 2; }));
  // Until they are written the connection holds the one slot ...
  client refused{port};
  auto res = refused.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 503u);
  // ... and once the client reads them, it goes.
  auto huge = slow.read();
  BOOST_REQUIRE(huge);
  BOOST_TEST(huge->body.size() == 8u * 1024u * 1024u);
  auto bye = slow.read();
  BOOST_REQUIRE(bye);
  BOOST_TEST(bye->header(bh::field::connection) == "close");
  BOOST_TEST(slow.closed_by_peer());
  BOOST_TEST(eventually([&] { return accepted_sockets(port) == 0; }));
  client next{port};
  auto served = next.get("/next");
  BOOST_REQUIRE(served);
  BOOST_TEST(served->status == 200u);
}

BOOST_AUTO_TEST_CASE(drain_releases_the_socket_of_a_client_that_does_not_read) {
  auto scfg = config();
  scfg.idle_timeout = 30s;
  start(scfg);
  client greedy{port};
  std::string batch;
  for (int i = 0; i < 200; ++i)
    batch += get_request("/big");
  greedy.send(batch);
  // The server stopped serving it: the rest of its output waits in CAF.
  BOOST_REQUIRE(settles_above(handler->dispatched, 1));
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  BOOST_TEST((await_server_down() == caf::exit_reason::user_shutdown));
  BOOST_TEST(eventually([&] { return accepted_sockets(port) == 0; }));
}

BOOST_AUTO_TEST_CASE(idle_connection_is_closed_after_the_idle_timeout) {
  start();
  client used{port};
  BOOST_REQUIRE(used.get("/once"));
  client unused{port};
  BOOST_TEST(used.closed_by_peer());
  BOOST_TEST(unused.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(slow_partial_request_gets_408_and_close) {
  start();
  client c{port};
  c.send("GET /slow HTTP/1.1\r\nHost: t\r\n");
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 408u);
  BOOST_TEST(res->body.find("request_timeout") != std::string::npos);
  BOOST_TEST(res->header(bh::field::connection) == "close");
  BOOST_TEST(c.closed_by_peer());
  BOOST_TEST(handler->dispatched == 0);
}

BOOST_AUTO_TEST_CASE(garbage_gets_400_then_close_and_the_server_serves_on) {
  start();
  client bad{port};
  bad.send("NOT HTTP AT ALL\r\n\r\n");
  auto res = bad.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 400u);
  BOOST_TEST(res->body.find("bad_request") != std::string::npos);
  BOOST_TEST(bad.closed_by_peer());
  client good{port};
  auto ok = good.get("/fine");
  BOOST_REQUIRE(ok);
  BOOST_TEST(ok->status == 200u);
}

BOOST_AUTO_TEST_CASE(limit_errors_are_answered_then_the_connection_closes) {
  auto scfg = config();
  scfg.max_body_size = 8;
  start(scfg);
  client c{port};
  c.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n");
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 413u);
  BOOST_TEST(res->body.find("body_too_large") != std::string::npos);
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(handler_exception_gets_500_and_the_server_serves_on) {
  start();
  client c{port};
  auto res = c.get("/throw");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 500u);
  BOOST_TEST(res->body.find("internal_error") != std::string::npos);
  auto again = c.get("/after-throw");
  BOOST_REQUIRE(again);
  BOOST_TEST(again->body == "GET /after-throw ");
  client other{port};
  BOOST_TEST(other.get("/other").has_value());
}

BOOST_AUTO_TEST_CASE(drain_finishes_the_request_in_flight) {
  auto scfg = config();
  scfg.drain_timeout = 10s;
  start(scfg);
  client idle{port};
  BOOST_REQUIRE(idle.get("/warm-up"));
  client busy{port};
  busy.send(get_request("/delay/300"));
  BOOST_REQUIRE(eventually([&] { return handler->dispatched == 2; }));
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  BOOST_TEST(idle.closed_by_peer());
  auto res = busy.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->body == "delayed 300");
  BOOST_TEST(res->header(bh::field::connection) == "close");
  BOOST_TEST(busy.closed_by_peer());
  BOOST_TEST((await_server_down() == caf::exit_reason::user_shutdown));
}

BOOST_AUTO_TEST_CASE(drain_gives_up_on_requests_after_the_drain_timeout) {
  start();
  client c{port};
  c.send(get_request("/park"));
  BOOST_REQUIRE(eventually([&] { return handler->parked == 1; }));
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  // The request in flight gets the handler's timeout answer, not a
  // silently closed connection.
  auto res = c.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 503u);
  BOOST_TEST(res->body.find("\"timeout\"") != std::string::npos);
  BOOST_TEST(res->header(bh::field::connection) == "close");
  BOOST_TEST(c.closed_by_peer());
  BOOST_TEST((await_server_down() == caf::exit_reason::user_shutdown));
}

BOOST_AUTO_TEST_CASE(drain_reads_a_half_received_request_to_its_end) {
  auto scfg = config();
  scfg.drain_timeout = 10s;
  scfg.idle_timeout = 10s;
  start(scfg);
  client idle{port};
  BOOST_REQUIRE(idle.get("/warm-up"));
  client half{port};
  // One write: once /first is answered, the server holds the start of the
  // POST too.
  half.send(get_request("/first") +
            "POST /second HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
  auto first = half.read();
  BOOST_REQUIRE(first);
  BOOST_TEST(first->body == "GET /first ");
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  // Draining: the idle connection goes, the half one stays.
  BOOST_TEST(idle.closed_by_peer());
  half.send("cd");
  auto second = half.read();
  BOOST_REQUIRE(second);
  BOOST_TEST(second->status == 200u);
  BOOST_TEST(second->body == "POST /second abcd");
  BOOST_TEST(second->header(bh::field::connection) == "close");
  BOOST_TEST(half.closed_by_peer());
  BOOST_TEST((await_server_down() == caf::exit_reason::user_shutdown));
}

BOOST_AUTO_TEST_CASE(drain_answers_503_to_a_request_still_half_received) {
  auto scfg = config();
  scfg.idle_timeout = 10s; // no 408 first
  start(scfg);
  client half{port};
  half.send(get_request("/first") + "GET /second HTTP/1.1\r\nHost:");
  BOOST_REQUIRE(half.read());
  auto before = std::chrono::system_clock::now();
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  auto res = half.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 503u);
  BOOST_TEST(res->body.find("\"shutting_down\"") != std::string::npos);
  BOOST_TEST(res->header(bh::field::connection) == "close");
  BOOST_TEST(date_between(res->header(bh::field::date), before,
                          std::chrono::system_clock::now()));
  BOOST_TEST(half.closed_by_peer());
  BOOST_TEST(handler->dispatched == 1);
  BOOST_TEST((await_server_down() == caf::exit_reason::user_shutdown));
}

BOOST_AUTO_TEST_CASE(
    unanswered_request_gets_the_timeout_response_and_the_connection_serves_on) {
  auto scfg = config();
  scfg.idle_timeout = 10s;
  scfg.request_timeout = 200ms;
  start(scfg);
  client c{port};
  c.send(get_request("/park") + get_request("/echo/after"));
  auto r1 = c.read();
  BOOST_REQUIRE(r1);
  BOOST_TEST(r1->status == 503u);
  BOOST_TEST(r1->body.find("\"timeout\"") != std::string::npos);
  auto r2 = c.read();
  BOOST_REQUIRE(r2);
  BOOST_TEST(r2->body == "GET /echo/after ");
  // The late answer to the parked request goes nowhere.
  client other{port};
  auto released = other.get("/release");
  BOOST_REQUIRE(released);
  BOOST_TEST(released->body == "release");
  auto r3 = c.get("/echo/next");
  BOOST_REQUIRE(r3);
  BOOST_TEST(r3->body == "GET /echo/next ");
}

BOOST_AUTO_TEST_CASE(server_tells_its_port_and_writes_the_port_file) {
  auto scfg = config();
  scfg.port_file = "/tmp/cartd_http_test_port_" + std::to_string(::getpid());
  start(scfg);
  std::ifstream in{scfg.port_file};
  unsigned from_file = 0;
  in >> from_file;
  BOOST_TEST(from_file == port);
  std::remove(scfg.port_file.c_str());
  caf::scoped_actor self{sys};
  uint16_t asked = 0;
  self->request(server, std::chrono::seconds{5}, caf::get_atom::value)
      .receive([&](uint16_t x) { asked = x; }, [](caf::error&) {});
  BOOST_TEST(asked == port);
}

BOOST_AUTO_TEST_CASE(restarted_server_can_rebind_the_same_port) {
  start();
  {
    client c{port};
    BOOST_REQUIRE(c.get("/first"));
  }
  auto old_port = port;
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  BOOST_REQUIRE((await_server_down() == caf::exit_reason::user_shutdown));
  auto scfg = config();
  scfg.port = old_port;
  start(scfg);
  BOOST_TEST(port == old_port);
  client c{port};
  BOOST_TEST(c.get("/second").has_value());
}

BOOST_AUTO_TEST_CASE(responses_take_the_configured_write_path) {
  start();
  client c{port};
  auto before = sendmsg_calls().load();
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(c.get("/echo/" + std::to_string(i)));
  auto direct = sendmsg_calls().load() - before;
  if (direct_writes)
    BOOST_TEST(direct == 3u);
  else
    BOOST_TEST(direct == 0u);
}

BOOST_AUTO_TEST_CASE(request_id_is_taken_when_valid_and_generated_otherwise) {
  start();
  client c{port};
  c.send("GET /a HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123_XYZ\r\n\r\n");
  auto given = c.read();
  BOOST_REQUIRE(given);
  BOOST_TEST(given->msg["X-Request-Id"] == "abc-123_XYZ");
  // Too long (129), a space inside, empty: each replaced by a fresh id.
  for (auto bad : {std::string(129, 'x'), std::string{"a b"}, std::string{}}) {
    c.send("GET /a HTTP/1.1\r\nHost: t\r\nX-Request-Id: " + bad +
           "\r\n\r\n");
    auto res = c.read();
    BOOST_REQUIRE(res);
    auto id = std::string{res->msg["X-Request-Id"]};
    BOOST_TEST(!id.empty());
    BOOST_TEST(id != bad);
    BOOST_TEST(id.size() <= 128u);
  }
  auto first = c.get("/a");
  auto second = c.get("/a");
  BOOST_REQUIRE(first && second);
  BOOST_TEST(!first->msg["X-Request-Id"].empty());
  BOOST_TEST(first->msg["X-Request-Id"] != second->msg["X-Request-Id"]);
  // The server's own answers carry one too.
  auto health = c.get("/health");
  BOOST_REQUIRE(health);
  BOOST_TEST(!health->msg["X-Request-Id"].empty());
  client bad{port};
  bad.send("NOT HTTP AT ALL\r\n\r\n");
  auto refused = bad.read();
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 400u);
  BOOST_TEST(!refused->msg["X-Request-Id"].empty());
}

BOOST_AUTO_TEST_CASE(observers_see_every_response_with_its_route) {
  auto obs = std::make_shared<recording_observer>();
  auto scfg = config();
  scfg.observers.push_back(obs);
  start(scfg);
  {
    client c{port};
    c.send("GET /echo/x?q=1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: r1\r\n\r\n");
    BOOST_REQUIRE(c.read());
    auto delayed = c.get("/delay/10");
    BOOST_REQUIRE(delayed);
    c.send("HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    BOOST_REQUIRE(c.read(true));
    BOOST_REQUIRE(eventually([&] { return obs->records().size() == 3; }));
  }
  client bad{port};
  bad.send("NOT HTTP AT ALL\r\n\r\n");
  BOOST_REQUIRE(bad.read());
  BOOST_REQUIRE(eventually([&] { return obs->records().size() == 4; }));
  auto rs = obs->records();
  // Answered inside handle (the route is known only after it returns).
  BOOST_TEST(rs[0].method == bh::verb::get);
  BOOST_TEST(rs[0].route == "/{any}");
  BOOST_TEST(rs[0].path == "/echo/x");
  BOOST_TEST(rs[0].request_id == "r1");
  BOOST_TEST(rs[0].status == 200u);
  BOOST_TEST(rs[0].body_bytes == std::string{"GET /echo/x "}.size());
  // Answered later, from a continuation.
  BOOST_TEST(rs[1].route == "/delay/{ms}");
  BOOST_TEST(rs[1].body_bytes == std::string{"delayed 10"}.size());
  BOOST_TEST(!rs[1].request_id.empty());
  // The server's own route, HEAD reported as HEAD.
  BOOST_TEST(rs[2].method == bh::verb::head);
  BOOST_TEST(rs[2].route == "/health");
  // Refused before routing.
  BOOST_TEST(rs[3].route == "");
  BOOST_TEST(rs[3].status == 400u);
  for (auto& r : rs)
    BOOST_TEST(r.ordered);
  // Open connections: up to 2 at once, and none once both closed.
  BOOST_REQUIRE(eventually([&] {
    auto cs = obs->connections();
    return !cs.empty() && cs.back() == 0;
  }));
  auto cs = obs->connections();
  BOOST_TEST(*std::max_element(cs.begin(), cs.end()) >= 1u);
}

BOOST_AUTO_TEST_CASE(every_response_carries_a_date) {
  auto scfg = config();
  scfg.max_body_size = 8;
  start(scfg);
  auto before = std::chrono::system_clock::now();
  std::vector<std::pair<std::string, std::optional<reply>>> answers;
  {
    client c{port};
    answers.emplace_back("handler", c.get("/echo/d"));
    answers.emplace_back("health", c.get("/health"));
    c.send("HEAD /etag HTTP/1.1\r\nHost: t\r\n\r\n");
    answers.emplace_back("head", c.read(true));
  }
  auto refused = [&](const std::string& what, const std::string& bytes) {
    client c{port};
    c.send(bytes);
    answers.emplace_back(what, c.read());
  };
  refused("400", "NOT HTTP AT ALL\r\n\r\n");
  refused("413", "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n");
  refused("431", "GET /x HTTP/1.1\r\nX-Fill: " + std::string(9000, 'f') +
                     "\r\n\r\n");
  refused("408", "GET /slow HTTP/1.1\r\n");
  auto after = std::chrono::system_clock::now();
  std::vector<unsigned> statuses;
  for (auto& [what, res] : answers) {
    BOOST_TEST_CONTEXT(what) {
      BOOST_REQUIRE(res);
      statuses.push_back(res->status);
      auto date = res->header(bh::field::date);
      BOOST_TEST(date_between(date, before, after), "Date: " << date);
    }
  }
  BOOST_TEST(statuses == (std::vector<unsigned>{200, 200, 200, 400, 413, 431,
                                                408}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_503_beyond_max_connections_carries_a_date) {
  auto scfg = config();
  scfg.max_connections = 1;
  start(scfg);
  client first{port};
  BOOST_REQUIRE(first.get("/one"));
  auto before = std::chrono::system_clock::now();
  client second{port};
  auto res = second.read();
  BOOST_REQUIRE(res);
  BOOST_TEST(res->status == 503u);
  BOOST_TEST(date_between(res->header(bh::field::date), before,
                          std::chrono::system_clock::now()));
}

BOOST_AUTO_TEST_CASE(if_none_match_with_the_current_etag_gets_304) {
  auto obs = std::make_shared<recording_observer>();
  auto scfg = config();
  scfg.observers.push_back(obs);
  start(scfg);
  client c{port};
  auto conditional = [&](const std::string& method, const std::string& target,
                         const std::string& field) {
    c.send(method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + field +
           "\r\n");
    return c.read(method == "HEAD");
  };
  for (std::string method : {"GET", "HEAD"}) {
    for (std::string field :
         {"If-None-Match: \"7\"\r\n", "If-None-Match: W/\"7\"\r\n",
          "If-None-Match: \"1\", \"7\"\r\n", "If-None-Match: *\r\n",
          // Two lines are one list.
          "If-None-Match: \"1\"\r\nIf-None-Match: \"7\"\r\n"}) {
      BOOST_TEST_CONTEXT(method << " with " << field) {
        auto res = conditional(method, "/etag", field);
        BOOST_REQUIRE(res);
        BOOST_TEST(res->status == 304u);
        BOOST_TEST(res->header(bh::field::etag) == "\"7\"");
        BOOST_TEST(res->msg["X-Extra"] == "kept");
        BOOST_TEST(res->body.empty());
        BOOST_TEST(res->header(bh::field::content_length) == "");
        BOOST_TEST(res->header(bh::field::content_type) == "");
        BOOST_TEST(!res->header(bh::field::date).empty());
      }
    }
  }
  // Another tag, a malformed field, a route without an ETag, a POST: the
  // usual answer. The connection is still in step afterwards.
  for (auto [method, target, field] :
       {std::tuple{"GET", "/etag", "If-None-Match: \"8\"\r\n"},
        std::tuple{"GET", "/etag", "If-None-Match: 7\r\n"},
        std::tuple{"GET", "/echo/n", "If-None-Match: *\r\n"},
        std::tuple{"POST", "/etag", "If-None-Match: \"7\"\r\n"
                                    "Content-Length: 0\r\n"}}) {
    BOOST_TEST_CONTEXT(method << " " << target << " with " << field) {
      auto res = conditional(method, target, field);
      BOOST_REQUIRE(res);
      BOOST_TEST(res->status == 200u);
      BOOST_TEST(!res->body.empty());
    }
  }
  auto last = c.get("/etag");
  BOOST_REQUIRE(last);
  BOOST_TEST(last->body == "tagged");
  // The observers see the 304s as such, without body bytes.
  BOOST_REQUIRE(eventually([&] { return obs->records().size() == 15; }));
  auto rs = obs->records();
  BOOST_TEST(rs[0].status == 304u);
  BOOST_TEST(rs[0].body_bytes == 0u);
  BOOST_TEST(rs[5].method == bh::verb::head);
  BOOST_TEST(rs[5].status == 304u);
}
