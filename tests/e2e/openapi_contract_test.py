#!/usr/bin/env python3
"""The OpenAPI document (docs/openapi.yaml) against a running cartd.

    openapi_contract_test.py --cartd build/bin/cartd \
                             --document docs/openapi.yaml [--workdir DIR]

Starts the real cartd binary (a node on the memory journal with fault
injection, a node on SQLite whose journal the test write-locks, and a
two-node cluster on a throwaway PostgreSQL server that the test crashes at
the end), drives every
operation of the document and every status it can cause from outside, and
checks each response against the document: its status is one the operation
(method + path template) documents, its body validates against that
status's schema (JSON Schema 2020-12, the document's $refs resolved), its
Content-Type is a documented media type, and the headers the document marks
as required are there and match their schemas. A path the document does not
list must answer 404, a method a listed path does not list 405 with the
right Allow (the document's components NotFound and MethodNotAllowed). It
fails on any undocumented (method, path template, status), on any operation
it did not drive, and when GET /openapi.json is not the document.

Statuses it cannot cause from outside are reported as checked by schema
only. Exit status 0 when everything holds.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import yaml
from jsonschema import Draft202012Validator

METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

# -- the document -------------------------------------------------------------


class Document:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.problems = []
        self.lint()

    def resolve(self, obj):
        """Follows an OpenAPI $ref (a local JSON pointer) to its target."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj and seen < 10:
            obj = self.pointer(obj["$ref"])
            seen += 1
        return obj

    def pointer(self, ref):
        if not ref.startswith("#/"):
            raise ValueError(f"not a local $ref: {ref}")
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def lint(self):
        """Checks the rules of OpenAPI 3.1 that a client generator relies on
        and a typo breaks (no official meta-schema ships with Debian)."""
        d = self.doc
        p = self.problems
        if not str(d.get("openapi", "")).startswith("3.1."):
            p.append("openapi must be 3.1.x")
        info = d.get("info", {})
        if not info.get("title") or not info.get("version"):
            p.append("info needs title and version")

        def walk(node, where):
            if isinstance(node, dict):
                if "$ref" in node:
                    try:
                        self.pointer(node["$ref"])
                    except (KeyError, ValueError, TypeError):
                        p.append(f"{where}: $ref {node['$ref']} does not resolve")
                for k, v in node.items():
                    walk(v, f"{where}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}/{i}")

        walk(d, "#")
        ids = set()
        for template, item in d.get("paths", {}).items():
            names = set(re.findall(r"{([^}]+)}", template))
            common = item.get("parameters", [])
            for method in METHODS:
                if method not in item:
                    continue
                op = item[method]
                where = f"{method.upper()} {template}"
                oid = op.get("operationId")
                if not oid or oid in ids:
                    p.append(f"{where}: operationId missing or not unique")
                ids.add(oid)
                params = [self.resolve(x) for x in common + op.get("parameters", [])]
                declared = {x["name"] for x in params if x.get("in") == "path"}
                if declared != names:
                    p.append(f"{where}: path parameters {sorted(declared)} "
                             f"!= {sorted(names)}")
                for x in params:
                    if x.get("in") == "path" and x.get("required") is not True:
                        p.append(f"{where}: path parameter {x['name']} must "
                                 "be required")
                responses = op.get("responses", {})
                if not responses:
                    p.append(f"{where}: no responses")
                for status, res in responses.items():
                    if not re.fullmatch(r"[1-5][0-9][0-9]", str(status)):
                        p.append(f"{where}: status {status!r} is not a code "
                                 "(quote it in YAML)")
                    res = self.resolve(res)
                    if "description" not in res:
                        p.append(f"{where} {status}: no description")
                    # Every response carries the request's id.
                    if "X-Request-Id" not in res.get("headers", {}):
                        p.append(f"{where} {status}: no X-Request-Id header")
        for name in ("NotFound", "MethodNotAllowed"):
            if name not in d.get("components", {}).get("responses", {}):
                p.append(f"#/components/responses/{name} is missing (the "
                         "answer to a path or method the document does not "
                         "list)")
        for name, schema in self.schemas():
            try:
                Draft202012Validator.check_schema(schema)
            except Exception as e:  # noqa: BLE001 - report and go on
                p.append(f"{name}: not a JSON Schema 2020-12: {e}")
        # The official OAS 3.1 schema, where openapi-spec-validator is
        # installed (pip; Debian does not package it).
        try:
            from openapi_spec_validator import validate
        except ImportError:
            print("note: openapi-spec-validator not installed: the document "
                  "is checked by the rules above only")
            return
        try:
            validate(d)
        except Exception as e:  # noqa: BLE001 - report and go on
            p.append(f"not a valid OpenAPI 3.1 document: {e}")

    def schemas(self):
        """Every schema of the document, with where it is."""
        for name, s in self.doc.get("components", {}).get("schemas", {}).items():
            yield f"#/components/schemas/{name}", s

    def operations(self):
        for template, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    yield method.upper(), template

    def template_for(self, path):
        """The path template of the document that `path` takes (route_table's
        rules: literal segments match byte for byte, `{x}` any one segment),
        or None."""
        segments = path.split("?")[0].split("/")[1:]
        best = None
        for template in self.doc["paths"]:
            parts = template.split("/")[1:]
            if len(parts) != len(segments):
                continue
            literal = 0
            for a, b in zip(parts, segments):
                if a.startswith("{") and a.endswith("}"):
                    continue
                if a != b:
                    break
                literal += 1
            else:
                if best is None or literal > best[0]:
                    best = (literal, template)
        return best[1] if best else None

    def validate(self, pointer, instance):
        """Errors of `instance` against the schema at `pointer`, with the
        document as the root every $ref resolves against."""
        root = dict(self.doc)
        root["$ref"] = pointer
        v = Draft202012Validator(root)
        return [e.message for e in v.iter_errors(instance)]


# RFC 9110 §5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT")


def escape(part):
    return part.replace("~", "~0").replace("/", "~1")


# -- HTTP over a socket ---------------------------------------------------------


class Response:
    def __init__(self, status, headers, body, closed):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.closed = closed

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))


_pending = {}  # socket -> bytes received past the last response


def read_response(sock, head_request, timeout=10.0):
    """Reads one response from `sock`; bytes of the next one (pipelining)
    stay for the next call."""
    sock.settimeout(timeout)
    buf = _pending.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if buf:
                raise RuntimeError(f"connection closed mid-response: {buf!r}")
            return None
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if head_request or status < 200 or status in (204, 304):
        length = 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed mid-body")
        rest += chunk
    if len(rest) > length:
        _pending[sock] = rest[length:]
    closed = headers.get("connection", "").lower() == "close"
    return Response(status, headers, rest[:length], closed)


def build_request(method, path, headers=None, body=None):
    headers = dict(headers or {})
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if body is not None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Length", str(len(body)))
    for k, v in headers.items():
        if v is not None:
            lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Client:
    """One keep-alive connection, opened again when the server closed it."""

    def __init__(self, port):
        self.port = port
        self.sock = None

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def exchange(self, data, head_request=False):
        for attempt in range(2):
            fresh = self.sock is None
            if fresh:
                self.sock = self.connect()
            try:
                self.sock.sendall(data)
                res = read_response(self.sock, head_request)
            except (ConnectionError, BrokenPipeError):
                res = None
            if res is None:
                self.close()
                if fresh:
                    raise RuntimeError("the server closed a new connection")
                continue  # an idle connection the server closed: again
            if res.closed:
                self.close()
            return res
        raise RuntimeError("no response")

    def close(self):
        if self.sock is not None:
            _pending.pop(self.sock, None)
            self.sock.close()
            self.sock = None


# -- the node -----------------------------------------------------------------


def die_with_parent():
    """In the child before exec: SIGKILL when this test dies (a CTest
    timeout), so no node outlives it."""
    import ctypes
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class Node:
    def __init__(self, binary, args, workdir):
        self.dir = tempfile.mkdtemp(prefix="cartd-openapi-", dir=workdir)
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen(
            [os.path.abspath(binary), "--http.port=0",
             f"--http.port-file={port_file}"] + args,
            cwd=self.dir, stdout=self.log, stderr=self.log,
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("cartd did not start: " + self.stderr())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    def stderr(self):
        with open(os.path.join(self.dir, "stderr"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- checking -----------------------------------------------------------------


class Checker:
    def __init__(self, document, unserved=()):
        self.d = document
        self.failures = []
        # (method, template) -> statuses seen
        self.seen = {}
        # Templates this run's nodes do not serve (404 then).
        self.unserved = set(unserved)

    def fail(self, what):
        self.failures.append(what)
        print("FAIL:", what)

    def check(self, client, method, path, expect, headers=None, body=None,
              raw=None, label=None):
        """Sends a request (or `raw` bytes) and checks the response against
        the document and against `expect`, the status the case means to
        cause. Returns the response."""
        head = method == "HEAD"
        data = raw if raw is not None else build_request(method, path, headers,
                                                          body)
        res = client.exchange(data, head_request=head)
        what = label or f"{method} {path[:60]}"
        if res.status != expect:
            self.fail(f"{what}: status {res.status}, meant to cause {expect}: "
                      f"{res.body[:200]!r}")
        self.conforms(method, path, res, what)
        return res

    def conforms(self, method, path, res, what):
        d = self.d
        template = d.template_for(path)
        op_method = "GET" if method == "HEAD" else method
        status = str(res.status)
        if template is None:
            self.against(f"{what} (no such path)", res, method,
                         "#/components/responses/NotFound", "404")
            return
        item = d.doc["paths"][template]
        if op_method.lower() not in item:
            self.seen.setdefault((op_method + "?", template), set()).add(status)
            if template in self.unserved:
                self.against(f"{what} (unserved path)", res, method,
                             "#/components/responses/NotFound", "404")
                return
            self.against(f"{what} (method not listed)", res, method,
                         "#/components/responses/MethodNotAllowed", "405")
            allowed = []
            for m in METHODS:
                if m in item:
                    allowed.append(m.upper())
                    if m == "get":
                        allowed.append("HEAD")
            got = [x.strip() for x in (res.header("Allow") or "").split(",")]
            if sorted(got) != sorted(allowed):
                self.fail(f"{what}: Allow {got}, the document lists {allowed}")
            return
        self.seen.setdefault((op_method, template), set()).add(status)
        responses = item[op_method.lower()]["responses"]
        if status not in responses:
            self.fail(f"{what}: status {status} is not documented for "
                      f"{op_method} {template}")
            return
        pointer = (f"#/paths/{escape(template)}/{op_method.lower()}"
                   f"/responses/{status}")
        self.against(what, res, method, pointer, status)

    def against(self, what, res, method, pointer, status):
        """Checks `res` against the response object at `pointer`."""
        # Every response, documented per operation or not, carries Date.
        date = res.header("Date")
        if date is None or not IMF_FIXDATE.fullmatch(date):
            self.fail(f"{what}: Date {date!r} is not an IMF-fixdate")
        if str(res.status) != status:
            self.fail(f"{what}: status {res.status}, the document says {status}")
            return
        ref = pointer
        obj = self.d.pointer(pointer)
        while "$ref" in obj:
            ref = obj["$ref"]
            obj = self.d.pointer(ref)
        for name, h in obj.get("headers", {}).items():
            hp = f"{ref}/headers/{escape(name)}"
            h = self.d.resolve(h)
            value = res.header(name)
            if value is None:
                if h.get("required"):
                    self.fail(f"{what}: no {name} header (required)")
                continue
            if "schema" in h:
                schema_ptr = hp
                if "$ref" in self.d.pointer(hp):
                    schema_ptr = self.d.pointer(hp)["$ref"]
                for e in self.d.validate(schema_ptr + "/schema", value):
                    self.fail(f"{what}: header {name}={value!r}: {e}")
        content = obj.get("content")
        if method == "HEAD":
            if res.body:
                self.fail(f"{what}: HEAD answered with a body")
            return
        if not content:
            if res.body:
                self.fail(f"{what}: a body the document does not describe")
            return
        ctype = res.header("Content-Type") or ""
        media = ctype.split(";")[0].strip().lower()
        key = ctype if ctype in content else media if media in content else None
        if key is None:
            self.fail(f"{what}: Content-Type {ctype!r}, documented "
                      f"{list(content)}")
            return
        schema_ptr = f"{ref}/content/{escape(key)}/schema"
        if "schema" not in content[key]:
            return
        if media == "application/json" or media.endswith("+json"):
            try:
                instance = res.json()
            except ValueError as e:
                self.fail(f"{what}: body is not JSON: {e}")
                return
        else:
            instance = res.body.decode("utf-8", "replace")
        for e in self.d.validate(schema_ptr, instance):
            self.fail(f"{what}: body {res.body[:160]!r}: {e}")

    def report(self):
        missing = []
        for method, template in self.d.operations():
            key = (method, template)
            if key not in self.seen:
                missing.append(f"{method} {template}")
        for m in missing:
            self.fail(f"operation never driven: {m}")
        print("\nStatuses caused, per operation (the rest: checked by schema "
              "only):")
        for method, template in self.d.operations():
            documented = self.d.doc["paths"][template][method.lower()]["responses"]
            seen = self.seen.get((method, template), set())
            rest = sorted(set(documented) - seen)
            print(f"  {method:6} {template:30} caused {sorted(seen)}; "
                  f"schema only {rest}")


# -- the cases ----------------------------------------------------------------


def drive_memory_node(ck, port):
    """Every operation and the statuses a memory node can show."""
    c = Client(port)

    # Probes and routing.
    ck.check(c, "GET", "/health", 200)
    ck.check(c, "HEAD", "/health", 200)
    ck.check(c, "GET", "/ready", 200)
    ck.check(c, "HEAD", "/ready", 200)
    ck.check(c, "POST", "/health", 405, body={})
    ck.check(c, "DELETE", "/ready", 405)
    ck.check(c, "GET", "/no/such/route", 404)
    ck.check(c, "GET", "/carts", 404)
    ck.check(c, "PATCH", "/carts/a", 405)
    ck.check(c, "GET", "/carts/a/items", 405)
    ck.check(c, "GET", "/carts/a/checkout", 405)
    ck.check(c, "POST", "/carts/a/items/apple", 405, body={})
    ck.check(c, "PUT", "/cart", 405, body={})
    ck.check(c, "GET", "/cart/apple", 405)
    ck.check(c, "GET", "/debug/carts/a/crash", 405)

    # X-Request-Id: a valid one comes back, an invalid one is replaced.
    res = ck.check(c, "GET", "/health", 200, headers={"X-Request-Id": "abc-123"})
    if res.header("X-Request-Id") != "abc-123":
        ck.fail(f"X-Request-Id abc-123 came back as {res.header('X-Request-Id')!r}")
    res = ck.check(c, "GET", "/carts/a", 200,
                   headers={"X-Request-Id": "x" * 129})
    if res.header("X-Request-Id") in (None, "x" * 129):
        ck.fail("an X-Request-Id of 129 characters was not replaced")

    # Carts.
    res = ck.check(c, "GET", "/carts/a", 200)
    if res.json()["version"] != 0 or res.header("ETag") != '"0"':
        ck.fail(f"a new cart is not empty at version 0: {res.body!r}")
    ck.check(c, "HEAD", "/carts/a", 200)
    # If-None-Match with the current ETag: 304, no body, on GET and HEAD.
    for method in ("GET", "HEAD"):
        for tag in ('"0"', 'W/"0"', '"9", "0"', "*"):
            res = ck.check(c, method, "/carts/a", 304,
                           headers={"If-None-Match": tag},
                           label=f"{method} /carts/a If-None-Match {tag}")
            if res.body or res.header("ETag") != '"0"':
                ck.fail(f"304 to {tag}: ETag {res.header('ETag')!r}, "
                        f"body {res.body!r}")
    ck.check(c, "GET", "/carts/a", 200, headers={"If-None-Match": '"1"'})
    ck.check(c, "GET", "/carts/a?view=full", 200)
    ck.check(c, "GET", "/carts/", 400)
    ck.check(c, "GET", "/carts/a/", 404)
    ck.check(c, "GET", "/c%61rts/a", 404)
    ck.check(c, "GET", "/carts/bad!id", 400)
    ck.check(c, "GET", "/carts/" + "a" * 129, 400)
    ck.check(c, "POST", "/carts/a/items", 200, body={"item": "apple", "quantity": 2})
    ck.check(c, "POST", "/carts/a/items", 200, body={"item": "pear"},
             headers={"If-Match": '"1"'})
    ck.check(c, "POST", "/carts/a/items", 412, body={"item": "pear"},
             headers={"If-Match": '"1"'})
    ck.check(c, "POST", "/carts/a/items", 400, body={"item": "pear"},
             headers={"If-Match": "seven"})
    ck.check(c, "POST", "/carts/a/items", 400, body="{not json")
    ck.check(c, "POST", "/carts/a/items", 400, body=[1, 2])
    ck.check(c, "POST", "/carts/a/items", 400, body={"quantity": 1})
    ck.check(c, "POST", "/carts/a/items", 400, body={"item": "apple", "quantity": 0})
    ck.check(c, "POST", "/carts/a/items", 400,
             body={"item": "apple", "quantity": 1000001})
    ck.check(c, "POST", "/carts/a/items", 400, body={"item": "apple", "quantity": "2"})
    ck.check(c, "POST", "/carts/a/items", 400, body={"item": "apple", "qty": 2})
    ck.check(c, "POST", "/carts/a/items", 400, body={"item": "a\u0001b"})
    ck.check(c, "POST", "/carts/a/items", 400, body={"item": "apple"},
             headers={"Idempotency-Key": "k" * 129})
    ck.check(c, "POST", "/carts/bad!id/items", 400, body={"item": "apple"})
    ck.check(c, "POST", "/carts/a/items", 415, body="item=apple",
             headers={"Content-Type": "text/plain"})
    ck.check(c, "POST", "/carts/a/items", 411,
             raw=b"POST /carts/a/items HTTP/1.1\r\nHost: x\r\n\r\n")
    res = ck.check(c, "POST", "/carts/a/items", 200, body={"item": "plum"},
                   headers={"Idempotency-Key": "key-1"})
    if res.header("Idempotent-Replayed") is not None:
        ck.fail("a first keyed change says Idempotent-Replayed")
    res = ck.check(c, "POST", "/carts/a/items", 200, body={"item": "plum"},
                   headers={"Idempotency-Key": "key-1"})
    if res.header("Idempotent-Replayed") != "true":
        ck.fail("a replayed change lacks Idempotent-Replayed: true")
    ck.check(c, "POST", "/carts/a/items", 422, body={"item": "fig"},
             headers={"Idempotency-Key": "key-1"})
    ck.check(c, "PUT", "/carts/a/items/apple", 200, body={"quantity": 5})
    ck.check(c, "PUT", "/carts/a/items/apple", 412, body={"quantity": 5},
             headers={"If-Match": '"99"'})
    ck.check(c, "PUT", "/carts/a/items/apple", 400, body={})
    ck.check(c, "PUT", "/carts/a/items/apple", 400, body={"quantity": -1})
    ck.check(c, "PUT", "/carts/a/items/apple", 400, body={"quantity": 1, "x": 1})
    ck.check(c, "PUT", "/carts/a/items/apple", 400, body="[")
    ck.check(c, "PUT", "/carts/a/items/%zz", 400, body={"quantity": 1})
    ck.check(c, "PUT", "/carts/a/items/kiwi", 404, body={"quantity": 0})
    ck.check(c, "PUT", "/carts/a/items/apple", 415, body="5",
             headers={"Content-Type": "text/plain"})
    ck.check(c, "PUT", "/carts/a/items/apple", 411,
             raw=b"PUT /carts/a/items/apple HTTP/1.1\r\nHost: x\r\n\r\n")
    ck.check(c, "PUT", "/carts/a/items/apple", 200, body={"quantity": 6},
             headers={"Idempotency-Key": "key-2"})
    ck.check(c, "PUT", "/carts/a/items/apple", 422, body={"quantity": 7},
             headers={"Idempotency-Key": "key-2"})
    ck.check(c, "DELETE", "/carts/a/items/kiwi", 404)
    ck.check(c, "DELETE", "/carts/a/items/pear", 200)
    ck.check(c, "DELETE", "/carts/a/items/plum", 412, headers={"If-Match": '"1"'})
    ck.check(c, "DELETE", "/carts/a/items/plum", 400,
             headers={"Idempotency-Key": ""})
    ck.check(c, "DELETE", "/carts/a/items/plum", 200,
             headers={"Idempotency-Key": "key-3"})
    ck.check(c, "DELETE", "/carts/a/items/apple", 422,
             headers={"Idempotency-Key": "key-3"})
    ck.check(c, "DELETE", "/carts/b", 200)
    ck.check(c, "DELETE", "/carts/b", 412, headers={"If-Match": '"5"'})
    ck.check(c, "DELETE", "/carts/b!", 400)
    ck.check(c, "DELETE", "/carts/b", 400, headers={"If-Match": "W/x"})
    ck.check(c, "DELETE", "/carts/b", 400, headers={"Idempotency-Key": "a b"})
    ck.check(c, "DELETE", "/carts/a/items/plum", 400, headers={"If-Match": "-1"})
    ck.check(c, "POST", "/carts/b/checkout", 400,
             headers={"Idempotency-Key": "k" * 129})
    ck.check(c, "DELETE", "/carts/b", 200, headers={"Idempotency-Key": "key-4"})
    ck.check(c, "POST", "/carts/b/checkout", 422, headers={"Idempotency-Key": "key-4"})
    ck.check(c, "POST", "/carts/b/checkout", 409)  # empty
    ck.check(c, "POST", "/carts/b/checkout", 400, headers={"If-Match": "x"})
    ck.check(c, "POST", "/carts/a/checkout", 412, headers={"If-Match": '"1"'})
    ck.check(c, "POST", "/carts/a/checkout", 200)
    ck.check(c, "POST", "/carts/a/checkout", 409)
    ck.check(c, "POST", "/carts/a/items", 409, body={"item": "apple"})
    ck.check(c, "PUT", "/carts/a/items/apple", 409, body={"quantity": 1})
    ck.check(c, "DELETE", "/carts/a/items/apple", 409)
    ck.check(c, "DELETE", "/carts/a", 409)
    # --carts.max-lines=3: a fourth line does not fit.
    for item in ("x", "y", "w"):
        ck.check(c, "POST", "/carts/full/items", 200, body={"item": item})
    ck.check(c, "POST", "/carts/full/items", 409, body={"item": "z"})
    ck.check(c, "PUT", "/carts/full/items/z", 409, body={"quantity": 1})
    # A line holds at most 1000000000 units (1000 changes of 1000000).
    ck.check(c, "PUT", "/carts/big/items/x", 200, body={"quantity": 1000000})
    bulk_add(c, "/carts/big/items", {"item": "x", "quantity": 1000000}, 999)
    ck.check(c, "POST", "/carts/big/items", 409,
             body={"item": "x", "quantity": 1000000})

    # Fault injection.
    ck.check(c, "POST", "/debug/carts/a/crash", 500)
    ck.check(c, "POST", "/debug/carts/bad!/crash", 400)
    ck.check(c, "GET", "/carts/a", 200)

    # The seed API on the cart "default".
    ck.check(c, "GET", "/cart", 200)
    ck.check(c, "HEAD", "/cart", 200)
    ck.check(c, "POST", "/cart", 200, body={"item": "apple"})
    ck.check(c, "POST", "/cart", 200, body={"item": "apple"},
             headers={"Idempotency-Key": "seed-1"})
    res = ck.check(c, "POST", "/cart", 200, body={"item": "apple"},
                   headers={"Idempotency-Key": "seed-1"})
    if res.header("Idempotent-Replayed") != "true":
        ck.fail("a replayed seed change lacks Idempotent-Replayed: true")
    ck.check(c, "POST", "/cart", 422, body={"item": "pear"},
             headers={"Idempotency-Key": "seed-1"})
    ck.check(c, "POST", "/cart", 400, body={"item": "apple"},
             headers={"Idempotency-Key": "bad key"})
    ck.check(c, "POST", "/cart", 400, body="nope")
    ck.check(c, "POST", "/cart", 400, body={"item": 7})
    ck.check(c, "POST", "/cart", 400, body={"item": "apple", "quantity": 2})
    ck.check(c, "POST", "/cart", 415, body="apple",
             headers={"Content-Type": "text/plain"})
    ck.check(c, "POST", "/cart", 411, raw=b"POST /cart HTTP/1.1\r\nHost: x\r\n\r\n")
    ck.check(c, "GET", "/cart", 200)
    ck.check(c, "DELETE", "/cart/apple", 200)
    ck.check(c, "DELETE", "/cart/apple", 200, headers={"Idempotency-Key": "seed-2"})
    ck.check(c, "DELETE", "/cart/kiwi", 422, headers={"Idempotency-Key": "seed-2"})
    ck.check(c, "DELETE", "/cart/kiwi", 404)
    ck.check(c, "DELETE", "/cart/%zz", 400)
    ck.check(c, "DELETE", "/cart/x", 400, headers={"Idempotency-Key": "k" * 200})
    for item in ("a", "b", "c"):
        ck.check(c, "POST", "/cart", 200, body={"item": item})
    ck.check(c, "POST", "/cart", 409, body={"item": "d"})  # full
    ck.check(c, "PUT", "/carts/default/items/a", 200, body={"quantity": 1000000})
    bulk_add(c, "/carts/default/items", {"item": "a", "quantity": 1000000}, 999)
    ck.check(c, "POST", "/cart", 409, body={"item": "a"})  # line full
    ck.check(c, "POST", "/carts/default/checkout", 200)
    ck.check(c, "DELETE", "/cart/a", 409)

    # Management endpoints. /cluster: only a cluster node serves it.
    ck.check(c, "GET", "/cluster", 404)
    ck.check(c, "POST", "/cluster", 404, body={})
    ck.check(c, "GET", "/openapi.json", 200)
    ck.check(c, "HEAD", "/openapi.json", 200)
    ck.check(c, "POST", "/openapi.json", 405, body={})
    # /metrics: served (metrics are on by default).
    ck.check(c, "GET", "/metrics", 200)
    ck.check(c, "HEAD", "/metrics", 200)
    ck.check(c, "DELETE", "/metrics", 405)
    ck.check(c, "GET", "/dashboard", 200)
    ck.check(c, "HEAD", "/dashboard", 200)
    ck.check(c, "POST", "/dashboard", 405, body={})

    # Refusals before routing (each closes the connection).
    ck.check(c, "GET", "/carts/a", 400,
             raw=b"GET /carts/a HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    ck.check(c, "GET", "/health", 400,
             raw=b"GET /health HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n")
    ck.check(c, "GET", "/carts/" + "a" * 3000, 414)
    ck.check(c, "GET", "/health", 414, raw=b"GET /health?" + b"q" * 3000
             + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    ck.check(c, "GET", "/carts/a", 431, headers={"X-Filler": "f" * 9000})
    ck.check(c, "GET", "/health", 431, headers={"X-Filler": "f" * 9000})
    ck.check(c, "POST", "/carts/a/items", 413,
             raw=b"POST /carts/a/items HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n")
    ck.check(c, "POST", "/carts/a/items", 501,
             raw=b"POST /carts/a/items HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: gzip\r\n\r\n")
    # 408: a request that does not arrive within --http.idle-timeout.
    slow = Client(port)
    slow.sock = slow.connect()
    slow.sock.sendall(b"GET /carts/a HTTP/1.1\r\nHost: x\r\n")
    res = read_response(slow.sock, False, timeout=15)
    if res is None:
        ck.fail("no 408 for a request that never finished")
    else:
        if res.status != 408:
            ck.fail(f"an unfinished request got {res.status}, meant 408")
        ck.conforms("GET", "/carts/a", res, "GET /carts/a (unfinished)")
    slow.close()
    c.close()


def bulk_add(c, path, body, n):
    """Sends `n` identical changes pipelined on one connection, 100 at a
    time (statuses not checked against the document: every one is the 200
    checked above)."""
    sock = c.connect()
    data = build_request("POST", path, None, body)
    while n > 0:
        batch = min(n, 100)
        sock.sendall(data * batch)
        for _ in range(batch):
            res = read_response(sock, False)
            if res is None or res.status != 200:
                raise RuntimeError(f"bulk add: {res and res.status}")
        n -= batch
    _pending.pop(sock, None)
    sock.close()


def drive_too_many_connections(ck, port, limit):
    """With --http.max-connections=limit, the next connection gets 503."""
    socks = []
    try:
        deadline = time.monotonic() + 20
        while len(socks) < limit:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(build_request("GET", "/health"))
            res = read_response(s, False)
            if res is not None and res.status == 200:
                socks.append(s)
                continue
            # Connections closed a moment ago may still count.
            s.close()
            if time.monotonic() > deadline:
                raise RuntimeError("cannot open connections up to the limit")
            time.sleep(0.1)
        for path in ("/health", "/carts/a", "/carts/a/items"):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                res = read_response(s, False, timeout=5)
            except socket.timeout:
                res = None
            s.close()
            if res is None or res.status != 503:
                ck.fail(f"connection beyond the limit: {res and res.status}")
                continue
            # The 503 is written before any request: it holds for any route.
            method = "POST" if path.endswith("items") else "GET"
            ck.conforms(method, path, res, f"{method} {path} (too many "
                        "connections)")
    finally:
        for s in socks:
            _pending.pop(s, None)
            s.close()


def drive_shutting_down(ck, node):
    """SIGTERM while a request is half received: with
    --http.drain-timeout=300ms it never arrives in full (the 1 s idle
    timeout would give 408 later), so 503 shutting_down
    (a request completed during the drain is answered as usual: e2e_http)."""
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    try:
        # The complete request's answer shows the half one was read too.
        s.sendall(build_request("GET", "/health")
                  + b"POST /carts/a/items HTTP/1.1\r\nHost: x\r\n")
        res = read_response(s, False)
        if res is None or res.status != 200:
            ck.fail(f"GET /health before the drain: {res and res.status}")
            return
        node.proc.send_signal(signal.SIGTERM)
        res = read_response(s, False, timeout=15)
        if res is None:
            ck.fail("a half received request got no answer at the drain")
            return
        if res.status != 503 or not res.closed:
            ck.fail(f"a half received request at the drain got {res.status} "
                    f"(closed: {res.closed}), meant 503 and close")
        ck.conforms("POST", "/carts/a/items", res,
                    "POST /carts/a/items (half received at the drain)")
    finally:
        _pending.pop(s, None)
        s.close()


def drive_sqlite_node(ck, port, db):
    """503 on changes and /ready's 503 journal, while the test holds the
    SQLite journal's write lock."""
    c = Client(port)
    ck.check(c, "POST", "/carts/s/items", 200, body={"item": "apple"})
    ck.check(c, "POST", "/cart", 200, body={"item": "apple"})
    # Read (so watched): the node answers GETs of it from its own copy.
    ck.check(c, "POST", "/carts/r/items", 200, body={"item": "apple"})
    ck.check(c, "GET", "/carts/r", 200)
    ck.check(c, "GET", "/ready", 200)
    lock = sqlite3.connect(db, timeout=10, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        ck.check(c, "POST", "/carts/s/items", 503, body={"item": "pear"})
        ck.check(c, "DELETE", "/cart/apple", 503)
        # The commit waiting for the lock fails after SQLite's busy timeout
        # (5 s); from then until a read or commit succeeds, /ready says 503.
        deadline = time.monotonic() + 20
        while True:
            res = c.exchange(build_request("GET", "/ready"))
            if res.status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if res.status != 503:
            ck.fail(f"/ready while no commit succeeds: {res.status}")
        ck.conforms("GET", "/ready", res, "GET /ready (journal locked)")
        if res.status == 503 and res.json().get("check") != "journal":
            ck.fail(f"/ready names {res.json().get('check')!r}, not journal")
        ck.check(c, "GET", "/carts/r", 200)  # still readable
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    c.close()


PG_BIN = "/usr/lib/postgresql/15/bin"


class Postgres:
    """A throwaway PostgreSQL server (as user postgres when run as root),
    like tests/support/postgres_server."""

    def __init__(self, workdir):
        import pwd
        self.dir = tempfile.mkdtemp(prefix="cartd-openapi-pg-", dir=workdir)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.start_watchdog()
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--no-locale", "--no-sync")
        # A port found free can be taken before the server binds it: then
        # another one.
        for attempt in range(3):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            try:
                self.run("pg_ctl", "-D", self.data, "-l",
                         os.path.join(self.dir, "server.log"), "-w", "-t",
                         "60", "-o", f"-p {self.port} -k {self.dir} "
                         "-c listen_addresses=127.0.0.1", "start")
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
        self.running = True

    def start_watchdog(self):
        """Stops the server and removes its directory once this test is gone,
        however it ended."""
        stop = " ".join([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data,
                         "-m", "immediate", "-w", "stop"])
        if os.geteuid() == 0:
            stop = "runuser -u postgres -- " + stop
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; "
                  f"done; {stop}; rm -rf {self.dir}")
        subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)

    def run(self, tool, *args):
        cmd = [os.path.join(PG_BIN, tool)] + list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def conninfo(self):
        return (f"host=127.0.0.1 port={self.port} user=postgres "
                "dbname=postgres connect_timeout=2")

    def crash(self):
        if self.running:
            self.run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            self.running = False

    def stop(self):
        try:
            self.crash()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def poll(what, fn, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def drive_cluster(ck, nodes, pg):
    """GET /cluster, Cartd-Node on cart answers (local and remote carts),
    and the 503s of a node without a valid lease."""
    c = Client(nodes[0].port)

    def formed():
        res = c.exchange(build_request("GET", "/cluster"))
        if res.status != 200:
            return False
        members = res.json()["members"]
        return len(members) == 2 and all(m["status"] == "up" for m in members)

    poll("the cluster to form", formed, 30)
    ck.check(c, "GET", "/cluster", 200)
    ck.check(c, "HEAD", "/cluster", 200)
    ck.check(c, "POST", "/cluster", 405, body={})
    ck.check(c, "GET", "/ready", 200)
    answered = set()
    for i in range(12):
        res = ck.check(c, "POST", f"/carts/c{i}/items", 200,
                       body={"item": "apple"})
        answered.add(res.header("Cartd-Node"))
        res = ck.check(c, "GET", f"/carts/c{i}", 200)
        answered.add(res.header("Cartd-Node"))
    if answered != {"n0", "n1"}:
        ck.fail(f"Cartd-Node named {answered}, not both nodes n0 and n1")
    ck.check(c, "GET", "/cart", 200)
    # Without its database no node can renew its lease: once it lapsed,
    # cart requests get 503 and /ready names the failing check.
    pg.crash()

    def no_lease():
        res = c.exchange(build_request("GET", "/carts/c1"))
        return res.status == 503 and b"no valid cluster lease" in res.body
    poll("the lease to lapse", no_lease, 30)
    res = ck.check(c, "GET", "/ready", 503)
    if res.status == 503 and res.json()["check"] not in ("cluster lease",
                                                         "journal"):
        ck.fail(f"/ready without a lease names {res.json()['check']!r}")
    ck.check(c, "GET", "/carts/c1", 503)
    ck.check(c, "POST", "/carts/c1/items", 503, body={"item": "apple"})
    ck.check(c, "DELETE", "/cart/apple", 503)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cartd", required=True)
    ap.add_argument("--document", required=True)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    d = Document(args.document)
    for p in d.problems:
        print("FAIL: document:", p)
    ck = Checker(d, unserved={"/cluster"})  # not a cluster node
    ck.failures.extend(d.problems)

    limit = 8
    mem = Node(args.cartd, ["--storage.backend=memory", "--debug.fault-injection",
                            "--carts.max-lines=3", "--http.idle-timeout=1s",
                            "--http.drain-timeout=300ms",
                            f"--http.max-connections={limit}"], args.workdir)
    try:
        drive_memory_node(ck, mem.port)
        check_served_document(ck, mem.port, d)
        drive_too_many_connections(ck, mem.port, limit)
        drive_shutting_down(ck, mem)
    finally:
        mem.stop()

    sq_dir = tempfile.mkdtemp(prefix="cartd-openapi-db-", dir=args.workdir)
    sq = Node(args.cartd, ["--storage.backend=sqlite", f"--storage.path={sq_dir}",
                           "--storage.retry-for=200ms",
                           "--http.request-timeout=1s"], args.workdir)
    try:
        drive_sqlite_node(ck, sq.port, os.path.join(sq_dir, "cartd.db"))
    finally:
        sq.stop()
        shutil.rmtree(sq_dir, ignore_errors=True)

    pg = Postgres(args.workdir)
    nodes = []
    try:
        for name in ("n0", "n1"):
            nodes.append(Node(args.cartd, [
                "--storage.backend=postgres",
                f"--storage.postgres={pg.conninfo()}",
                "--cluster.enabled", f"--cluster.node={name}",
                "--cluster.lease=1500ms", "--cluster.heartbeat=300ms",
                "--http.request-timeout=2s"], args.workdir))
        ck.unserved.discard("/cluster")
        drive_cluster(ck, nodes, pg)
    finally:
        for n in nodes:
            n.stop()
        pg.stop()

    ck.report()
    if ck.failures:
        print(f"\n{len(ck.failures)} failure(s)")
        return 1
    print("\nthe node's responses conform to the document")
    return 0


def check_served_document(ck, port, d):
    """GET /openapi.json is the document (when the node serves it)."""
    if "/openapi.json" not in d.doc["paths"]:
        return
    c = Client(port)
    res = ck.check(c, "GET", "/openapi.json", 200)
    ck.check(c, "HEAD", "/openapi.json", 200)
    c.close()
    if res.status == 200 and res.json() != d.doc:
        ck.fail("GET /openapi.json is not docs/openapi.yaml")


if __name__ == "__main__":
    sys.exit(main())
