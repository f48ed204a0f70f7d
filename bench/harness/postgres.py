"""A throwaway PostgreSQL 15 server for one benchmark run, and pgbench
against it.

The server is Debian's `postgresql-15` with initdb's defaults (among them
`synchronous_commit = on` and `fsync = on`: a commit returns once its WAL is
flushed), on 127.0.0.1 on a free port, with its data and socket in a
temporary directory removed afterwards. PostgreSQL refuses to run as root:
as root, the server runs as the `postgres` user (runuser).

`cartd-postgres` rows are the real binary on a fresh schema of this server;
the `pgbench` row is PostgreSQL's own load generator running one-row INSERT
transactions with 64 clients against the same server: what the server
commits per second when every write is its own transaction. cartd's group
commit has to beat it several times.
"""

import os
import re
import shutil
import subprocess
import tempfile

from . import servers as srv

PG_BIN = "/usr/lib/postgresql/15/bin"

# pgbench's script: one single-row INSERT per transaction (pgbench wraps
# each script run in its own transaction with autocommit), into a table
# shaped like the journal's events.
PGBENCH_SCRIPT = """\
\\set c random(1, 10000)
INSERT INTO bench_inserts (stream, payload, recorded_at)
  VALUES ('c' || :c, '{"v":1,"type":"item_added","item":"apple","quantity":1}', 0);
"""

PGBENCH_TABLE = """\
DROP TABLE IF EXISTS bench_inserts;
CREATE TABLE bench_inserts (id bigserial PRIMARY KEY, stream text NOT NULL,
                            payload text NOT NULL, recorded_at bigint NOT NULL);
"""


def available():
    return os.path.exists(os.path.join(PG_BIN, "pg_ctl"))


def _as_postgres(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


class PostgresServer:
    """initdb + pg_ctl start on a free port; stop() removes everything."""

    def __init__(self):
        self.tmp = None
        self.port = None

    def start(self):
        if not available():
            raise srv.ServerError("no PostgreSQL 15 in %s (scripts/install-deps "
                                  "installs postgresql-15)" % PG_BIN)
        self.tmp = tempfile.mkdtemp(prefix="cartd-bench-pg-")
        os.chmod(self.tmp, 0o755)
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres", "postgres")
            shutil.chown(data, "postgres", "postgres")
        os.chmod(data, 0o700)
        self._run([os.path.join(PG_BIN, "initdb"), "-D", data, "-A", "trust",
                   "-U", "postgres", "--no-sync"])
        self.port = srv.free_port()
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 "
                "-c max_connections=200" % (self.port, self.tmp))
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-w", "-t",
                   "60", "-l", os.path.join(self.tmp, "server.log"), "-o",
                   opts, "start"])
        return self

    def stop(self):
        if self.tmp and os.path.isdir(self.tmp):
            data = os.path.join(self.tmp, "data")
            try:
                self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-w",
                           "-m", "fast", "stop"])
            except srv.ServerError:
                pass
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def conninfo(self, dbname="postgres"):
        return ("host=127.0.0.1 port=%d user=postgres dbname=%s"
                % (self.port, dbname))

    def psql(self, sql):
        return self._run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                          "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                          "-d", "postgres", "-c", sql])

    def settings(self):
        """What decides durability and speed here, for the report."""
        out = {}
        for name in ("server_version", "synchronous_commit", "fsync",
                     "wal_sync_method", "shared_buffers", "max_connections"):
            text = self._run(["psql", "-X", "-A", "-t", "-h", "127.0.0.1",
                              "-p", str(self.port), "-U", "postgres", "-d",
                              "postgres", "-c", "SHOW %s" % name])
            out[name] = text.strip()
        return out

    def _run(self, cmd):
        if cmd[0].startswith(PG_BIN):
            cmd = _as_postgres(cmd)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, cwd="/",
                              timeout=120)
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise srv.ServerError("%s failed (%s): %s"
                                  % (" ".join(cmd), proc.returncode, out))
        return out


class Pgbench(srv.Server):
    """Not an HTTP server: stands in the `add_many` row for what PostgreSQL
    commits per second with one single-row INSERT per transaction, from
    `clients` concurrent clients (pgbench), against the run's server."""

    name = "pgbench"
    routes = {"add_many"}

    def __init__(self, pg, clients=64, cpus=None):
        super().__init__(cpus)
        self.pg = pg
        self.clients = clients

    def start(self, timeout=20.0):
        self.tmp = tempfile.mkdtemp(prefix="cartd-bench-pgbench-")
        self.pg.psql(PGBENCH_TABLE)
        self.script = os.path.join(self.tmp, "insert.sql")
        with open(self.script, "w") as f:
            f.write(PGBENCH_SCRIPT)
        self.port = self.pg.port
        return self

    def stop(self, timeout=15.0):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def alive(self):
        return True

    def command(self, seconds=4):
        cmd = []
        if self.cpus:
            cmd += ["taskset", "-c", self.cpus]
        return cmd + ["pgbench", "-n", "-M", "prepared", "-c",
                      str(self.clients), "-j", "2", "-T", str(seconds), "-r",
                      "-f", self.script or "insert.sql", "-h", "127.0.0.1",
                      "-p", str(self.port or 0), "-U", "postgres",
                      "postgres"]

    def describe(self):
        cmd = " ".join(self.command())
        if self.tmp:
            cmd = cmd.replace(self.tmp, "$TMP")
        return {"name": self.name, "command": cmd + "  # script: "
                + PGBENCH_SCRIPT.replace("\n", " ")}

    def run(self, seconds):
        """One pgbench run, as a result shaped like a wrk run's."""
        cmd = self.command(seconds)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=seconds + 120)
        out = proc.stdout.decode("utf-8", "replace")
        tps = re.search(r"tps = ([0-9.]+) \(without initial connection",
                        out)
        done = re.search(r"number of transactions actually processed: (\d+)",
                         out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        lat = re.search(r"latency average = ([0-9.]+) ms", out)
        if proc.returncode != 0 or not tps or not done:
            raise RuntimeError("pgbench failed (%s): %s\n%s"
                               % (proc.returncode, " ".join(cmd), out))
        avg_us = float(lat.group(1)) * 1000 if lat else None
        return {
            "requests": int(done.group(1)),
            "duration_us": seconds * 1e6,
            "req_per_s": float(tps.group(1)),
            "latency_us": {"p50": avg_us, "p99": None, "p999": None},
            "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0,
                       "status": int(failed.group(1)) if failed else 0},
            "socket_errors": 0,
            "non2xx": int(failed.group(1)) if failed else 0,
            "codes": {},
            "command": " ".join(cmd),
            "note": "tps without connection time; p50 column: pgbench's "
                    "average latency",
        }
