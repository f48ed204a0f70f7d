"""A/B comparisons that hold on a shared, noisy machine (`--phases ab`).

One comparison is a baseline server A and a variant B (e.g. a node with
--metrics.enabled=false and one with metrics on) on one workload, pinned to
the same CPU and measured in many short wrk runs, interleaved A B B A A B
... so that a slow minute of the machine hits both. By default each pair
starts a fresh A and B (`--ab-servers pair`), so the pairs are independent
samples of everything that varies, a process's own memory layout included;
`--ab-servers comparison` keeps one A and one B for the whole comparison
(faster; the earlier behaviour). Each pair of runs gives two ratios, B/A:

  * throughput (requests per second): what the issue's limits are about,
    and what a busy machine disturbs most;
  * server CPU seconds per request (all of the server's threads, from
    /proc/<pid>/stat over the run): the cost of a request, which another
    process stealing the CPU changes far less than it changes throughput.

`--ab-mode concurrent` runs A and B at the same time instead, each under a
wrk of its own: both servers share the server CPU, both wrks the client
CPUs, for the same seconds. Whatever slows the machine in those seconds
slows both alike, so the ratio keeps the difference in what a request
costs and loses most of the run-to-run noise (on this VM one 3 s run's
throughput varies ~14 % from run to run, and runs 4 s apart are hardly
correlated: the alternating pairs cancel little of it). With the CPU shared
evenly, throughput B/A is the inverse of CPU per request B/A; each server's
req/s is about half its alternating figure.

The result is the median of each ratio over the pairs and a bootstrap 95 %
confidence interval of that median (resampling the pairs). Against a limit
(B/A throughput >= 0.97: at most 3 % slower) a comparison is "within" when
the whole interval is on the good side, "over" when it is entirely on the
bad side, and "inconclusive" otherwise; CPU per request is held to the
matching bound (1/0.97 = 1.031: at most 3.1 % more CPU per request).
"""

import json
import os
import random
import statistics
import threading
import time

from . import servers as srv
from . import workloads as wl

# (key for --ab, title, baseline, variant, workload, limit on
# variant/baseline throughput)
COMPARISONS = [
    ("metrics-get", "metrics on/off, GET hot cart (memory)",
     "cartd-memory-nometrics", "cartd-memory", "get_hot", 0.97),
    ("metrics-add", "metrics on/off, add (memory)",
     "cartd-memory-nometrics", "cartd-memory", "add_many", 0.97),
    ("metrics-add-sqlite", "metrics on/off, add (SQLite, durable)",
     "cartd-sqlite-nometrics", "cartd-sqlite", "add_many", 0.97),
    ("access-log-get", "access log on/off, GET hot cart (memory)",
     "cartd-memory", "cartd-memory-access-log", "get_hot", 0.95),
    # Controls of the method, not in the default list. The same server on
    # both sides: the ratios must come out 1 (no bias for A or B, for the
    # one started first). B at nice 1: alternating, B has the CPU to itself
    # and its ratios come out 1; concurrent, the CPU is shared by weight
    # (820 against 1024), so B's throughput must come out near 820/1024 =
    # 0.80 and its CPU per request 1 -- unless the wrks, not the servers,
    # limit the runs, which would make every concurrent ratio 1 and the
    # mode blind.
    ("control-same-get", "control: the same server, GET hot cart (memory)",
     "cartd-memory", "cartd-memory", "get_hot", 0.97),
    ("control-nice-get", "control: B at nice 1, GET hot cart (memory)",
     "cartd-memory", "cartd-memory-nice1", "get_hot", 0.97),
]


def servers_needed(keys):
    """The servers the comparisons `keys` run."""
    result = []
    for c in COMPARISONS:
        if c[0] in keys:
            for name in (c[2], c[3]):
                if name not in result:
                    result.append(name)
    return result


def median_ci(values, resamples=2000, seed=14):
    """The median of `values` and a bootstrap 95 % interval of it."""
    rng = random.Random(seed)
    n = len(values)
    meds = sorted(statistics.median(rng.choices(values, k=n))
                  for _ in range(resamples))
    return (statistics.median(values), meds[int(0.025 * resamples)],
            meds[int(0.975 * resamples) - 1])


def verdict(lo, hi, limit, higher_is_better):
    if higher_is_better:
        if lo >= limit:
            return "within"
        if hi < limit:
            return "over"
    else:
        if hi <= limit:
            return "within"
        if lo > limit:
            return "over"
    return "inconclusive"


def _loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def _measure(settings, server, workload, conns, seconds, seed):
    res = wl.run_wrk(settings, server, workload, conns, seconds, seed=seed)
    reqs = res["requests"]
    cpu_s = (res["cpu"]["server"] or 0.0) * res["duration_us"] / 1e6
    return {"req_per_s": res["req_per_s"], "requests": reqs,
            "server_cpu_s": cpu_s,
            "cpu_us_per_req": 1e6 * cpu_s / reqs if reqs else None,
            "other_cores": res["cpu"]["other"],
            "errors": res["non2xx"] + res["socket_errors"]}


def _measure_together(settings, servers, workload, conns, seconds, seed):
    """_measure of every (name, server) in `servers` at the same time, a wrk
    each; {name: result}. `other_cores` is left out: /proc/stat cannot tell
    the other run's CPU from the rest of the machine's."""
    results, failures = {}, []

    def one(name, server):
        try:
            results[name] = _measure(settings, server, workload, conns,
                                     seconds, seed)
            results[name]["other_cores"] = None
        except Exception as e:  # re-raised below, on the caller's thread
            failures.append(e)

    threads = [threading.Thread(target=one, args=x) for x in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return results


def run_comparison(args, settings, factories, comparison, log):
    key, title, a_name, b_name, wname, limit = comparison
    workload = next(w for w in wl.all_workloads([args.conns], [args.conns])
                    if w.name == wname)
    fresh = getattr(args, "ab_servers", "pair") == "pair"
    concurrent = getattr(args, "ab_mode", "alternate") == "concurrent"
    running = []

    def start(name):
        s = factories[name]()
        running.append(s)
        s.start()
        if workload.prepare:
            workload.prepare(s)
        if args.warmup > 0:
            wl.run_wrk(settings, s, workload, args.conns, args.warmup,
                       seed=999)
        return s

    def stop_all():
        while running:
            running.pop().stop()

    runs = []
    load_before = _loadavg()
    try:
        if not fresh:
            a, b = start(a_name), start(b_name)
        for i in range(args.ab_reps):
            if fresh:
                # Started in the pair's order too, so neither is always the
                # one whose warm-up ran last.
                if i % 2 == 1:
                    b, a = start(b_name), start(a_name)
                else:
                    a, b = start(a_name), start(b_name)
            # By role, "a" and "b": a control compares a server with itself.
            order = [("a", a), ("b", b)]
            if i % 2 == 1:
                order.reverse()
            if concurrent:
                pair = _measure_together(settings, order, workload,
                                         args.conns, args.ab_duration,
                                         seed=i + 1)
            else:
                pair = {role: _measure(settings, s, workload, args.conns,
                                       args.ab_duration, seed=i + 1)
                        for role, s in order}
            for role, s in order:
                pair[role]["server"] = a_name if role == "a" else b_name
                if not s.alive():
                    raise srv.ServerError("%s died:\n%s"
                                          % (s.name, s.log_tail()))
            ra = pair["a"]
            rb = pair["b"]
            runs.append({"rep": i, "first": pair[order[0][0]]["server"],
                         "a": ra, "b": rb})
            if fresh:
                stop_all()
            if concurrent:
                # Each server's share of the server CPU: ~0.5 each when the
                # servers, not the wrks, are what limits the runs.
                tail = "server cores A %.2f B %.2f" % (
                    ra["server_cpu_s"] / args.ab_duration,
                    rb["server_cpu_s"] / args.ab_duration)
            else:
                tail = "other %.2f cores" % max(ra["other_cores"] or 0,
                                                rb["other_cores"] or 0)
            log("  ab %-42s %2d: A %9.0f req/s %6.2f us/req | B %9.0f req/s "
                "%6.2f us/req | %s"
                % (title[:42], i + 1, ra["req_per_s"], ra["cpu_us_per_req"],
                   rb["req_per_s"], rb["cpu_us_per_req"], tail))
    finally:
        stop_all()
    tput = [r["b"]["req_per_s"] / r["a"]["req_per_s"] for r in runs
            if r["a"]["req_per_s"] > 0]
    cpu = [r["b"]["cpu_us_per_req"] / r["a"]["cpu_us_per_req"] for r in runs
           if r["a"]["cpu_us_per_req"] and r["b"]["cpu_us_per_req"]]
    result = {"key": key, "title": title, "baseline": a_name, "variant": b_name,
              "workload": wname, "conns": args.conns,
              "duration_s": args.ab_duration, "pairs": len(runs),
              "servers_per": "pair" if fresh else "comparison",
              "mode": "concurrent" if concurrent else "alternate",
              "limit": limit, "load_before": load_before,
              "load_after": _loadavg(), "runs": runs,
              "errors": sum(r["a"]["errors"] + r["b"]["errors"]
                            for r in runs)}
    if tput:
        med, lo, hi = median_ci(tput)
        result["throughput_ratio"] = {"median": med, "ci95": [lo, hi],
                                      "verdict": verdict(lo, hi, limit,
                                                         True)}
    if cpu:
        med, lo, hi = median_ci(cpu)
        result["cpu_per_request_ratio"] = {
            "median": med, "ci95": [lo, hi],
            "verdict": verdict(lo, hi, 1 / limit, False)}
    a_cpu = [r["a"]["cpu_us_per_req"] for r in runs if r["a"]["cpu_us_per_req"]]
    b_cpu = [r["b"]["cpu_us_per_req"] for r in runs if r["b"]["cpu_us_per_req"]]
    if a_cpu and b_cpu:
        result["cpu_us_per_req"] = {"baseline": statistics.median(a_cpu),
                                    "variant": statistics.median(b_cpu)}
    result["req_per_s"] = {
        "baseline": statistics.median(r["a"]["req_per_s"] for r in runs),
        "variant": statistics.median(r["b"]["req_per_s"] for r in runs)}
    others = [max(r["a"]["other_cores"] or 0, r["b"]["other_cores"] or 0)
              for r in runs]
    result["other_cores"] = {"median": statistics.median(others),
                             "max": max(others)} \
        if others and not concurrent else None
    return result


def ab_phase(args, settings, factories, doc, log):
    """Runs the comparisons whose servers are known; fills doc["ab"]."""
    wanted = set(args.ab)
    unknown = wanted - {c[0] for c in COMPARISONS}
    if unknown:
        return ["ab: unknown comparisons %s (known: %s)"
                % (sorted(unknown), ", ".join(c[0] for c in COMPARISONS))]
    results, failures = [], []
    started = time.monotonic()
    for c in COMPARISONS:
        if c[0] not in wanted:
            continue
        log("ab: %s (%s vs %s, %d pairs of %d s, servers per %s, %s)"
            % (c[1], c[2], c[3], args.ab_reps, args.ab_duration,
               getattr(args, "ab_servers", "pair"),
               getattr(args, "ab_mode", "alternate")))
        try:
            results.append(run_comparison(args, settings, factories, c, log))
        except (srv.ServerError, RuntimeError) as e:
            failures.append("ab %s: %s" % (c[0], e))
    doc["ab"] = {"comparisons": results,
                 "elapsed_s": round(time.monotonic() - started, 1)}
    return failures


def _ratio(x):
    if not x:
        return "–"
    return "%.3f [%.3f, %.3f] %s" % (x["median"], x["ci95"][0],
                                      x["ci95"][1], x["verdict"])


def markdown(doc):
    """The ab phase's results as a Markdown section."""
    ab = doc.get("ab")
    if not ab:
        return ""
    lines = [
        "## A/B: metrics and access log costs (interleaved pairs)",
        "",
        "Median of the per-pair ratio variant/baseline, bootstrap 95 % "
        "interval in brackets, verdict against the limit (throughput: "
        "ratio >= limit; CPU per request: ratio <= 1/limit). CPU is the "
        "server's (all threads) per request; `other` is the CPU the rest of "
        "the machine used meanwhile (/proc/stat, steal included), in cores "
        "(median / max over the runs; not measured when A and B ran "
        "concurrently). `fresh per`: pair = a new baseline "
        "and variant process for each pair, comparison = one of each for "
        "all pairs; `concurrent`: A and B ran at the same time, each under "
        "a wrk of its own, sharing the server CPU (--ab-mode concurrent).",
        "",
        "| comparison | pairs | fresh per | limit | throughput B/A | CPU/request B/A "
        "| req/s A / B | µs CPU/req A / B | other cores | load before → "
        "after | errors |",
        "|---|--:|---|--:|---|---|--:|--:|--:|---|--:|",
    ]
    for c in ab["comparisons"]:
        cpu = c.get("cpu_us_per_req") or {}
        other = c.get("other_cores") or {}
        lb = c.get("load_before") or ["?"]
        la = c.get("load_after") or ["?"]
        lines.append(
            "| %s (B `%s`, A `%s`) | %d | %s | %.2f | %s | %s | %.0f / %.0f | "
            "%.2f / %.2f | %.2f / %.2f | %s → %s | %d |"
            % (c["title"], c["variant"], c["baseline"], c["pairs"],
               c.get("servers_per", "comparison")
               + (", concurrent" if c.get("mode") == "concurrent" else ""),
               c["limit"], _ratio(c.get("throughput_ratio")),
               _ratio(c.get("cpu_per_request_ratio")),
               c["req_per_s"]["baseline"], c["req_per_s"]["variant"],
               cpu.get("baseline", 0), cpu.get("variant", 0),
               other.get("median", 0), other.get("max", 0), lb[0], la[0],
               c["errors"]))
    return "\n".join(lines) + "\n"


def write(doc, out, stem):
    """Writes <stem>.json (everything, every run) and <stem>.md."""
    os.makedirs(out, exist_ok=True)
    meta = doc["meta"]
    js = os.path.join(out, stem + ".json")
    with open(js, "w") as f:
        json.dump(doc, f, indent=1)
    md = os.path.join(out, stem + ".md")
    with open(md, "w") as f:
        f.write("# cartd A/B run, %s %s on %s\n\n" % (meta["date"],
                                                     meta["time"],
                                                     meta["host"]))
        f.write("- command: `%s`\n" % meta["command"])
        f.write("- commit: %s; CPU: %s (%d cores); server on CPU %s, wrk on "
                "%s\n" % (meta["commit"], meta["cpu"], meta["cores"],
                          meta["server_cpus"], meta["client_cpus"]))
        f.write("- load average before / after: %s / %s\n\n"
                % (meta["loadavg_before"], meta.get("loadavg_after", "?")))
        f.write(markdown(doc))
    return [js, md]
