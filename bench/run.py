#!/usr/bin/env python3
"""cartd's benchmark harness: cartd against nginx and the Flask seed service
in one run, plus microbenchmarks and a memory/scale run.

  python3 bench/run.py                 # the full run (`make bench`)
  python3 bench/run.py --quick         # the CTest smoke: every server
                                       # answers, files written, no timing
  python3 bench/run.py --help          # every option

Results go to bench/results/<date>-<host>.{json,md,png} (--out for another
directory). See bench/README.md for how to read them.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from harness import ab  # noqa: E402
from harness import cluster as cl  # noqa: E402
from harness import postgres as pg  # noqa: E402
from harness import report  # noqa: E402
from harness import servers as srv  # noqa: E402
from harness import workloads as wl  # noqa: E402


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def loud(msg):
    bar = "!" * 78
    print("\n%s\n!! %s\n%s\n" % (bar, msg, bar), file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke mode for CTest: 1 s per run, 16 connections, "
                        "one repetition, status codes checked, no micro or "
                        "memory phase; fails if a server does not answer or "
                        "a run has errors")
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"),
                   help="where cartd, bench_micro and bench_memory are")
    p.add_argument("--base-bin-dir", default=None,
                   help="another build's bin directory (e.g. the commit "
                        "before a change): adds base-cartd-sqlite and "
                        "base-cartd-memory, run with that build's cartd "
                        "and interleaved with the others in every "
                        "repetition (before/after in the same run)")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="directory for <date>-<host>.{json,md,png}")
    p.add_argument("--reps", type=int, default=3,
                   help="repetitions of every run (the median is reported)")
    p.add_argument("--duration", type=int, default=4,
                   help="seconds per measured wrk run")
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of wrk warm-up per server and workload")
    p.add_argument("--conns", type=int, default=64,
                   help="connections for the workloads without a sweep")
    p.add_argument("--add-conns", default="64,256",
                   help="connection counts of add_many (durable adds: group "
                        "commit batches what is in flight, so they depend "
                        "on concurrency)")
    p.add_argument("--sweep", default="1,16,64,256,1024",
                   help="connection counts of the main mix (and of the "
                        "Flask peers' seed mix)")
    p.add_argument("--servers", default="cartd-sqlite,cartd-sqlite-batch1,"
                   "cartd-memory,cartd-postgres,pgbench,nginx,flask,gunicorn",
                   help="which servers, comma-separated")
    p.add_argument("--workloads", default="get_hot,add_many,get_many,mix,seed",
                   help="which workloads, comma-separated")
    p.add_argument("--phases", default="http,micro,memory,cluster",
                   help="http (wrk), micro (bench_micro), memory "
                        "(bench_memory), cluster (a cluster on PostgreSQL "
                        "against one node, and failover times), ab "
                        "(interleaved A/B pairs: median ratio and bootstrap "
                        "interval of throughput and CPU per request; "
                        "harness/ab.py; not in the default)")
    p.add_argument("--ab", default="metrics-get,metrics-add,"
                   "metrics-add-sqlite,access-log-get",
                   help="the ab phase's comparisons (harness/ab.py)")
    p.add_argument("--ab-reps", type=int, default=15,
                   help="pairs of runs per ab comparison")
    p.add_argument("--ab-duration", type=int, default=3,
                   help="seconds per ab run")
    p.add_argument("--ab-servers", choices=["pair", "comparison"],
                   default="pair",
                   help="pair: a fresh baseline and variant process for "
                        "each pair of ab runs (samples each process's own "
                        "luck; harness/ab.py); comparison: one of each for "
                        "the whole comparison")
    p.add_argument("--ab-mode", choices=["alternate", "concurrent"],
                   default="alternate",
                   help="alternate: A's and B's wrk runs one after the "
                        "other, A B B A ...; concurrent: A and B at the same "
                        "time, a wrk each, sharing the server CPU, so what "
                        "slows the machine slows both (harness/ab.py)")
    p.add_argument("--cluster-nodes", type=int, default=3,
                   help="nodes of the cluster phase's cluster")
    p.add_argument("--kills", type=int, default=5,
                   help="SIGKILLs the cluster phase's failover time is the "
                        "median of")
    p.add_argument("--memory-scale", default="default",
                   choices=["small", "default", "full"],
                   help="full: 100k and 1M active carts over SQLite, 5M "
                        "touched with a cap of 100k, plus 1M over the null "
                        "journal (carts alone); default: the same without "
                        "the null-journal run; small: 100k and 1M only")
    p.add_argument("--micro-min-time", default="0.2",
                   help="--benchmark_min_time for bench_micro (seconds)")
    p.add_argument("--wrk-threads", type=int, default=1,
                   help="wrk threads (same for every server)")
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin servers to one CPU and wrk to another")
    p.add_argument("--status-codes", action="store_true",
                   help="count responses per status code with a wrk Lua "
                        "response() hook (slows wrk; always on in --quick)")
    p.add_argument("--gunicorn-threads", type=int, default=8)
    p.add_argument("--render", metavar="JSON",
                   help="only re-render the .md and .png of an earlier "
                        "run's .json (same data, current report format)")
    p.add_argument("--python", default="/usr/bin/python3",
                   help="the Python that has Flask (Debian's python3-flask)")
    a = p.parse_args()
    if a.quick:
        a.reps, a.duration, a.warmup, a.conns = 1, 1, 0, 16
        a.sweep = "16"
        a.add_conns = "16"
        a.status_codes = True
        a.phases = "http"
    a.bin_dir = os.path.abspath(a.bin_dir)
    a.out = os.path.abspath(a.out)
    a.sweep = [int(x) for x in a.sweep.split(",") if x]
    a.add_conns = [int(x) for x in a.add_conns.split(",") if x]
    a.servers = [x for x in a.servers.split(",") if x]
    a.workloads = [x for x in a.workloads.split(",") if x]
    a.phases = [x for x in a.phases.split(",") if x]
    a.ab = [x for x in a.ab.split(",") if x]
    return a


def require(tool):
    path = shutil.which(tool)
    if not path:
        sys.exit("bench: %s not found; run scripts/install-deps" % tool)
    return path


def output_of(cmd):
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=30)
        return proc.stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def versions(python):
    wrk_v = output_of(["wrk", "-v"]).splitlines()
    return {
        "wrk": wrk_v[0].split()[1] if wrk_v and len(wrk_v[0].split()) > 1
        else "?",
        "nginx": output_of(["nginx", "-v"]).replace("nginx version: ", ""),
        "flask": output_of([python, "-c",
                            "import flask; print(flask.__version__)"]),
        "gunicorn": output_of([python, "-c",
                               "import gunicorn; print(gunicorn.__version__)"]),
        "python": output_of([python, "-c",
                             "import platform; "
                             "print(platform.python_version())"]),
    }


def git_commit():
    # Read-only: which commit the numbers belong to.
    out = output_of(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = output_of(["git", "-C", ROOT, "status", "--porcelain",
                       "--untracked-files=no"])
    return (out + ("+dirty" if dirty else "")) if out else "?"


# The servers that need the run's PostgreSQL server.
POSTGRES_SERVERS = {"cartd-postgres", "pgbench"}


def _niced(server, nice):
    server.nice = nice
    return server


def make_servers(args, server_cpus, client_cpus, postgres):
    cartd = os.path.join(args.bin_dir, "cartd")
    flask_script = os.path.join(HERE, "peers", "flask_cart.py")
    factories = {
        "cartd-sqlite": lambda: srv.Cartd(cartd, "cartd-sqlite", "sqlite",
                                          cpus=server_cpus),
        "cartd-sqlite-batch1": lambda: srv.Cartd(
            cartd, "cartd-sqlite-batch1", "sqlite",
            extra=["--storage.max-batch=1"], cpus=server_cpus,
            routes={"add_many"}),
        "cartd-memory": lambda: srv.Cartd(cartd, "cartd-memory", "memory",
                                          cpus=server_cpus),
        # Issue 14: the same nodes with --metrics.enabled=false (no
        # observer, nothing counted), to compare throughput with metrics on
        # (cartd-memory, cartd-sqlite) in one run.
        "cartd-memory-nometrics": lambda: srv.Cartd(
            cartd, "cartd-memory-nometrics", "memory",
            extra=["--metrics.enabled=false"], cpus=server_cpus),
        "cartd-sqlite-nometrics": lambda: srv.Cartd(
            cartd, "cartd-sqlite-nometrics", "sqlite",
            extra=["--metrics.enabled=false"], cpus=server_cpus),
        "cartd-memory-access-log": lambda: srv.Cartd(
            cartd, "cartd-memory-access-log", "memory", cpus=server_cpus,
            access_log=True),
        # The ab phase's control: cartd-memory at nice 1, a CFS weight of
        # 820 against 1024 (harness/ab.py).
        "cartd-memory-nice1": lambda: _niced(srv.Cartd(
            cartd, "cartd-memory-nice1", "memory", cpus=server_cpus), 1),
        "cartd-postgres": lambda: srv.Cartd(cartd, "cartd-postgres",
                                            "postgres", cpus=server_cpus,
                                            postgres=postgres),
        "pgbench": lambda: pg.Pgbench(postgres, clients=64,
                                      cpus=client_cpus),
        "nginx": lambda: srv.Nginx(cpus=server_cpus),
        "flask": lambda: srv.FlaskDev(args.python, flask_script,
                                      cpus=server_cpus),
        "gunicorn": lambda: srv.Gunicorn(args.python, flask_script,
                                         threads=args.gunicorn_threads,
                                         cpus=server_cpus),
    }
    if args.base_bin_dir:
        base = os.path.join(os.path.abspath(args.base_bin_dir), "cartd")
        factories["base-cartd-sqlite"] = lambda: srv.Cartd(
            base, "base-cartd-sqlite", "sqlite", cpus=server_cpus)
        factories["base-cartd-memory"] = lambda: srv.Cartd(
            base, "base-cartd-memory", "memory", cpus=server_cpus)
        for name in ("base-cartd-sqlite", "base-cartd-memory"):
            if name not in args.servers:
                args.servers.append(name)
    unknown = [s for s in args.servers if s not in factories]
    if unknown:
        sys.exit("bench: unknown servers %s (known: %s)"
                 % (unknown, ", ".join(factories)))
    return [(name, factories[name]) for name in args.servers]


def conns_for(args, server, workload):
    if workload.conns is not None:
        return workload.conns
    # The Flask peers only have the seed routes: their seed mix is their
    # main mix, so it gets the connection sweep.
    if workload.name == "seed" and server.routes != "all":
        return args.sweep
    return [args.conns]


def http_phase(args, settings, server_cpus, doc, postgres):
    workloads = [w for w in wl.all_workloads(args.sweep, args.add_conns)
                 if w.name in args.workloads]
    doc["workload_titles"] = {w.name: w.title for w in workloads}
    factories = make_servers(args, server_cpus, settings.cpus, postgres)
    raw = []
    failures = []
    described = {}
    for rep in range(args.reps):
        for name, factory in factories:
            server = factory()
            log("rep %d/%d: starting %s" % (rep + 1, args.reps, name))
            try:
                server.start()
            except srv.ServerError as e:
                failures.append("%s did not start: %s" % (name, e))
                loud(failures[-1])
                continue
            described[name] = server.describe()
            try:
                for w in workloads:
                    if not server.serves(w.name):
                        continue
                    if w.prepare:
                        w.prepare(server)
                    conns = conns_for(args, server, w)
                    if args.warmup > 0 and isinstance(server, pg.Pgbench):
                        server.run(args.warmup)
                    elif args.warmup > 0:
                        wl.run_wrk(settings, server, w, args.conns,
                                   args.warmup, seed=1000 + rep)
                    if isinstance(server, pg.Pgbench):
                        # Its own load generator, its own connections.
                        conns = [server.clients]
                    for c in conns:
                        if isinstance(server, pg.Pgbench):
                            res = server.run(args.duration)
                        else:
                            res = wl.run_wrk(settings, server, w, c,
                                             args.duration, seed=rep + 1,
                                             status=args.status_codes)
                        errs = res["non2xx"] + res["socket_errors"]
                        log("  %-20s %-9s %5d conns %10s req/s  p99 %s ms%s"
                            % (name, w.name, c, report.fmt_rps(res["req_per_s"]),
                               report.fmt_ms(res["latency_us"]["p99"]),
                               "  ERRORS: %d" % errs if errs else ""))
                        raw.append({"server": name, "workload": w.name,
                                    "conns": c, "rep": rep, "result": res})
                        if not server.alive():
                            raise srv.ServerError(
                                "%s died during %s:\n%s"
                                % (name, w.name, server.log_tail()))
            except (srv.ServerError, RuntimeError) as e:
                failures.append("%s: %s" % (name, e))
                loud(failures[-1])
            finally:
                server.stop()
    doc["servers"] = [described[n] for n, _ in factories if n in described]
    doc["raw"] = raw
    doc["rows"] = report.aggregate(raw)
    return failures


def micro_phase(args, doc, postgres):
    exe = os.path.join(args.bin_dir, "bench_micro")
    if not os.path.exists(exe):
        return ["bench_micro not found in %s" % args.bin_dir]
    with tempfile.TemporaryDirectory(prefix="cartd-bench-micro-") as tmp:
        out = os.path.join(tmp, "micro.json")
        cmd = [exe, "--benchmark_min_time=%s" % args.micro_min_time,
               "--benchmark_out=%s" % out, "--benchmark_out_format=json"]
        log("micro: %s" % " ".join(cmd))
        env = dict(os.environ, TMPDIR=tmp)
        if postgres is not None:
            # The PostgreSQL activation benchmarks (skipped without it).
            env["CARTD_BENCH_POSTGRES"] = postgres.conninfo()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        sys.stdout.write(proc.stdout.decode("utf-8", "replace"))
        if proc.returncode != 0 or not os.path.exists(out):
            return ["bench_micro failed (%s)" % proc.returncode]
        with open(out) as f:
            data = json.load(f)
    doc["micro_context"] = data.get("context", {})
    doc["micro"] = [{
        "name": b["name"],
        "real_time_ns": b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6,
                                           "s": 1e9}[b.get("time_unit", "ns")],
        "items_per_second": b.get("items_per_second"),
        "label": b.get("label", ""),
        "iterations": b.get("iterations"),
    } for b in data.get("benchmarks", []) if b.get("run_type") != "aggregate"]
    return []


def memory_phase(args, doc):
    exe = os.path.join(args.bin_dir, "bench_memory")
    if not os.path.exists(exe):
        return ["bench_memory not found in %s" % args.bin_dir]
    runs = [
        ["--carts=100000", "--journal=sqlite"],
        ["--carts=1000000", "--journal=sqlite"],
    ]
    if args.memory_scale == "full":
        runs.append(["--carts=1000000", "--journal=null"])
    if args.memory_scale != "small":
        runs.append(["--carts=5000000", "--journal=sqlite",
                     "--max-resident=100000", "--samples=10"])
    results, failures = [], []
    for extra in runs:
        with tempfile.TemporaryDirectory(prefix="cartd-bench-mem-") as tmp:
            cmd = [exe, "--dir=" + tmp] + extra
            log("memory: %s" % " ".join(cmd))
            proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=1800)
            err = proc.stderr.decode("utf-8", "replace")
            if proc.returncode != 0:
                failures.append("bench_memory %s failed (%s): %s"
                                % (" ".join(extra), proc.returncode, err))
                loud(failures[-1])
                continue
            for line in proc.stdout.decode().splitlines():
                if line.startswith("BENCH_JSON "):
                    m = json.loads(line[len("BENCH_JSON "):])
                    results.append(m)
                    log("  %s" % json.dumps(m)[:300])
    doc["memory"] = results
    return failures


def check_quick(doc, args):
    """The smoke's assertions: every server answered, every row ran, every
    response was 2xx. No timing assertion."""
    problems = []
    seen = {r["server"] for r in doc.get("rows", [])}
    for name in args.servers:
        if name not in seen:
            problems.append("no results from %s" % name)
    for r in doc.get("rows", []):
        if r["requests"] <= 0:
            problems.append("%s %s: no requests completed"
                            % (r["server"], r["workload"]))
        if r["server"] == "pgbench":
            # Not HTTP: pgbench's own count of failed transactions.
            if r["non2xx"]:
                problems.append("pgbench: %d failed transactions"
                                % r["non2xx"])
            continue
        bad = {c: n for c, n in r["codes"].items() if not c.startswith("2")}
        if r["non2xx"] or r["socket_errors"] or bad:
            problems.append("%s %s: %d non-2xx %s, %d socket errors"
                            % (r["server"], r["workload"], r["non2xx"], bad,
                               r["socket_errors"]))
        if not any(c.startswith("2") for c in r["codes"]):
            problems.append("%s %s: no 2xx response counted"
                            % (r["server"], r["workload"]))
    return problems


def rerender(path):
    with open(path) as f:
        doc = json.load(f)
    doc["rows"] = report.aggregate(doc.get("raw", []))
    if not doc["meta"].get("quick"):
        doc["targets"] = report.targets(doc["rows"], doc.get("memory"),
                                        doc["meta"].get("conns", 64))
    out = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    files = report.write(doc, out, stem)
    log("re-rendered %s" % ", ".join(files))
    return 0


def main():
    args = parse_args()
    if args.render:
        return rerender(args.render)
    for tool in ("wrk", "nginx", "gnuplot"):
        require(tool)
    if not os.path.exists(args.python):
        sys.exit("bench: %s not found (python3-flask)" % args.python)
    if "http" in args.phases and not os.path.exists(
            os.path.join(args.bin_dir, "cartd")):
        sys.exit("bench: no cartd in %s; build first (make build)"
                 % args.bin_dir)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))

    cores = os.cpu_count() or 1
    pin = not args.no_pin and cores >= 2 and shutil.which("taskset")
    server_cpus = str(cores - 1) if pin else None
    client_cpus = ",".join(str(i) for i in range(cores - 1)) if pin else None
    settings = wl.WrkSettings(threads=args.wrk_threads, cpus=client_cpus,
                              script_dir=os.path.join(HERE, "wrk"))

    def on_signal(signum, frame):
        srv.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    now = datetime.datetime.now()
    host = socket.gethostname().split(".")[0]
    doc = {
        "meta": {
            "date": now.strftime("%Y-%m-%d"),
            "time": now.strftime("%H:%M:%S"),
            "host": host,
            "command": "python3 bench/run.py " + " ".join(sys.argv[1:])
            if sys.argv[1:] else "make bench",
            "commit": git_commit(),
            "cpu": machine_info(),
            "cores": cores,
            "kernel": platform.release(),
            "quick": args.quick,
            "reps": args.reps,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "conns": args.conns,
            "sweep": args.sweep,
            "server_cpus": server_cpus,
            "client_cpus": client_cpus,
            "wrk": settings.describe(),
            "status_codes": args.status_codes,
            "versions": versions(args.python),
            "loadavg_before": loadavg(),
        },
        "rows": [], "servers": [], "workload_titles": {},
    }
    failures = []
    started = time.monotonic()
    postgres = None
    try:
        wants_pg = ("micro" in args.phases or "cluster" in args.phases or (
            "http" in args.phases and POSTGRES_SERVERS & set(args.servers)))
        if wants_pg:
            try:
                postgres = pg.PostgresServer().start()
                doc["meta"]["postgres"] = postgres.settings()
                log("postgres: %s on port %d"
                    % (doc["meta"]["postgres"].get("server_version"),
                       postgres.port))
            except srv.ServerError as e:
                postgres = None
                failures.append("the PostgreSQL server did not start: %s" % e)
                loud(failures[-1])
                args.servers = [s for s in args.servers
                                if s not in POSTGRES_SERVERS]
        if "http" in args.phases:
            failures += http_phase(args, settings, server_cpus, doc, postgres)
        if "micro" in args.phases:
            failures += micro_phase(args, doc, postgres)
        if "memory" in args.phases:
            failures += memory_phase(args, doc)
        if "cluster" in args.phases and postgres is not None:
            failures += cl.cluster_phase(args, settings, server_cpus, doc,
                                         postgres, log)
        if "ab" in args.phases:
            # Every server the chosen comparisons need, whatever --servers
            # says.
            args.servers = ab.servers_needed(args.ab)
            factories = dict(make_servers(args, server_cpus, settings.cpus,
                                          postgres))
            failures += ab.ab_phase(args, settings, factories, doc, log)
    finally:
        srv.stop_all()
        if postgres is not None:
            postgres.stop()
    doc["meta"]["loadavg_after"] = loadavg()
    doc["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    doc["failures"] = failures
    if not args.quick:
        doc["targets"] = report.targets(doc["rows"], doc.get("memory"),
                                        args.conns)
    stem = "%s-%s" % (doc["meta"]["date"], host)
    if args.phases == ["ab"]:
        stem += "-ab"
        files = ab.write(doc, args.out, stem)
        log("wrote %s" % ", ".join(files))
        print(ab.markdown(doc))
        if failures:
            loud("failures:\n" + "\n".join(failures))
        return 1 if failures else 0
    files = report.write(doc, args.out, stem)
    if doc.get("ab"):
        md_path = os.path.join(args.out, stem + ".md")
        with open(md_path, "a") as f:
            f.write("\n" + ab.markdown(doc))
    log("wrote %s" % ", ".join(files))
    md = os.path.join(args.out, stem + ".md")
    if not args.quick:
        with open(md) as f:
            print(f.read())
    bad = report.rows_with_errors(doc["rows"])
    if bad:
        loud("%d of %d rows had errors (non-2xx or socket errors): %s"
             % (len(bad), len(doc["rows"]),
                "; ".join("%s/%s/%d" % (r["server"], r["workload"], r["conns"])
                          for r in bad)))
    if failures:
        loud("failures:\n" + "\n".join(failures))
    if args.quick:
        problems = check_quick(doc, args) + failures
        for f in files:
            if not os.path.exists(f) or os.path.getsize(f) == 0:
                problems.append("result file missing: %s" % f)
        if problems:
            print("bench smoke FAILED:\n  " + "\n  ".join(problems))
            return 1
        print("bench smoke passed: %d servers answered, %d rows, files: %s"
              % (len({r["server"] for r in doc["rows"]}), len(doc["rows"]),
                 ", ".join(files)))
        return 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
