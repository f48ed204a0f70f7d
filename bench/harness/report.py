"""Aggregates repetitions and writes the results: JSON, Markdown, PNG."""

import json
import math
import os
import statistics
import subprocess

from . import cluster

# Which Flask row a row is compared with: the Flask service has only the
# seed routes (one cart), so every row is compared with Flask's seed mix at
# the same connection count.
FLASK_WORKLOAD = "seed"

def aggregate(raw):
    """raw: list of run dicts (server, workload, conns, rep, result).
    Returns rows with the median of each figure over the repetitions and
    the errors summed."""
    groups = {}
    order = []
    for run in raw:
        key = (run["server"], run["workload"], run["conns"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(run["result"])
    rows = []
    for key in order:
        results = groups[key]

        def med(f):
            xs = [f(r) for r in results if f(r) is not None]
            return statistics.median(xs) if xs else None

        codes = {}
        for r in results:
            for code, n in r.get("codes", {}).items():
                codes[code] = codes.get(code, 0) + n
        rows.append({
            "server": key[0], "workload": key[1], "conns": key[2],
            "reps": len(results),
            "req_per_s": med(lambda r: r["req_per_s"]),
            "req_per_s_all": [round(r["req_per_s"], 1) for r in results],
            "spread": ((max(r["req_per_s"] for r in results)
                        - min(r["req_per_s"] for r in results))
                       / statistics.median(r["req_per_s"] for r in results)
                       if len(results) > 1 and statistics.median(
                           r["req_per_s"] for r in results) > 0 else None),
            "cpu_server": med(lambda r: r.get("cpu", {}).get("server")),
            "cpu_other": med(lambda r: r.get("cpu", {}).get("other")),
            "cpu_other_max": max((r.get("cpu", {}).get("other") or 0)
                                 for r in results),
            "p50_us": med(lambda r: r["latency_us"]["p50"]),
            "p99_us": med(lambda r: r["latency_us"]["p99"]),
            "p999_us": med(lambda r: r["latency_us"]["p999"]),
            "requests": sum(r["requests"] for r in results),
            "non2xx": sum(r["non2xx"] for r in results),
            "socket_errors": sum(r["socket_errors"] for r in results),
            "errors_detail": {
                k: sum(r["errors"][k] for r in results)
                for k in ("connect", "read", "write", "timeout", "status")},
            "codes": codes,
        })
    index = {(r["server"], r["workload"], r["conns"]): r for r in rows}
    for r in rows:
        def ratio(other):
            if other and other["req_per_s"] and r["req_per_s"] is not None:
                return r["req_per_s"] / other["req_per_s"]
            return None
        r["x_nginx"] = ratio(index.get(("nginx", r["workload"], r["conns"])))
        r["x_flask"] = ratio(index.get(("flask", FLASK_WORKLOAD, r["conns"])))
        r["x_gunicorn"] = ratio(index.get(("gunicorn", FLASK_WORKLOAD,
                                           r["conns"])))
    return rows


def find(rows, server, workload, conns):
    for r in rows:
        if (r["server"], r["workload"], r["conns"]) == (server, workload,
                                                        conns):
            return r
    return None


def targets(rows, memory, conns=64):
    """Evaluates issue 4's targets; each a ratio from this run."""
    out = []

    def add(name, value, goal, better, detail):
        met = None
        if value is not None:
            met = value >= goal if better == "higher" else value <= goal
        out.append({"target": name, "value": value, "goal": goal,
                    "better": better, "met": met, "detail": detail})

    def rps(s, w, c=conns):
        r = find(rows, s, w, c)
        return r["req_per_s"] if r else None

    def div(a, b):
        return a / b if a is not None and b else None

    for w in ("get_hot", "get_many"):
        add("GET of a cart (%s) vs nginx" % w,
            div(rps("cartd-sqlite", w), rps("nginx", w)), 0.8, "higher",
            "cartd-sqlite %s / nginx %s at %d conns" % (w, w, conns))
    add("durable adds (group commit) vs cartd GET",
        div(rps("cartd-sqlite", "add_many"), rps("cartd-sqlite", "get_many")),
        0.5, "higher",
        "cartd-sqlite add_many / cartd-sqlite get_many at %d conns" % conns)
    add("durable adds, one commit per write (max-batch=1), for contrast",
        div(rps("cartd-sqlite-batch1", "add_many"),
            rps("cartd-sqlite", "get_many")), 0.5, "higher",
        "cartd-sqlite-batch1 add_many / cartd-sqlite get_many")
    # Issue 14: metrics on within 3 % of off (when both rows ran).
    for s in ("cartd-memory", "cartd-sqlite"):
        for w in ("get_hot", "add_many"):
            add("metrics on vs off (%s, %s)" % (s, w),
                div(rps(s, w), rps(s + "-nometrics", w)), 0.97, "higher",
                "%s %s / %s-nometrics %s at %d conns" % (s, w, s, w, conns))
    add("80/20 mix vs Flask seed service",
        div(rps("cartd-sqlite", "mix"), rps("flask", "seed")), 50, "higher",
        "cartd-sqlite mix / flask (dev server) seed at %d conns" % conns)
    add("80/20 mix vs Flask under gunicorn",
        div(rps("cartd-sqlite", "mix"), rps("gunicorn", "seed")), 50,
        "higher", "cartd-sqlite mix / gunicorn seed at %d conns" % conns)
    c = find(rows, "cartd-sqlite", "mix", conns)
    n = find(rows, "nginx", "mix", conns)
    add("p99 at %d conns vs nginx (mix)" % conns,
        div(c and c["p99_us"], n and n["p99_us"]), 2.0, "lower",
        "cartd-sqlite p99 / nginx p99, mix at %d conns" % conns)
    c = find(rows, "cartd-sqlite", "get_hot", conns)
    n = find(rows, "nginx", "get_hot", conns)
    add("p99 at %d conns vs nginx (GET hot cart)" % conns,
        div(c and c["p99_us"], n and n["p99_us"]), 2.0, "lower",
        "cartd-sqlite p99 / nginx p99, get_hot at %d conns" % conns)
    for c in sorted({r["conns"] for r in rows
                     if r["server"] == "cartd-postgres"
                     and r["workload"] == "add_many"}) or [conns]:
        add("durable adds on PostgreSQL vs pgbench one-row INSERT "
            "transactions (64 clients, same server), at %d conns" % c,
            div(rps("cartd-postgres", "add_many", c),
                rps("pgbench", "add_many", 64)),
            3.0, "higher",
            "cartd-postgres add_many at %d conns / pgbench tps (issue 11)"
            % c)
    per_cart = None
    detail = "not measured in this run"
    for m in memory or []:
        if m.get("mode") == "active" and m.get("journal") == "sqlite":
            per_cart = m["rss_per_cart_bytes"] / 1024.0
            detail = "%s active carts, sqlite journal" % m["carts"]
    add("resident memory per active cart (KiB)", per_cart, 1.5, "lower",
        detail)
    return out


# -- formatting ---------------------------------------------------------------

def fmt_rps(x):
    if x is None:
        return "–"
    return "{:,.0f}".format(x)


def fmt_ms(us):
    if us is None:
        return "–"
    ms = us / 1000.0
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    return "%.2f" % ms


def fmt_x(x):
    if x is None:
        return "–"
    if x >= 10:
        return "%.0fx" % x
    return "%.2fx" % x


def fmt_cores(x, flag=None):
    if x is None:
        return "–"
    text = "%.2f" % x
    return "**%s**" % text if flag is not None and x > flag else text


def fmt_errors(r):
    if not r["non2xx"] and not r["socket_errors"]:
        return "0"
    parts = []
    if r["non2xx"]:
        codes = ",".join("%s:%d" % kv for kv in sorted(r["codes"].items())
                         if not kv[0].startswith("2"))
        parts.append("**%d non-2xx%s**" % (r["non2xx"],
                                            " (%s)" % codes if codes else ""))
    if r["socket_errors"]:
        d = r["errors_detail"]
        parts.append("**%d socket (c%d r%d w%d t%d)**"
                     % (r["socket_errors"], d["connect"], d["read"],
                        d["write"], d["timeout"]))
    return " ".join(parts)


# Servers whose store runs in other processes (counted as other CPU).
EXTERNAL_STORE = {"cartd-postgres"}

DURABLE_LABELS = (("cartd-memory", "cartd, memory journal"),
                  ("cartd-sqlite", "cartd, SQLite sync=full"),
                  ("cartd-sqlite-batch1", "cartd, SQLite, max-batch=1"),
                  ("cartd-postgres", "cartd, PostgreSQL"),
                  ("pgbench", "pgbench, 1-row INSERT transactions"))


def durable_adds(rows):
    """(label, row, x pgbench, x cartd-sqlite) for the durable-adds table:
    every add_many row, by journal, then connections."""
    pgb = find(rows, "pgbench", "add_many", 64)
    out = []
    for server, label in DURABLE_LABELS:
        for r in rows:
            if r["server"] != server or r["workload"] != "add_many":
                continue
            sq = find(rows, "cartd-sqlite", "add_many", r["conns"])

            def x(other):
                if other and other["req_per_s"] and r["req_per_s"] is not None:
                    return r["req_per_s"] / other["req_per_s"]
                return None
            out.append((label, r, x(pgb), x(sq)))
    if not any(r["server"] in ("pgbench", "cartd-postgres")
               for _, r, _, _ in out):
        return []
    return out


def rows_with_errors(rows):
    return [r for r in rows if r["non2xx"] or r["socket_errors"]]


def markdown(doc, chart_name):
    rows = doc["rows"]
    meta = doc["meta"]
    titles = doc["workload_titles"]
    lines = []
    lines.append("# cartd benchmark, %s on %s" % (meta["date"], meta["host"]))
    lines.append("")
    lines.append("Command: `%s`" % meta["command"])
    lines.append("")
    bad = rows_with_errors(rows)
    if bad:
        lines.append("> **WARNING: %d of %d rows had errors (non-2xx "
                     "responses or socket errors). Their numbers do not "
                     "measure successful requests only; see the errors "
                     "column.**" % (len(bad), len(rows)))
        lines.append("")
    busy = busy_rows(rows)
    if busy:
        lines.append("> **Note: in %d of %d rows other processes used more "
                     "than 0.15 of a core (median) while wrk ran (see "
                     "\"other CPU\"): this shared machine was busy, so "
                     "those rows understate the servers; ratios within a "
                     "repetition are affected less than absolute numbers.**"
                     % (len(busy), len(rows)))
        lines.append("")
    lines.append("Machine: %s, %s cores, %s. Load average before/after: "
                 "%s / %s." % (meta["cpu"], meta["cores"], meta["kernel"],
                               meta["loadavg_before"], meta["loadavg_after"]))
    lines.append("Servers pinned to CPU %s, wrk to CPU %s. wrk %s, "
                 "%s thread(s), timeout %s, %ss per run after a %ss "
                 "warm-up, median of %s repetitions (servers interleaved "
                 "per repetition). Latency is wrk's (closed loop)."
                 % (meta["server_cpus"] or "any", meta["client_cpus"] or "any",
                    meta["versions"].get("wrk", "?"),
                    meta["wrk"]["threads"], meta["wrk"]["timeout"],
                    meta["duration_s"], meta["warmup_s"], meta["reps"]))
    lines.append("")
    if chart_name:
        lines.append("![throughput and p99 against connections](%s)"
                     % chart_name)
        lines.append("")
    if doc.get("targets"):
        lines.append("## Targets (issue 4), as ratios from this run")
        lines.append("")
        lines.append("| target | goal | this run | met | how |")
        lines.append("|---|---|---|---|---|")
        for t in doc["targets"]:
            goal = ("≥ " if t["better"] == "higher" else "≤ ") + \
                ("%g" % t["goal"])
            val = "–" if t["value"] is None else (
                "%.2f" % t["value"] if t["value"] < 100 else
                "%.0f" % t["value"])
            met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
            lines.append("| %s | %s | %s | %s | %s |"
                         % (t["target"], goal, val, met, t["detail"]))
        lines.append("")
    durable = durable_adds(rows)
    if durable:
        lines.append("## Durable adds by journal (issue 11)")
        lines.append("")
        lines.append("`add_many` (POST add item over 10,000 carts) with each "
                     "journal, next to pgbench running one single-row INSERT "
                     "per transaction with 64 clients against the same "
                     "PostgreSQL server (%s; synchronous_commit=%s, "
                     "fsync=%s). Every add is acknowledged only once "
                     "committed (memory: never durable)."
                     % (meta.get("postgres", {}).get("server_version", "?"),
                        meta.get("postgres", {}).get("synchronous_commit",
                                                     "?"),
                        meta.get("postgres", {}).get("fsync", "?")))
        lines.append("")
        lines.append("| journal | conns | adds or commits/s | p99 ms | "
                     "× pgbench (64) | × cartd-sqlite | server CPU | "
                     "other CPU |")
        lines.append("|---|--:|--:|--:|--:|--:|--:|--:|")
        for label, r, xpg, xsq in durable:
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %s |"
                         % (label, r["conns"], fmt_rps(r["req_per_s"]),
                            fmt_ms(r["p99_us"]), fmt_x(xpg), fmt_x(xsq),
                            fmt_cores(r.get("cpu_server")),
                            fmt_cores(r.get("cpu_other"))))
        lines.append("")
        lines.append("Server CPU is cartd's own process (pinned to one "
                     "core); for cartd on PostgreSQL, the database server's "
                     "processes count as other CPU.")
        lines.append("")
    lines.append("## HTTP: every row")
    lines.append("")
    lines.append("`× nginx`: this row's req/s over nginx's for the same "
                 "requests and connections. `× flask`, `× gunicorn`: over "
                 "the Flask seed service's seed-route mix at the same "
                 "connections (it has no other routes). Errors: non-2xx "
                 "(wrk counts status ≥ 400) and socket errors (connect, "
                 "read, write, timeout), summed over the repetitions. "
                 "Spread: (max - min) / median of req/s over the "
                 "repetitions. Server CPU: cores the server's processes "
                 "used (median); other CPU: cores everything except the "
                 "server and wrk used meanwhile (median; bold above 0.15: "
                 "the server did not have its core to itself, e.g. another "
                 "build on this shared machine; never bold for "
                 "cartd-postgres, whose database server is other CPU).")
    lines.append("")
    lines.append("| server | workload | conns | req/s | spread | p50 ms | "
                 "p99 ms | p99.9 ms | errors | × nginx | × flask | "
                 "× gunicorn | server CPU | other CPU |")
    lines.append("|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|")
    for r in rows:
        spread = "–" if r.get("spread") is None else \
            "%.0f%%" % (100 * r["spread"])
        lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s "
                     "| %s | %s | %s |"
                     % (r["server"], r["workload"], r["conns"],
                        fmt_rps(r["req_per_s"]), spread, fmt_ms(r["p50_us"]),
                        fmt_ms(r["p99_us"]), fmt_ms(r["p999_us"]),
                        fmt_errors(r), fmt_x(r["x_nginx"]),
                        fmt_x(r["x_flask"]), fmt_x(r["x_gunicorn"]),
                        fmt_cores(r.get("cpu_server")),
                        fmt_cores(r.get("cpu_other"),
                                  flag=None if r["server"] in EXTERNAL_STORE
                                  else 0.15)))
    lines.append("")
    lines.append("Workloads:")
    lines.append("")
    for name, title in titles.items():
        lines.append("- `%s`: %s" % (name, title))
    lines.append("")
    lines.append("Servers:")
    lines.append("")
    for s in doc["servers"]:
        lines.append("- `%s`: `%s`" % (s["name"], s["command"]))
    lines.append("")
    micro = doc.get("micro") or []
    if micro:
        lines.append("## Microbenchmarks (Google Benchmark)")
        lines.append("")
        lines.append("Time per iteration and per item (1 / items/s; differs "
                     "only where an iteration is many items, e.g. the async "
                     "actor benchmarks run 1,000 round trips per "
                     "iteration). `*_blocking` and `*_via_broker` wait on a "
                     "scoped_actor: they include waking the benchmark's "
                     "thread twice.")
        lines.append("")
        lines.append("| benchmark | time per iteration | time per item | "
                     "items/s | notes |")
        lines.append("|---|--:|--:|--:|---|")
        for b in micro:
            ips = b.get("items_per_second")
            lines.append("| %s | %s | %s | %s | %s |"
                         % (b["name"], fmt_time(b["real_time_ns"]),
                            fmt_time(1e9 / ips) if ips else "–",
                            fmt_rps(ips), b.get("label", "")))
        lines.append("")
    memory = doc.get("memory") or []
    if memory:
        lines.append("## Memory and scale")
        lines.append("")
        lines.append("RSS before: after starting the node and activating "
                     "1,000 warm-up carts; RSS after: once every cart got "
                     "one add (one item). Carts resident at end: actors "
                     "running then minus before (with a cap, the warm-up "
                     "carts passivated too). SQLite runs use sync=off "
                     "(durability does not change memory); the null journal "
                     "stores nothing (carts alone).")
        lines.append("")
        lines.append("| mode | journal | carts touched | resident cap | "
                     "carts resident at end | RSS before | RSS after | "
                     "RSS per cart | carts/s |")
        lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|")
        for m in memory:
            lines.append("| %s | %s | {:,} | %s | {:,} | %s | %s | %s | %s |"
                         .format(m["carts"], m.get("resident_end", 0))
                         % (m["mode"], m["journal"],
                            "{:,}".format(m["max_resident"])
                            if m["max_resident"] else "none",
                            fmt_mib(m["rss_before_bytes"]),
                            fmt_mib(m["rss_after_bytes"]),
                            "%.0f B" % m["rss_per_cart_bytes"]
                            if m["mode"] == "active" else "–",
                            fmt_rps(m.get("carts_per_s"))))
        samples = [m for m in memory if m.get("samples")]
        for m in samples:
            lines.append("")
            lines.append("RSS while touching %s carts (%s journal, %s): %s"
                         % ("{:,}".format(m["carts"]), m["journal"],
                            "cap %s" % "{:,}".format(m["max_resident"])
                            if m["max_resident"] else "no cap",
                            ", ".join("%s: %s" % (
                                "{:,}".format(s["touched"]),
                                fmt_mib(s["rss_bytes"]))
                                for s in m["samples"])))
        lines.append("")
    lines += cluster.markdown(doc)
    return "\n".join(lines) + "\n"


def fmt_time(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f µs" % (ns / 1e3)
    return "%.0f ns" % ns


def fmt_mib(b):
    if b is None:
        return "–"
    return "%.1f MiB" % (b / 1048576.0)


# Chart colours: dark enough to read on white, told apart without red/green
# (Okabe-Ito, yellow left out), given to servers in this order; point types
# differ too. A `base-` server (--base-bin-dir: the build before a change)
# takes its counterpart's colour with an open point, next to it.
CHART_COLOURS = ["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7",
                 "#8C564B", "#E69F00", "#56B4E9", "#7F7F7F", "#332288"]
CHART_SERVER_ORDER = ["cartd-sqlite", "base-cartd-sqlite", "cartd-memory",
                      "base-cartd-memory", "cartd-postgres", "nginx",
                      "gunicorn", "flask"]
CHART_WORKLOAD_ORDER = ["mix", "get_hot", "get_many", "add_many", "seed"]


def busy_rows(rows):
    """Rows during which other processes used more than 0.15 of a core
    (median): the Markdown's and the chart's busy-machine banner. cartd on
    PostgreSQL: the database server's CPU is "other" by design."""
    return [r for r in rows if (r.get("cpu_other") or 0) > 0.15
            and r["server"] not in EXTERNAL_STORE]


def chart_banners(doc):
    """The warnings the chart carries, as in the Markdown."""
    rows = doc["rows"]
    out = []
    if doc["meta"].get("quick"):
        out.append("SMOKE RUN (--quick: 1 s per run): checks that every "
                   "server answers; not a measurement")
    bad = rows_with_errors(rows)
    if bad:
        out.append("WARNING: %d of %d rows had errors (non-2xx or socket "
                   "errors)" % (len(bad), len(rows)))
    busy = busy_rows(rows)
    if busy:
        out.append("Note: in %d of %d rows other processes used more than "
                   "0.15 of a core: this shared machine was busy, those "
                   "rows understate the servers" % (len(busy), len(rows)))
    return out


def chart_points(doc):
    """(workload, server, conns) -> {"rps": [...], "p99": [...]} over the
    repetitions (p99 in ms), from the raw runs; rows without raw runs give
    their repetitions' req/s and the median p99."""
    pts = {}
    raw = doc.get("raw") or []
    for run in raw:
        res = run["result"]
        if not res.get("req_per_s") or "latency_us" not in res:
            continue
        key = (run["workload"], run["server"], run["conns"])
        p = pts.setdefault(key, {"rps": [], "p99": []})
        p["rps"].append(res["req_per_s"])
        if res["latency_us"].get("p99") is not None:
            p["p99"].append(res["latency_us"]["p99"] / 1000.0)
    if not raw:
        for r in doc["rows"]:
            if not r.get("req_per_s") or r["server"] == "pgbench":
                continue
            pts[(r["workload"], r["server"], r["conns"])] = {
                "rps": r.get("req_per_s_all") or [r["req_per_s"]],
                "p99": [r["p99_us"] / 1000.0] if r.get("p99_us") else []}
    return {k: v for k, v in pts.items()
            if k[1] != "pgbench" and v["rps"]}


def ordered(names, preferred):
    return ([n for n in preferred if n in names]
            + sorted(n for n in names if n not in preferred))


def panel_axis(values):
    """gnuplot settings for a y axis fitted to `values` (every repetition):
    linear from 0 unless they span more than 20x, then log, either way
    with a margin above (and below, on log) the data."""
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo > 20:
        lo, hi = lo / 1.6, hi * 1.6
        # 1-2-5 ticks: a decade or two would otherwise show one label.
        tics = []
        decade = 10.0 ** math.floor(math.log10(lo))
        while decade <= hi:
            tics += [m * decade for m in (1, 2, 5) if lo <= m * decade <= hi]
            decade *= 10
        return ("set logscale y 10\nset yrange [%g:%g]\nset ytics (%s)"
                % (lo, hi, ", ".join("%g" % t for t in tics)))
    return ("unset logscale y\nset yrange [0:%g]\nset ytics auto"
            % (hi * 1.15 if hi > 0 else 1))


def chart(doc, path, title):
    """One row of panels per workload (throughput, p99 latency), each point
    the median of the repetitions with a bar from their minimum to their
    maximum; connection counts as categories (only those measured, no lines
    between them); banners as in the Markdown (gnuplot)."""
    pts = chart_points(doc)
    if not pts:
        return False
    titles = doc.get("workload_titles", {})
    workloads = ordered({k[0] for k in pts}, CHART_WORKLOAD_ORDER)
    servers = ordered({k[1] for k in pts}, CHART_SERVER_ORDER)
    own = [s for s in servers if not (s.startswith("base-")
                                      and s[5:] in servers)]
    colour = {s: CHART_COLOURS[i % len(CHART_COLOURS)]
              for i, s in enumerate(own)}
    point_type = {s: (5, 7, 9, 11, 13, 15)[i % 6] for i, s in enumerate(own)}
    for s in servers:
        if s not in colour:
            colour[s] = colour[s[5:]]
            point_type[s] = point_type[s[5:]] - 1  # the open point
    banners = chart_banners(doc)
    reps = doc["meta"].get("reps")
    tmp = path + ".d"
    os.makedirs(tmp, exist_ok=True)
    head = 70 + 22 * len(banners)
    height = head + 50 + 330 * len(workloads)
    top = 1.0 - head / float(height)
    script = ["set terminal pngcairo noenhanced size 1400,%d "
              "font 'sans,10' background '#ffffff'" % height,
              "set output '%s'" % path,
              "set multiplot layout %d,2 margins 0.07,0.83,%.4f,%.4f "
              "spacing 0.09,%.4f" % (len(workloads), 50.0 / height, top,
                                     80.0 / height),
              "set grid ytics lc rgb '#d0d0d0'",
              "set border lc rgb '#404040'",
              "set key outside right top Left reverse samplen 1 "
              "font 'sans,9'",
              "set bars 2"]
    script.append("set label 901 at screen 0.5,%.4f center front "
                  "\"%s\" font 'sans,13'"
                  % (1.0 - 22.0 / height, gp_text(title)))
    for i, b in enumerate(banners):
        script.append("set label %d at screen 0.5,%.4f center front "
                      "\"%s\" tc rgb '#b00000' font 'sans,11'"
                      % (902 + i, 1.0 - (46.0 + 22 * i) / height,
                         gp_text(b)))
    spread = ("bars: min-max of %s repetitions" % reps if reps and reps > 1
              else "one repetition: no spread")
    n = 0
    for w in workloads:
        conns = sorted({k[2] for k in pts if k[0] == w})
        here = [s for s in servers if any(k[0] == w and k[1] == s
                                          for k in pts)]
        width = min(0.6 / max(len(here), 1), 0.15)
        xtics = ", ".join('"%d" %d' % (c, i) for i, c in enumerate(conns))
        for metric, ylabel, fmt in (
                ("rps", "requests/s", "%.0s%c"),
                ("p99", "p99 latency, ms", "%g")):
            plots, values = [], []
            for j, s in enumerate(here):
                data = os.path.join(tmp, "%d.dat" % n)
                n += 1
                rows_written = 0
                with open(data, "w") as f:
                    for i, c in enumerate(conns):
                        xs = pts.get((w, s, c), {}).get(metric) or []
                        if not xs:
                            continue
                        x = i + (j - (len(here) - 1) / 2.0) * width
                        f.write("%f %f %f %f\n" % (
                            x, statistics.median(xs), min(xs), max(xs)))
                        values += xs
                        rows_written += 1
                if not rows_written:
                    continue
                plots.append("'%s' using 1:2:3:4 with yerrorbars pt %d ps 1.1 "
                             "lw 1.5 lc rgb '%s' title \"%s\""
                             % (data, point_type[s], colour[s], gp_text(s)))
            script.append("set title \"%s: %s\" font 'sans,11'"
                          % (gp_text(titles.get(w, w)),
                             "throughput" if metric == "rps"
                             else "p99 latency"))
            script.append("set xrange [-0.5:%f]" % (len(conns) - 0.5))
            script.append("set xtics (%s)" % xtics)
            script.append("set xlabel \"connections (%s)\"" % spread)
            script.append("set ylabel '%s'" % ylabel)
            script.append("set format y '%s'" % fmt)
            if values:
                axis = panel_axis(values)
                script.append(axis)
                if metric == "rps" and max(values) < 10000 and \
                        not axis.startswith("set logscale"):
                    # Steps below 1k would all read "1k", "2k".
                    script.append("set format y '%g'")
                if axis.startswith("set logscale"):
                    script.append("set ylabel '%s (log)'" % ylabel)
            script.append("plot %s" % (", ".join(plots) if plots else
                                       "NaN notitle"))
            # The title and banners are drawn once.
            script.append("unset label")
    script.append("unset multiplot")
    script_path = os.path.join(tmp, "chart.gp")
    with open(script_path, "w") as f:
        f.write("\n".join(script) + "\n")
    proc = subprocess.run(["gnuplot", script_path], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    for name in os.listdir(tmp):
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    if proc.returncode != 0:
        raise RuntimeError("gnuplot failed:\n" + proc.stdout.decode())
    return True


def gp_text(text):
    """`text` inside a gnuplot double-quoted string (the terminal is
    noenhanced: no markup to escape)."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def write(doc, out_dir, stem):
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, stem + ".png")
    has_chart = chart(doc, png, "%scartd benchmark, %s, %s"
                      % ("SMOKE RUN: " if doc["meta"].get("quick") else "",
                         doc["meta"]["date"], doc["meta"]["host"]))
    doc["chart"] = os.path.basename(png) if has_chart else None
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(markdown(doc, doc["chart"]))
    return [os.path.join(out_dir, stem + ext) for ext in
            (".json", ".md") + ((".png",) if has_chart else ())]
