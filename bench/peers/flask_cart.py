#!/usr/bin/env python3
"""The seed service: the Flask cart that cartd replaces, as a benchmark peer.

Routes (one cart per process, in memory, as the seed had it):

  POST   /cart          {"item": "apple"} -> {"message": "Added to cart"}
  DELETE /cart/<item>   removes one unit  -> {"message": "Removed from cart"},
                                             404 when the item is absent
  GET    /cart          the bare map       -> {"apple": 1}

Run with Flask's development server (the default here):

  python3 flask_cart.py --port 5000 [--port-file PATH]

or with gunicorn (one process, so the in-memory cart is one cart; threads
for concurrency):

  gunicorn --chdir bench/peers --workers 1 --threads 8 \\
           --worker-class gthread --bind 127.0.0.1:5000 flask_cart:app
"""

import argparse
import threading

from flask import Flask, jsonify, request

app = Flask(__name__)

_cart = {}
# Threaded servers (the dev server, gunicorn's gthread) run handlers
# concurrently; the seed's dict updates need the lock to stay correct.
_lock = threading.Lock()


@app.route("/cart", methods=["POST"])
def add_to_cart():
    data = request.get_json(silent=True) or {}
    item = data.get("item")
    if not isinstance(item, str) or not item:
        return jsonify({"error": "item is required"}), 400
    with _lock:
        _cart[item] = _cart.get(item, 0) + 1
    return jsonify({"message": "Added to cart"})


@app.route("/cart/<item>", methods=["DELETE"])
def remove_from_cart(item):
    with _lock:
        if item not in _cart:
            return jsonify({"error": "Item not found"}), 404
        _cart[item] -= 1
        if _cart[item] == 0:
            del _cart[item]
    return jsonify({"message": "Removed from cart"})


@app.route("/cart", methods=["GET"])
def view_cart():
    with _lock:
        return jsonify(dict(_cart))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000,
                        help="0: any free port (see --port-file)")
    parser.add_argument("--port-file",
                        help="write the bound port here once listening")
    args = parser.parse_args()
    # Flask's development server, exactly what app.run() starts (threaded,
    # request log on stderr), but through make_server so that port 0 works
    # and the bound port can be reported.
    from werkzeug.serving import make_server
    server = make_server(args.host, args.port, app, threaded=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_port))
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
