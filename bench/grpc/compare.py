#!/usr/bin/python3
"""GetCart and AddItem over gRPC next to the same operations over HTTP, on
one cartd node, in one run: wrk with bench/wrk/get_hot.lua and add_many.lua
against bench_grpc_load (grpc_load.cpp) with the same workloads and
connection count, alternating, `--reps` times; prints the medians and the
gRPC/HTTP ratios, and writes them as JSON with --out.

  cmake --build build --target cartd bench_grpc_load
  python3 bench/grpc/compare.py --reps 3 --conns 64 --duration 4

Closed loop on both sides: each connection has one request in flight.
HTTP GETs of a resident cart are answered by the front end's read cache
(no message to the cart); gRPC's GetCart asks the cart (one actor round
trip), as HTTP does for a cart that is not cached."""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WRK_SCRIPTS = os.path.join(ROOT, "bench", "wrk")

WORKLOADS = {
    # name: (wrk script, wrk args, what)
    "get_hot": ("get_hot.lua", ["cart=hot"], "read one hot cart"),
    "add_many": ("add_many.lua", ["carts=10000", "items=8"],
                 "add one unit, 10,000 carts (durable)"),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, method, path, body=None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else body.encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.status


class Node:
    def __init__(self, binary, backend):
        self.dir = tempfile.mkdtemp(prefix="cartd-grpc-bench-")
        port_file = os.path.join(self.dir, "port")
        self.grpc_port = free_port()
        args = [binary, "--http.port=0", f"--http.port-file={port_file}",
                f"--grpc.port={self.grpc_port}", "--log.level=warn",
                f"--storage.backend={backend}"]
        if backend == "sqlite":
            args.append("--storage.path=" + os.path.join(self.dir, "data"))
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("cartd did not start")
            time.sleep(0.05)
        time.sleep(0.1)
        with open(port_file) as f:
            self.http_port = int(f.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_wrk(node, workload, conns, duration, warmup):
    script, args, _ = WORKLOADS[workload]
    base = ["wrk", "-t", "1", "-c", str(conns), "--timeout", "10s", "-s",
            os.path.join(WRK_SCRIPTS, script),
            f"http://127.0.0.1:{node.http_port}", "--"] + args
    if warmup > 0:
        subprocess.run(base[:1] + ["-d", f"{warmup}s"] + base[1:],
                       capture_output=True, check=True)
    out = subprocess.run(base[:1] + ["-d", f"{duration}s"] + base[1:],
                         capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH_JSON "))
    r = json.loads(line[len("BENCH_JSON "):])
    errors = sum(r["errors"].values())
    return {"req_per_s": r["requests"] / (r["duration_us"] / 1e6),
            "p99_us": r["latency_us"]["p99"], "errors": errors}


def run_grpc(load, node, workload, conns, duration, warmup):
    out = subprocess.run(
        [load, f"--target=127.0.0.1:{node.grpc_port}",
         f"--workload={workload}", f"--conns={conns}",
         f"--duration={duration}", f"--warmup={warmup}"],
        capture_output=True, text=True, timeout=duration + warmup + 60)
    line = next((l for l in out.stdout.splitlines()
                 if l.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError("bench_grpc_load failed: " + out.stderr)
    r = json.loads(line[len("BENCH_JSON "):])
    return {"req_per_s": r["req_per_s"], "p99_us": r["latency_us"]["p99"],
            "errors": r["errors"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    p.add_argument("--backend", default="sqlite", choices=("sqlite", "memory"))
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--duration", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workloads", default="get_hot,add_many")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    load = os.path.join(args.bin_dir, "bench_grpc_load")
    cartd = os.path.join(args.bin_dir, "cartd")
    for binary in (load, cartd):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: cmake --build build --target "
                     "cartd bench_grpc_load")
    workloads = args.workloads.split(",")
    samples = {(w, proto): [] for w in workloads for proto in ("http", "grpc")}
    load_before = os.getloadavg()
    node = Node(cartd, args.backend)
    try:
        for item in ("apple", "pear", "plum"):
            http(node.http_port, "POST", "/carts/hot/items",
                 '{"item":"%s","quantity":2}' % item)
        for rep in range(args.reps):
            for w in workloads:
                # Alternate which protocol goes first.
                order = ("http", "grpc") if rep % 2 == 0 else ("grpc", "http")
                for proto in order:
                    if proto == "http":
                        r = run_wrk(node, w, args.conns, args.duration,
                                    args.warmup)
                    else:
                        r = run_grpc(load, node, w, args.conns,
                                     args.duration, args.warmup)
                    samples[(w, proto)].append(r)
                    print(f"rep {rep + 1} {w:9} {proto:5} "
                          f"{r['req_per_s']:10.0f} req/s  p99 "
                          f"{r['p99_us'] / 1000:7.2f} ms  errors "
                          f"{r['errors']}", flush=True)
    finally:
        node.stop()
    rows = []
    print(f"\nmedians of {args.reps} runs, {args.conns} connections, "
          f"{args.duration} s each, cartd on {args.backend} "
          f"(load average before {load_before[0]:.1f}, after "
          f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    print(f"{'workload':10} {'HTTP req/s':>11} {'gRPC req/s':>11} "
          f"{'ratio':>6} {'HTTP p99':>9} {'gRPC p99':>9} {'ratio':>6}")
    for w in workloads:
        h = samples[(w, "http")]
        g = samples[(w, "grpc")]
        hr = statistics.median(x["req_per_s"] for x in h)
        gr = statistics.median(x["req_per_s"] for x in g)
        hp = statistics.median(x["p99_us"] for x in h) / 1000
        gp = statistics.median(x["p99_us"] for x in g) / 1000
        rows.append({"workload": w, "http_req_per_s": hr,
                     "grpc_req_per_s": gr, "throughput_ratio": gr / hr,
                     "http_p99_ms": hp, "grpc_p99_ms": gp,
                     "p99_ratio": gp / hp if hp else None,
                     "http_runs": h, "grpc_runs": g})
        print(f"{w:10} {hr:11.0f} {gr:11.0f} {gr / hr:6.2f} "
              f"{hp:7.2f}ms {gp:7.2f}ms {gp / hp if hp else 0:6.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"conns": args.conns, "duration_s": args.duration,
                       "reps": args.reps, "backend": args.backend,
                       "load_before": load_before, "host": platform.node(),
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
