#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/corpus/ (run it again after changing
a harness's input layout). FuzzedDataProvider takes strings from the front
of an input (a backslash followed by another byte ends one) and integers and
booleans from its end, last byte first."""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(harness, data):
    folder = os.path.join(HERE, "corpus", harness)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def tail(*values):
    """Integers as the harness consumes them, first one first."""
    return bytes(reversed(values))


def string(s):
    """A string for ConsumeRandomLengthString."""
    if isinstance(s, str):
        s = s.encode()
    return s.replace(b"\\", b"\\\\") + b"\\ "


# request_reader: HTTP bytes, then piece sizes, how many, small limits.
REQUESTS = [
    b"GET /carts/42?full=1 HTTP/1.1\r\nHost: cartd\r\n\r\n",
    b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://127.0.0.1:8080/health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /carts/42/items HTTP/1.1\r\nHost: cartd\r\n"
    b"Content-Type: application/json\r\nContent-Length: 14\r\n\r\n"
    b'{"sku":"ab12"}',
    b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    b"Content-Length: 5\r\n\r\nhello",
    b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    b"GET /next HTTP/1.1\r\n\r\n",
    # Issue 13, finding 4: an empty chunked body.
    b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n",
    # Issue 13, finding 3: a bad header line.
    b"POST /carts/x/items HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r}",
    b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"GET /a HTTP/1.1\r\n\r\n\r\nDELETE /c HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"a" * 150
    + b"\r\nBad line\r\nX-More: " + b"b" * 300 + b"\r\n\r\n",
    b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n0123456789abcdefg",
    b"\x16\x03\x01\x02\x00\x01",
]
for i, req in enumerate(REQUESTS):
    pieces = [1, 2, 5, 10, 3, 7, 64, 13][: 1 + i % 8]
    small = i % 2
    # ConsumeIntegralInRange(1, 64) maps a byte b to 1 + b % 64.
    write("request_reader",
          req + tail(small, len(pieces) - 1, *[p - 1 for p in pieces]))

# cart_body: per request (route, has_length, content type, If-Match?,
# Idempotency-Key?) from the end, (If-Match, Idempotency-Key, path segment,
# body) from the front; the number of lines a cart may hold first of all.
ADD, SET, REMOVE, REMOVE_ONE, CLEAR, CHECKOUT = range(6)


def cart_input(max_lines, requests):
    front, ints = b"", [max_lines - 1]
    for route, body, segment, if_match, key in requests:
        ints += [route, 1, 0, 1 if if_match is not None else 0]
        if if_match is not None:
            front += string(if_match)
        ints += [1 if key is not None else 0]
        if key is not None:
            front += string(key)
        front += string(segment) + string(body)
    return front + tail(*ints)


def body(**kv):
    return json.dumps(kv)


write("cart_body", cart_input(4, [
    (ADD, body(item="apple", quantity=2), "", None, None),
    (ADD, body(item="pear"), "", '"1"', "key-1"),
    (SET, body(quantity=5), "apple", None, None),
    (REMOVE_ONE, "", "pear", None, "k2"),
    (CHECKOUT, "", "", "W/\"4\"", None),
    (CLEAR, "", "", None, None),
]))
write("cart_body", cart_input(2, [
    (ADD, body(item="a", quantity=1000000), "", None, None),
    (ADD, body(item="b", quantity=999999), "", None, None),
    (ADD, body(item="c"), "", None, None),
    (SET, body(quantity=0), "a", None, None),
    (REMOVE, "", "b%20c", None, None),
    (CLEAR, "", "", "*", None),
]))
write("cart_body", cart_input(1, [
    (ADD, '{"item":"\\u00e9t\\u00e9","quantity":-1}', "", None, None),
    (ADD, '{"item":1}', "", None, None),
    (SET, '{"quantity":18446744073709551615}', "x", None, None),
    (ADD, '[1,2', "", None, None),
]))

# journal_decode: a snapshot or not (last byte), then the snapshot and the
# event payloads from the front.
EVENTS = [
    '{"v":1,"type":"item_added","item":"apple","quantity":2}',
    '{"v":1,"type":"item_quantity_set","item":"apple","quantity":7}',
    '{"v":1,"type":"item_removed","item":"apple"}',
    '{"v":1,"type":"cart_cleared"}',
    '{"v":1,"type":"cart_checked_out"}',
]
SNAPSHOT = '{"v":1,"lines":{"apple":2,"pear":1},"checked_out":false,"version":3}'
write("journal_decode", b"".join(string(e) for e in EVENTS) + tail(0))
write("journal_decode",
      string(SNAPSHOT) + b"".join(string(e) for e in EVENTS[:2]) + tail(1))
write("journal_decode", string('{"v":2,"type":"cart_cleared"}') + tail(0))
