#!/usr/bin/env python3
"""End-to-end tests of the gRPC front end (bindings/grpc): the real cartd
binary with --grpc.port, called by Debian's python3-grpcio through stubs
generated from bindings/grpc/cart.proto at build time.

  grpc_e2e_test.py --cartd BUILD/bin/cartd --stubs BUILD/tests/grpc/stubs
                   [unittest arguments, e.g. -k watch]

Each test class starts its own node(s); every node is stopped with SIGTERM
at the end and must exit 0 (a crash or a hung gRPC shutdown fails)."""

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

ARGS = None
pb = rpc = grpc = None

# -- the node -----------------------------------------------------------------


def die_with_parent():
    """In the child before exec: SIGKILL when this test dies (a CTest
    timeout), so no node outlives it."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, args=(), data=None):
        self.dir = tempfile.mkdtemp(prefix="cartd-grpc-")
        port_file = os.path.join(self.dir, "port")
        self.grpc_port = free_port()
        self.log = open(os.path.join(self.dir, "stderr"), "wb")
        storage = (["--storage.backend=sqlite", "--storage.path=" + data]
                   if data else ["--storage.backend=memory"])
        self.proc = subprocess.Popen(
            [ARGS.cartd, "--http.port=0", f"--http.port-file={port_file}",
             f"--grpc.port={self.grpc_port}"] + storage + list(args),
            cwd=self.dir, stdout=self.log, stderr=self.log,
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("cartd did not start: " + self.stderr())
            time.sleep(0.02)
        time.sleep(0.05)  # the port file is written, then closed
        with open(port_file) as f:
            self.http_port = int(f.read())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        self.stub = rpc.CartsStub(self.channel)

    def stderr(self):
        with open(os.path.join(self.dir, "stderr"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def http(self, method, path, body=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self):
        """SIGTERM; returns the exit code (killed after 20 s: None)."""
        self.channel.close()
        code = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            code = self.proc.returncode
        self.log.close()
        return code

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class NodeTest(unittest.TestCase):
    """A node per class; it must stop cleanly (exit 0) at the end."""
    node_args = ()

    @classmethod
    def setUpClass(cls):
        cls.node = Node(cls.node_args)
        cls.stub = cls.node.stub

    @classmethod
    def tearDownClass(cls):
        code = cls.node.stop()
        err = cls.node.stderr()
        cls.node.cleanup()
        if code != 0:
            raise AssertionError(f"cartd exited {code}: {err}")

    def assertStatus(self, call, code, prefix=None):
        with self.assertRaises(grpc.RpcError) as cm:
            call()
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        if prefix is not None:
            self.assertTrue(cm.exception.details().startswith(prefix),
                            cm.exception.details())
        return cm.exception

    def lines(self, cart):
        return {x.item: x.quantity for x in cart.lines}


def add(cart, item, quantity=None, **kw):
    req = pb.AddItemRequest(cart_id=cart, item=item, **kw)
    if quantity is not None:
        req.quantity = quantity
    return req


# -- the RPCs -----------------------------------------------------------------


class RpcTest(NodeTest):
    node_args = ("--carts.max-lines=3",)

    def test_every_rpc_changes_and_reads_the_cart(self):
        s = self.stub
        c = s.GetCart(pb.GetCartRequest(cart_id="r-1"), timeout=10)
        self.assertEqual((c.cart_id, c.version, len(c.lines)), ("r-1", 0, 0))
        c = s.AddItem(add("r-1", "apple"), timeout=10)  # quantity: 1
        self.assertEqual((self.lines(c), c.version), ({"apple": 1}, 1))
        c = s.AddItem(add("r-1", "pear", 4), timeout=10)
        self.assertEqual(self.lines(c), {"apple": 1, "pear": 4})
        self.assertEqual(c.total_quantity, 5)
        c = s.SetQuantity(pb.SetQuantityRequest(cart_id="r-1", item="apple",
                                                quantity=7), timeout=10)
        self.assertEqual(self.lines(c), {"apple": 7, "pear": 4})
        c = s.RemoveItem(pb.RemoveItemRequest(cart_id="r-1", item="pear"),
                         timeout=10)
        self.assertEqual((self.lines(c), c.version), ({"apple": 7}, 4))
        c = s.ClearCart(pb.ClearCartRequest(cart_id="r-1"), timeout=10)
        self.assertEqual((self.lines(c), c.version), ({}, 5))
        s.AddItem(add("r-1", "fig"), timeout=10)
        c = s.Checkout(pb.CheckoutRequest(cart_id="r-1", expected_version=6),
                       timeout=10)
        self.assertTrue(c.checked_out)
        self.assertEqual(c.version, 7)
        # Over HTTP, the same cart.
        status, body = self.node.http("GET", "/carts/r-1")
        self.assertEqual(status, 200)
        self.assertEqual((body["version"], body["checked_out"]), (7, True))

    def test_invalid_arguments(self):
        s = self.stub
        bad = grpc.StatusCode.INVALID_ARGUMENT
        self.assertStatus(lambda: s.GetCart(pb.GetCartRequest(), timeout=10),
                          bad, "invalid_cart_id:")
        self.assertStatus(lambda: s.GetCart(
            pb.GetCartRequest(cart_id="a/b"), timeout=10), bad,
            "invalid_cart_id:")
        self.assertStatus(lambda: s.AddItem(add("i-1", ""), timeout=10), bad,
                          "invalid_item_id:")
        self.assertStatus(lambda: s.AddItem(add("i-1", "x" * 129),
                                            timeout=10), bad,
                          "invalid_item_id:")
        self.assertStatus(lambda: s.AddItem(add("i-1", "tab\there"),
                                            timeout=10), bad,
                          "invalid_item_id:")
        self.assertStatus(lambda: s.AddItem(add("i-1", "a", 0), timeout=10),
                          bad, "invalid_quantity:")
        self.assertStatus(lambda: s.AddItem(add("i-1", "a", 1000001),
                                            timeout=10), bad,
                          "invalid_quantity:")
        self.assertStatus(lambda: s.SetQuantity(pb.SetQuantityRequest(
            cart_id="i-1", item="a"), timeout=10), bad, "invalid_field:")
        self.assertStatus(lambda: s.AddItem(
            add("i-1", "a"), metadata=[("idempotency-key", "k" * 129)],
            timeout=10), bad, "invalid_idempotency_key:")
        # Nothing of it reached the cart.
        c = s.GetCart(pb.GetCartRequest(cart_id="i-1"), timeout=10)
        self.assertEqual(c.version, 0)

    def test_refusals_of_the_cart_rules(self):
        s = self.stub
        pre = grpc.StatusCode.FAILED_PRECONDITION
        self.assertStatus(lambda: s.RemoveItem(pb.RemoveItemRequest(
            cart_id="f-1", item="nope"), timeout=10),
            grpc.StatusCode.NOT_FOUND, "item_not_found:")
        self.assertStatus(lambda: s.Checkout(pb.CheckoutRequest(
            cart_id="f-1"), timeout=10), pre, "empty_cart:")
        s.AddItem(add("f-1", "a"), timeout=10)
        self.assertStatus(lambda: s.AddItem(add("f-1", "b",
                                                expected_version=7),
                                            timeout=10), pre,
                          "version_mismatch:")
        s.AddItem(add("f-1", "b", expected_version=1), timeout=10)
        s.AddItem(add("f-1", "c"), timeout=10)
        self.assertStatus(lambda: s.AddItem(add("f-1", "d"), timeout=10), pre,
                          "cart_full:")
        s.Checkout(pb.CheckoutRequest(cart_id="f-1"), timeout=10)
        e = self.assertStatus(lambda: s.AddItem(add("f-1", "a"), timeout=10),
                              pre, "checked_out:")
        self.assertIn("checked out", e.details())

    def test_a_keyed_change_retried_is_applied_once(self):
        s = self.stub
        md = [("idempotency-key", "retry-1")]
        first, call1 = s.AddItem.with_call(add("k-1", "tea", 2), metadata=md,
                                           timeout=10)
        again, call2 = s.AddItem.with_call(add("k-1", "tea", 2), metadata=md,
                                           timeout=10)
        self.assertEqual(first, again)
        self.assertEqual(self.lines(again), {"tea": 2})
        replayed = dict(call2.initial_metadata()).get("idempotent-replayed")
        self.assertEqual(replayed, "true")
        self.assertIsNone(dict(call1.initial_metadata())
                          .get("idempotent-replayed"))
        self.assertEqual(s.GetCart(pb.GetCartRequest(cart_id="k-1"),
                                   timeout=10).version, 1)
        # The same key for another request.
        self.assertStatus(lambda: s.AddItem(add("k-1", "tea", 3), metadata=md,
                                            timeout=10),
                          grpc.StatusCode.ALREADY_EXISTS,
                          "idempotency_key_reused:")
        # The key is HTTP's Idempotency-Key: a retry over HTTP replays too.
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.node.http_port}/carts/k-1/items",
            method="POST", data=b'{"item":"tea","quantity":2}',
            headers={"Content-Type": "application/json",
                     "Idempotency-Key": "retry-1"})
        with urllib.request.urlopen(req, timeout=10) as res:
            self.assertEqual(res.headers["Idempotent-Replayed"], "true")
            self.assertEqual(json.loads(res.read())["version"], 1)


# -- bad input ------------------------------------------------------------------


def raw_add_item(channel):
    """AddItem taking the request's bytes as they are."""
    return channel.unary_unary("/cartd.v1.Carts/AddItem",
                               request_serializer=lambda b: b,
                               response_deserializer=pb.Cart.FromString)


def field(number, payload):
    """A length-delimited protobuf field (payload shorter than 128 bytes)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


class BadInputTest(NodeTest):
    def test_invalid_utf8_is_an_invalid_argument(self):
        call = raw_add_item(self.node.channel)
        for item in (b"\xff\xfe", b"ab\xc3", b"\xed\xa0\x80"):
            self.assertStatus(
                lambda: call(field(1, b"u-1") + field(2, item), timeout=10),
                grpc.StatusCode.INVALID_ARGUMENT, "invalid_item_id:")
        # A valid request in the same bytes works, and nothing else changed.
        c = call(field(1, b"u-1") + field(2, "café".encode()), timeout=10)
        self.assertEqual(self.lines(c), {"café": 1})

    def test_garbage_is_refused_and_the_node_keeps_serving(self):
        call = raw_add_item(self.node.channel)
        with self.assertRaises(grpc.RpcError) as cm:
            call(b"\xff\xff\xff\xff\xff\xff", timeout=10)
        self.assertNotEqual(cm.exception.code(), grpc.StatusCode.OK)
        c = self.stub.AddItem(add("u-2", "a"), timeout=10)
        self.assertEqual(c.version, 1)

    def test_an_oversized_message_is_refused_and_the_node_keeps_serving(self):
        # Larger than http.max-body-size (64 KiB by default).
        self.assertStatus(lambda: self.stub.AddItem(
            add("o-1", "x" * (70 * 1024)), timeout=10),
            grpc.StatusCode.RESOURCE_EXHAUSTED)
        c = self.stub.AddItem(add("o-1", "x" * 128), timeout=10)
        self.assertEqual(c.version, 1)


# -- streams, health, reflection -------------------------------------------------

SERVING, NOT_SERVING = 1, 2


def health_request(service):
    """HealthCheckRequest{service}."""
    return field(1, service.encode()) if service else b""


def health_status(reply):
    """HealthCheckResponse's status (0: UNKNOWN, absent on the wire)."""
    return reply[1] if reply[:1] == b"\x08" else 0


def health_check(node, service=""):
    check = node.channel.unary_unary(
        "/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
        response_deserializer=lambda b: b)
    return health_status(check(health_request(service), timeout=10))


def wait_health(node, want, service="", seconds=20):
    """Polls Health/Check until it says `want`; the last status seen."""
    deadline = time.monotonic() + seconds
    while True:
        status = health_check(node, service)
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.05)



class WatchTest(NodeTest):
    def test_watch_sees_changes_made_over_http(self):
        self.stub.AddItem(add("w-1", "a"), timeout=10)
        stream = self.stub.WatchCart(pb.WatchCartRequest(cart_id="w-1"),
                                     timeout=10)
        first = next(stream)
        self.assertEqual((first.version, self.lines(first)), (1, {"a": 1}))
        status, _ = self.node.http("POST", "/carts/w-1/items",
                                   {"item": "b", "quantity": 2})
        self.assertEqual(status, 200)
        self.node.http("PUT", "/carts/w-1/items/a", {"quantity": 5})
        self.stub.RemoveItem(pb.RemoveItemRequest(cart_id="w-1", item="b"),
                             timeout=10)
        seen = [next(stream) for _ in range(3)]
        self.assertEqual([c.version for c in seen], [2, 3, 4])
        self.assertEqual([self.lines(c) for c in seen],
                         [{"a": 1, "b": 2}, {"a": 5, "b": 2}, {"a": 5}])
        stream.cancel()

    def test_two_streams_of_one_cart_each_get_every_change(self):
        streams = [self.stub.WatchCart(pb.WatchCartRequest(cart_id="w-2"),
                                       timeout=10) for _ in range(2)]
        for s in streams:
            self.assertEqual(next(s).version, 0)
        for i in range(5):
            self.node.http("POST", "/carts/w-2/items", {"item": f"i{i}"})
        for s in streams:
            self.assertEqual([next(s).version for _ in range(5)],
                             [1, 2, 3, 4, 5])
            s.cancel()

    def test_the_client_deadline_ends_a_stream(self):
        stream = self.stub.WatchCart(pb.WatchCartRequest(cart_id="w-3"),
                                     timeout=0.5)
        self.assertEqual(next(stream).version, 0)
        with self.assertRaises(grpc.RpcError) as cm:
            next(stream)
        self.assertEqual(cm.exception.code(),
                         grpc.StatusCode.DEADLINE_EXCEEDED)
        # The node serves on.
        self.assertEqual(self.stub.AddItem(add("w-3", "a"),
                                           timeout=10).version, 1)

    def test_an_invalid_cart_id_ends_the_stream_at_once(self):
        stream = self.stub.WatchCart(pb.WatchCartRequest(cart_id="a b"),
                                     timeout=10)
        with self.assertRaises(grpc.RpcError) as cm:
            next(stream)
        self.assertEqual(cm.exception.code(),
                         grpc.StatusCode.INVALID_ARGUMENT)


class ServicesTest(NodeTest):
    def test_health_reports_serving_for_the_node_and_the_cart_service(self):
        # The node says NOT_SERVING while it starts: wait for its first
        # SERVING, then both names agree.
        self.assertEqual(wait_health(self.node, SERVING), SERVING)
        self.assertEqual(health_check(self.node, "cartd.v1.Carts"), SERVING)
        self.assertStatus(lambda: health_check(self.node, "no.such.Service"),
                          grpc.StatusCode.NOT_FOUND)

    def test_reflection_lists_the_cart_service(self):
        info = self.node.channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b)
        # ServerReflectionRequest{list_services: ""}
        replies = list(info(iter([b"\x3a\x00"]), timeout=10))
        self.assertEqual(len(replies), 1)
        self.assertIn(b"cartd.v1.Carts", replies[0])
        self.assertIn(b"grpc.health.v1.Health", replies[0])


    def test_scripts_grpc_call_works_as_the_readme_shows(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "..", "..", "scripts", "grpc-call")
        address = f"127.0.0.1:{self.node.grpc_port}"
        out = subprocess.run(
            [script, "-H", "idempotency-key:readme-1", address, "AddItem",
             '{"cart_id":"readme","item":"tea","quantity":2}'],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        answer = json.loads(out.stdout)
        self.assertEqual(answer["lines"], [{"item": "tea", "quantity": "2"}])
        out = subprocess.run(
            [script, address, "RemoveItem",
             '{"cart_id":"readme","item":"fig"}'],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertTrue(out.stderr.startswith("NOT_FOUND: item_not_found:"),
                        out.stderr)


class StopTest(unittest.TestCase):
    def test_sigterm_ends_open_streams_and_the_node_exits(self):
        node = Node()
        try:
            stream = node.stub.WatchCart(pb.WatchCartRequest(cart_id="s-1"))
            self.assertEqual(next(stream).version, 0)
            self.assertEqual(wait_health(node, SERVING, "cartd.v1.Carts"),
                             SERVING)
            health = node.channel.unary_stream(
                "/grpc.health.v1.Health/Watch",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b)(
                    health_request("cartd.v1.Carts"), timeout=20)
            self.assertEqual(health_status(next(health)), SERVING)
            node.proc.send_signal(signal.SIGTERM)
            # A health watcher (a load balancer) hears NOT_SERVING before the
            # node goes.
            self.assertEqual(health_status(next(health)), NOT_SERVING)
            with self.assertRaises(grpc.RpcError) as cm:
                next(stream)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            # Ended by the node at once, not cancelled by gRPC after the
            # drain timeout.
            self.assertTrue(cm.exception.details().startswith("unavailable:"),
                            cm.exception.details())
            self.assertIn("stopping", cm.exception.details())
            self.assertEqual(node.proc.wait(20), 0, node.stderr())
        finally:
            node.stop()
            node.cleanup()


# -- time and the journal ------------------------------------------------------------


class JournalTest(unittest.TestCase):
    """A node on SQLite whose journal the test locks or fills."""

    def setUp(self):
        self.data = tempfile.mkdtemp(prefix="cartd-grpc-data-")

    def tearDown(self):
        shutil.rmtree(self.data, ignore_errors=True)

    def run_node(self, args):
        node = Node(args, data=self.data)
        self.addCleanup(node.cleanup)
        return node

    def test_the_client_deadline_is_honoured_while_the_journal_stalls(self):
        node = self.run_node(["--storage.retry-for=20s",
                              "--http.request-timeout=30s"])
        s = node.stub
        s.AddItem(add("d-1", "a"), timeout=10)
        lock = sqlite3.connect(os.path.join(self.data, "cartd.db"),
                               isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            with self.assertRaises(grpc.RpcError) as cm:
                s.AddItem(add("d-1", "b"), timeout=0.5)
            self.assertEqual(cm.exception.code(),
                             grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertLess(time.monotonic() - started, 5)
            # Reads are not held up by the stalled write.
            c = s.GetCart(pb.GetCartRequest(cart_id="d-1"), timeout=10)
            self.assertEqual(c.version, 1)
        finally:
            lock.execute("COMMIT")
            lock.close()
        # The stalled change may or may not have been applied (as over
        # HTTP); the node serves on.
        c = s.AddItem(add("d-1", "c"), timeout=10)
        self.assertIn("c", self.lines_of(c))
        self.assertEqual(node.stop(), 0, node.stderr())

    def test_health_follows_the_journal(self):
        node = self.run_node(["--storage.retry-for=200ms"])
        s = node.stub
        self.assertEqual(wait_health(node, SERVING), SERVING)
        s.AddItem(add("h-1", "a"), timeout=10)
        lock = sqlite3.connect(os.path.join(self.data, "cartd.db"),
                               isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            # The commit fails once its retries run out (its outcome
            # unknown to the node: a timeout, or storage unavailable): the
            # journal is unavailable, /ready says so, and so does the
            # health service.
            with self.assertRaises(grpc.RpcError) as cm:
                s.AddItem(add("h-1", "b"), timeout=10)
            self.assertIn(cm.exception.code(),
                          (grpc.StatusCode.UNAVAILABLE,
                           grpc.StatusCode.DEADLINE_EXCEEDED),
                          cm.exception.details())
            self.assertEqual(wait_health(node, NOT_SERVING), NOT_SERVING)
            self.assertEqual(health_check(node, "cartd.v1.Carts"),
                             NOT_SERVING)
            status, body = node.http("GET", "/ready")
            self.assertEqual((status, body["check"]), (503, "journal"))
        finally:
            lock.execute("COMMIT")
            lock.close()
        # A commit that succeeds makes the journal, and the node, ready again.
        c = s.AddItem(add("h-1", "c"), timeout=10)
        self.assertIn("c", self.lines_of(c))
        self.assertEqual(wait_health(node, SERVING), SERVING)
        self.assertEqual(health_check(node, "cartd.v1.Carts"), SERVING)
        self.assertEqual(node.stop(), 0, node.stderr())

    def test_a_full_journal_is_unavailable(self):
        node = self.run_node(["--storage.max-pages=12"])
        s = node.stub
        refused = None
        for i in range(2000):
            try:
                s.AddItem(add(f"full-{i}", "x" * 100 + str(i)), timeout=10)
            except grpc.RpcError as e:
                refused = e
                break
        self.assertIsNotNone(refused, "2000 carts fit in 12 pages")
        self.assertEqual(refused.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertTrue(refused.details().startswith("storage_failure:"),
                        refused.details())
        # Reads still work.
        self.assertEqual(s.GetCart(pb.GetCartRequest(cart_id="full-0"),
                                   timeout=10).version, 1)
        self.assertEqual(node.stop(), 0, node.stderr())

    @staticmethod
    def lines_of(cart):
        return {x.item: x.quantity for x in cart.lines}


# -- a cluster ---------------------------------------------------------------------

PG_BIN = "/usr/lib/postgresql/15/bin"


class Postgres:
    """A throwaway PostgreSQL 15 server (as user postgres when root)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cartd-grpc-pg-")
        self.as_postgres = ["runuser", "-u", "postgres", "--"] \
            if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.run([f"{PG_BIN}/initdb", "-D", self.dir + "/data", "-A", "trust",
                  "-U", "postgres", "-E", "UTF8", "--no-locale",
                  "--no-sync"])
        self.port = free_port()
        self.run([f"{PG_BIN}/pg_ctl", "-D", self.dir + "/data", "-l",
                  self.dir + "/server.log", "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} "
                  "-c listen_addresses=127.0.0.1", "start"])
        self.conninfo = (f"host=127.0.0.1 port={self.port} user=postgres "
                         "dbname=postgres")

    def run(self, args):
        subprocess.run(self.as_postgres + args, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)

    def stop(self):
        self.run([f"{PG_BIN}/pg_ctl", "-D", self.dir + "/data", "-m",
                  "immediate", "-w", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterTest(unittest.TestCase):
    """Two nodes on one PostgreSQL: either's gRPC port serves every cart."""

    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres()
        cls.nodes = []
        try:
            for name in ("g0", "g1"):
                cls.nodes.append(Node([
                    "--storage.backend=postgres",
                    "--storage.postgres=" + cls.pg.conninfo,
                    "--cluster.enabled", f"--cluster.node={name}",
                    "--cluster.lease=1500ms", "--cluster.heartbeat=300ms"]))
            deadline = time.monotonic() + 60
            while not cls.formed():
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster did not form: " +
                                       cls.nodes[-1].stderr())
                time.sleep(0.1)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def formed(cls):
        for node in cls.nodes:
            status, body = node.http("GET", "/cluster")
            if status != 200 or sorted(
                    m["name"] for m in body["members"]
                    if m["status"] == "up") != ["g0", "g1"]:
                return False
            if node.http("GET", "/ready")[0] != 200:
                return False
        return True

    @classmethod
    def tearDownClass(cls):
        for node in cls.nodes:
            node.stop()
            node.cleanup()
        cls.pg.stop()

    def owner(self, cart):
        """The node whose cart actor answers for `cart` (Cartd-Node)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.nodes[0].http_port}/carts/{cart}")
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.headers["Cartd-Node"]

    def test_either_node_serves_every_cart(self):
        carts = [f"cl-{i}" for i in range(12)]
        owners = {self.owner(c) for c in carts}
        self.assertEqual(owners, {"g0", "g1"}, "12 carts all on one node")
        for i, cart in enumerate(carts):
            via = self.nodes[i % 2].stub
            c = via.AddItem(add(cart, "tea", 2), timeout=10,
                            metadata=[("idempotency-key", cart)])
            self.assertEqual(c.version, 1)
        for cart in carts:
            for node in self.nodes:
                c = node.stub.GetCart(pb.GetCartRequest(cart_id=cart),
                                      timeout=10)
                self.assertEqual(({x.item: x.quantity for x in c.lines},
                                  c.version), ({"tea": 2}, 1))
        # A refusal from the other node's cart keeps its status.
        remote = next(c for c in carts if self.owner(c) == "g1")
        with self.assertRaises(grpc.RpcError) as cm:
            self.nodes[0].stub.RemoveItem(
                pb.RemoveItemRequest(cart_id=remote, item="fig"), timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_a_watch_through_one_node_sees_changes_made_on_the_other(self):
        cart = next(c for c in (f"cw-{i}" for i in range(40))
                    if self.owner(c) == "g1")
        stream = self.nodes[0].stub.WatchCart(
            pb.WatchCartRequest(cart_id=cart), timeout=20)
        self.assertEqual(next(stream).version, 0)
        status, _ = self.nodes[1].http("POST", f"/carts/{cart}/items",
                                       {"item": "fig"})
        self.assertEqual(status, 200)
        self.nodes[1].stub.AddItem(add(cart, "kiwi"), timeout=10)
        self.assertEqual([next(stream).version for _ in range(2)], [1, 2])
        stream.cancel()


def main():
    global ARGS, pb, rpc, grpc
    parser = argparse.ArgumentParser()
    parser.add_argument("--cartd", required=True)
    parser.add_argument("--stubs", required=True,
                        help="the folder holding bindings/grpc/cart_pb2.py")
    ARGS, rest = parser.parse_known_args()
    ARGS.cartd = os.path.abspath(ARGS.cartd)
    sys.path.insert(0, ARGS.stubs)
    import grpc as grpc_module
    from bindings.grpc import cart_pb2, cart_pb2_grpc
    grpc, pb, rpc = grpc_module, cart_pb2, cart_pb2_grpc
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
