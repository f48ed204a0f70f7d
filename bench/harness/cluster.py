"""The cluster rows: a 3-node cluster on the run's PostgreSQL server against
one node on the same server, and failover times.

Throughput. wrk drives one node (the entry) with the http phase's add_many
and get_many workloads over 10,000 carts. With N nodes, placement gives the
entry about 1/N of the carts; the other requests take the remote hop (entry
-> owner over BASP -> entry). The same workloads run against a single node
(cluster mode off, PostgreSQL journal) in the same repetition, with the same
CPU pinning (every cartd process on the server CPUs, wrk on the others), so
the ratio is the price of the hop on the same cores.

CPU per request. The CPU every cartd process used during a run, divided by
the requests: for the single node that is the local path; the cluster's mix
is (1/N) local + (N-1)/N remote, which gives the remote path's cost.

Failover. A writer per victim cart sends keyed adds through the entry node
in a loop; the owner of those carts gets SIGKILL; the failover time is from
the kill to the moment every victim cart had a change acknowledged again by
its new owner (Cartd-Node names a survivor). Then the killed node starts
again under the same name and the next kill follows. Every acknowledged add
is checked at the end: the carts' quantities equal the acknowledged adds
(nothing lost, nothing doubled).
"""

import http.client
import json
import os
import signal
import statistics
import threading
import time

from . import servers as srv
from . import workloads as wl


class ClusterNode(srv.Cartd):
    """One cartd node in cluster mode on a shared schema."""

    def __init__(self, binary, node, schema, postgres, cpus=None,
                 lease="2s", heartbeat="500ms"):
        super().__init__(binary, "cluster-" + node, "postgres",
                         extra=["--cluster.enabled=true",
                                "--cluster.node=" + node,
                                "--cluster.host=127.0.0.1",
                                "--cluster.port=0",
                                "--cluster.lease=" + lease,
                                "--cluster.heartbeat=" + heartbeat],
                         cpus=cpus, postgres=postgres)
        self.node = node
        self.schema = schema

    def check(self):
        status, body = srv.request(self.port, "GET", "/ready")
        if status != 200:
            raise srv.ServerError("GET /ready: %s %s" % (status, body))


def get_with_node(port, path, timeout=5.0, method="GET", body=None,
                  headers=None):
    """One request: (status, body, Cartd-Node header)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if body is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=h)
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
        return res.status, text, res.getheader("Cartd-Node")
    finally:
        conn.close()


class Cluster:
    """N ClusterNodes on one schema of the run's PostgreSQL server."""

    count = 0

    def __init__(self, binary, postgres, n=3, cpus=None):
        Cluster.count += 1
        self.binary = binary
        self.postgres = postgres
        self.cpus = cpus
        self.schema = "bench_cluster_%d_%d" % (os.getpid(), Cluster.count)
        self.nodes = [self.make_node("n%d" % (i + 1)) for i in range(n)]

    def make_node(self, name):
        return ClusterNode(self.binary, name, self.schema, self.postgres,
                           cpus=self.cpus)

    def start(self, timeout=30.0):
        for node in self.nodes:
            node.start(timeout=timeout)
        self.wait_for_members(len(self.nodes), timeout)
        return self

    def stop(self):
        for node in self.nodes:
            node.stop()

    def wait_for_members(self, n, timeout=30.0):
        """Until every live node's /cluster lists n members, all up."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            ok = True
            for node in self.nodes:
                if not node.alive():
                    continue
                try:
                    status, body = srv.request(node.port, "GET", "/cluster")
                    members = json.loads(body).get("members", []) \
                        if status == 200 else []
                except (OSError, ValueError, http.client.HTTPException) as e:
                    last, members = e, []
                up = [m for m in members if m.get("status") == "up"]
                if len(up) != n or len(members) != n:
                    ok, last = False, (node.node, status, body)
                    break
            if ok:
                return
            time.sleep(0.1)
        raise srv.ServerError("the cluster did not reach %d members: %s"
                              % (n, last))

    def cpu_seconds(self):
        return sum(wl._tree_cpu_seconds(n.proc.pid) for n in self.nodes
                   if n.proc is not None)

    def owner_of(self, cart, via):
        status, _, node = get_with_node(via.port, "/carts/" + cart)
        if status != 200:
            raise srv.ServerError("GET /carts/%s: %s" % (cart, status))
        return node


def measure(settings, server, workload, conns, seconds, rep, cpu_of):
    cpu0 = cpu_of()
    res = wl.run_wrk(settings, server, workload, conns, seconds, seed=rep + 1)
    cpu = cpu_of() - cpu0
    res["cluster_cpu_s"] = cpu
    res["cpu_us_per_request"] = (cpu / res["requests"] * 1e6
                                 if res["requests"] else None)
    return res


def remote_share(cluster, entry, carts=300):
    """The share of the 10,000 bench carts (sampled) not owned by entry."""
    remote = 0
    step = max(1, 10000 // carts)
    for i in range(1, 10001, step):
        if cluster.owner_of("c%d" % i, entry) != entry.node:
            remote += 1
    return remote / len(range(1, 10001, step))


def throughput(args, settings, server_cpus, postgres, log):
    """Single node vs 3-node cluster through one node; returns raw rows."""
    cartd = os.path.join(args.bin_dir, "cartd")
    workloads = [w for w in wl.all_workloads(args.sweep, [args.conns])
                 if w.name in ("add_many", "get_many")]
    raw = []
    share = None
    for rep in range(args.reps):
        single = srv.Cartd(cartd, "single-postgres", "postgres",
                           cpus=server_cpus, postgres=postgres)
        single.start()
        try:
            for w in workloads:
                if args.warmup:
                    wl.run_wrk(settings, single, w, args.conns, args.warmup,
                               seed=1000 + rep)
                res = measure(settings, single, w, args.conns, args.duration,
                              rep, lambda: wl._tree_cpu_seconds(
                                  single.proc.pid))
                raw.append({"setup": "single", "workload": w.name,
                            "rep": rep, "result": res})
                log("  cluster: %-8s %-9s %10.0f req/s  %s us CPU/request"
                    % ("single", w.name, res["req_per_s"],
                       "%.1f" % res["cpu_us_per_request"]))
        finally:
            single.stop()
        cluster = Cluster(cartd, postgres, n=args.cluster_nodes,
                          cpus=server_cpus)
        try:
            cluster.start()
            entry = cluster.nodes[0]
            for w in workloads:
                if args.warmup:
                    wl.run_wrk(settings, entry, w, args.conns, args.warmup,
                               seed=1000 + rep)
                res = measure(settings, entry, w, args.conns, args.duration,
                              rep, cluster.cpu_seconds)
                raw.append({"setup": "cluster", "workload": w.name,
                            "rep": rep, "result": res})
                log("  cluster: %-8s %-9s %10.0f req/s  %s us CPU/request"
                    % ("%d nodes" % len(cluster.nodes), w.name,
                       res["req_per_s"], "%.1f" % res["cpu_us_per_request"]))
            if share is None:
                share = remote_share(cluster, entry)
        finally:
            cluster.stop()
    return raw, share


class Writer(threading.Thread):
    """Keyed adds to one cart through one node until stopped; remembers
    every acknowledged add and who acknowledged it when."""

    def __init__(self, port, cart, tag):
        super().__init__(daemon=True)
        self.port = port
        self.cart = cart
        self.tag = tag
        self.acked = 0
        self.acks = []  # (monotonic time, Cartd-Node)
        self.stopping = False

    def run(self):
        seq = 0
        while not self.stopping:
            seq += 1
            key = "%s-%s-%d" % (self.tag, self.cart, seq)
            # Retry one key until it is acknowledged: a retry of an
            # acknowledged-but-unanswered add is answered from the key.
            while not self.stopping:
                try:
                    status, _, node = get_with_node(
                        self.port, "/carts/%s/items" % self.cart, timeout=5.0,
                        method="POST", body='{"item":"x"}',
                        headers={"Idempotency-Key": key})
                except (OSError, http.client.HTTPException):
                    status, node = None, None
                if status == 200:
                    self.acked += 1
                    self.acks.append((time.monotonic(), node))
                    break
                time.sleep(0.01)


def failover(args, server_cpus, postgres, log):
    """Median of `kills` SIGKILLs of a node owning carts written through
    another node: seconds from the kill until every victim cart was written
    again through a survivor."""
    cartd = os.path.join(args.bin_dir, "cartd")
    cluster = Cluster(cartd, postgres, n=args.cluster_nodes, cpus=server_cpus)
    times, problems = [], []
    try:
        cluster.start()
        entry = cluster.nodes[0]
        for k in range(args.kills):
            victim = cluster.nodes[-1]
            carts, i = [], 0
            while len(carts) < 4 and i < 10000:
                i += 1
                cart = "fo%d-%d" % (k, i)
                if cluster.owner_of(cart, entry) == victim.node:
                    carts.append(cart)
            writers = [Writer(entry.port, c, "k%d" % k) for c in carts]
            for w in writers:
                w.start()
            time.sleep(1.0)
            killed_at = time.monotonic()
            os.kill(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait()
            deadline = killed_at + 30
            back = {}
            while time.monotonic() < deadline and len(back) < len(writers):
                for w in writers:
                    for t, node in list(w.acks):
                        if t > killed_at and node and node != victim.node:
                            back.setdefault(w.cart, t - killed_at)
                            break
                time.sleep(0.01)
            for w in writers:
                w.stopping = True
            for w in writers:
                w.join(10)
            if len(back) < len(writers):
                problems.append("kill %d: %d of %d carts not written again "
                                "within 30 s" % (k + 1, len(writers) -
                                                 len(back), len(writers)))
            else:
                times.append(max(back.values()))
                log("  failover %d: %.2f s" % (k + 1, times[-1]))
            for w in writers:
                status, body, _ = get_with_node(entry.port, "/carts/" + w.cart)
                total = json.loads(body).get("total_quantity") \
                    if status == 200 else None
                if total != w.acked:
                    problems.append("kill %d: cart %s holds %s, %d adds "
                                    "were acknowledged" % (k + 1, w.cart,
                                                           total, w.acked))
            # The victim comes back under its name for the next kill.
            victim.stop()
            cluster.nodes[-1] = cluster.make_node(victim.node)
            cluster.nodes[-1].start()
            cluster.wait_for_members(len(cluster.nodes))
    finally:
        cluster.stop()
    return times, problems


def cluster_phase(args, settings, server_cpus, doc, postgres, log):
    failures = []
    result = {"nodes": args.cluster_nodes, "conns": args.conns}
    try:
        raw, share = throughput(args, settings, server_cpus, postgres, log)
        result["raw"] = raw
        result["remote_share"] = share
        rows = {}
        for setup in ("single", "cluster"):
            for w in ("add_many", "get_many"):
                rs = [r["result"] for r in raw
                      if r["setup"] == setup and r["workload"] == w]
                if rs:
                    rows["%s/%s" % (setup, w)] = {
                        "req_per_s": statistics.median(
                            r["req_per_s"] for r in rs),
                        "p99_us": statistics.median(
                            r["latency_us"]["p99"] for r in rs),
                        "cpu_us_per_request": statistics.median(
                            r["cpu_us_per_request"] for r in rs),
                        "errors": sum(r["non2xx"] + r["socket_errors"]
                                      for r in rs)}
        result["rows"] = rows
    except (srv.ServerError, RuntimeError) as e:
        failures.append("cluster throughput: %s" % e)
    try:
        times, problems = failover(args, server_cpus, postgres, log)
        result["failover_s"] = times
        result["failover_median_s"] = statistics.median(times) \
            if times else None
        failures += ["cluster failover: " + p for p in problems]
    except (srv.ServerError, RuntimeError) as e:
        failures.append("cluster failover: %s" % e)
    doc["cluster"] = result
    return failures


def markdown(doc):
    c = doc.get("cluster")
    if not c:
        return []
    rows = c.get("rows", {})
    n = c.get("nodes", 3)
    lines = ["## Cluster", "",
             "%d nodes on one PostgreSQL server, every cartd process on the "
             "server CPUs, wrk driving one node at %d connections; the "
             "single node is cluster mode off on the same PostgreSQL "
             "server, in the same repetition. Remote share: carts of the "
             "10,000 not owned by the node wrk drives (sampled)."
             % (n, c.get("conns", 64)), "",
             "| workload | single node | %d-node cluster via one node | "
             "ratio | CPU/request single | CPU/request cluster | "
             "remote path (derived) |" % n,
             "|---|--:|--:|--:|--:|--:|--:|"]
    share = c.get("remote_share")
    for w in ("add_many", "get_many"):
        s, k = rows.get("single/" + w), rows.get("cluster/" + w)
        if not s or not k:
            continue
        remote = None
        if share:
            remote = (k["cpu_us_per_request"] -
                      (1 - share) * s["cpu_us_per_request"]) / share
        lines.append("| %s | %.0f req/s | %.0f req/s | %.2fx | %.1f us | "
                     "%.1f us | %s |"
                     % (w, s["req_per_s"], k["req_per_s"],
                        k["req_per_s"] / s["req_per_s"],
                        s["cpu_us_per_request"], k["cpu_us_per_request"],
                        "%.1f us" % remote if remote else "–"))
    lines.append("")
    if share is not None:
        lines.append("Remote share: %.0f%% of the carts." % (share * 100))
        lines.append("")
    times = c.get("failover_s")
    if times:
        lines.append("Failover (SIGKILL of the owner of 4 carts written "
                     "through another node, until all 4 were written again "
                     "through a survivor): median %.2f s of %d kills (%s)."
                     % (c["failover_median_s"], len(times),
                        ", ".join("%.2f" % t for t in times)))
        lines.append("")
    return lines
