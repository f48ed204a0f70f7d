"""The workloads: which wrk script, with which options, at which connection
counts, against which servers; and how one wrk run is executed and parsed.
"""

import json
import os
import resource
import subprocess

from . import servers as srv


class Workload:
    def __init__(self, name, script, args, title, conns=None, prepare=None):
        self.name = name
        self.script = script
        self.args = args
        self.title = title
        # None: the run's default connection count (64); a list: a sweep.
        self.conns = conns
        self.prepare = prepare


def prepare_hot_cart(server):
    """Puts three lines into the hot cart so its GET renders a real cart."""
    if isinstance(server, srv.Cartd):
        for item in ("apple", "pear", "plum"):
            status, body = srv.request(
                server.port, "POST", "/carts/hot/items",
                '{"item":"%s","quantity":2}' % item)
            if status != 200:
                raise srv.ServerError("prepare hot cart: %s %s"
                                      % (status, body))


def all_workloads(sweep, add_conns=None):
    """In the order they run against one server: adds fill the carts that
    the GETs then read."""
    return [
        Workload("get_hot", "get_hot.lua", ["cart=hot"],
                 "GET one hot cart", prepare=prepare_hot_cart),
        Workload("add_many", "add_many.lua", ["carts=10000", "items=8"],
                 "POST add item, 10,000 carts (durable)", conns=add_conns),
        Workload("get_many", "get_many.lua", ["carts=10000"],
                 "GET, 10,000 carts"),
        Workload("mix", "mix.lua", ["carts=100000", "read=80", "items=8"],
                 "80% GET / 20% add, 100,000 carts", conns=sweep),
        Workload("seed", "seed.lua", ["read=80", "items=16"],
                 "seed routes: 80% GET /cart / 20% POST /cart"),
    ]


class WrkSettings:
    def __init__(self, wrk="wrk", threads=1, timeout="10s", cpus=None,
                 script_dir=None):
        self.wrk = wrk
        self.threads = threads
        self.timeout = timeout
        self.cpus = cpus
        self.script_dir = script_dir

    def describe(self):
        return {"threads": self.threads, "timeout": self.timeout,
                "cpus": self.cpus}


_TICK = os.sysconf("SC_CLK_TCK")


def _busy_seconds():
    """CPU seconds the whole machine spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = \
        (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def _tree_cpu_seconds(root_pid):
    """CPU seconds used so far by `root_pid` and its descendants."""
    parent, cpu = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                text = f.read()
        except OSError:
            continue
        rest = text[text.rindex(")") + 2:].split()
        pid = int(name)
        parent[pid] = int(rest[1])
        cpu[pid] = (int(rest[11]) + int(rest[12])) / _TICK
    total = 0.0
    for pid, t in cpu.items():
        p = pid
        while p and p != root_pid:
            p = parent.get(p, 0)
        if p == root_pid:
            total += t
    return total


def _children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(settings, server, workload, conns, seconds, seed=1, status=False):
    """One wrk run; returns the parsed BENCH_JSON dict plus req_per_s."""
    cmd = []
    if settings.cpus:
        cmd += ["taskset", "-c", settings.cpus]
    threads = max(1, min(settings.threads, conns))
    cmd += [settings.wrk, "-t", str(threads), "-c", str(conns),
            "-d", "%ds" % seconds, "--timeout", settings.timeout,
            "-s", os.path.join(settings.script_dir, workload.script),
            server.url(), "--"] + workload.args + ["seed=%d" % seed]
    env = dict(os.environ)
    env["BENCH_STATUS"] = "1" if status else "0"
    pid = server.proc.pid if server.proc else None
    busy0, srv0, wrk0 = (_busy_seconds(), _tree_cpu_seconds(pid) if pid else 0,
                         _children_cpu_seconds())
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env,
                          timeout=seconds + 120)
    busy = _busy_seconds() - busy0
    srv_cpu = (_tree_cpu_seconds(pid) if pid else 0) - srv0
    wrk_cpu = _children_cpu_seconds() - wrk0
    out = proc.stdout.decode("utf-8", "replace")
    line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")),
                None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError("wrk failed (%s): %s\n%s"
                           % (proc.returncode, " ".join(cmd), out))
    result = json.loads(line[len("BENCH_JSON "):])
    secs = result["duration_us"] / 1e6
    result["req_per_s"] = result["requests"] / secs if secs > 0 else 0.0
    result["socket_errors"] = sum(result["errors"][k] for k in
                                  ("connect", "read", "write", "timeout"))
    result["non2xx"] = result["errors"]["status"]
    # CPU time (in cores) the server and wrk used, and what everything else
    # on the machine used meanwhile: on a shared machine, a run with much
    # "other" CPU measured a server that did not have its core to itself.
    result["cpu"] = {"server": round(srv_cpu / secs, 3) if secs else None,
                     "wrk": round(wrk_cpu / secs, 3) if secs else None,
                     "other": round(max(0.0, busy - srv_cpu - wrk_cpu) / secs,
                                    3) if secs else None}
    result["command"] = " ".join(cmd)
    return result
