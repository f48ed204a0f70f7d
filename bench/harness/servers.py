"""The servers a benchmark run starts, drives and stops, one at a time.

Every server runs on loopback, on a port of its own, in a temporary
directory of its own; `stop` ends exactly the process this module started
(by PID), then its temporary directory is removed.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

FIXED_BODY = ('{"id":"c1","items":[{"item":"apple","quantity":2}],'
              '"total_quantity":2,"checked_out":false,"version":3}')

# Every process any Server started and has not stopped yet, so that the
# runner can stop them all on an interrupt.
live = {}


def free_port():
    """A port that was free a moment ago (for servers without port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=5.0):
    """One HTTP request on a fresh connection: (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.read().decode("utf-8", "replace")
    finally:
        conn.close()


class ServerError(RuntimeError):
    pass


class Server:
    """A server process. Subclasses say how to start it and how to tell it
    is ready."""

    name = "server"
    #: Which workloads it serves ("all" or a set of workload names).
    routes = "all"

    def __init__(self, cpus=None):
        self.cpus = cpus
        # A nice value for the server (None: the harness's own), for the ab
        # phase's control comparison.
        self.nice = None
        self.proc = None
        self.port = None
        self.tmp = None
        self.log_path = None

    # -- to override --------------------------------------------------------

    def command(self):
        raise NotImplementedError

    def discover_port(self):
        """The bound port, once known (None: not yet)."""
        return self.port

    def check(self):
        """Raises ServerError unless the server answers as expected."""

    def describe(self):
        cmd = " ".join(self.command())
        if self.tmp:
            cmd = cmd.replace(self.tmp, "$TMP")
        if self.nice is not None:
            cmd = "nice -n %d %s" % (self.nice, cmd)
        if self.cpus:
            cmd = "taskset -c %s %s" % (self.cpus, cmd)
        return {"name": self.name, "command": cmd}

    # -- lifecycle ----------------------------------------------------------

    def start(self, timeout=20.0):
        self.tmp = tempfile.mkdtemp(prefix="cartd-bench-%s-" % self.name)
        self.prepare()
        cmd = self.command()
        if self.nice is not None:
            cmd = ["nice", "-n", str(self.nice)] + cmd
        if self.cpus:
            cmd = ["taskset", "-c", self.cpus] + cmd
        self.log_path = os.path.join(self.tmp, "server.log")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmp,
                                     start_new_session=True)
        log.close()
        live[self.proc.pid] = self
        if self.nice is not None and os.path.exists(
                "/proc/%d/autogroup" % self.proc.pid):
            # The server runs in a session, so an autogroup, of its own
            # (start_new_session): the scheduler shares the CPU between
            # autogroups by the group's nice, not the task's.
            try:
                with open("/proc/%d/autogroup" % self.proc.pid, "w") as f:
                    f.write(str(self.nice))
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("%s exited with %s during start:\n%s"
                                  % (self.name, self.proc.returncode,
                                     self.log_tail()))
            port = self.discover_port()
            if port:
                self.port = port
                try:
                    self.check()
                    return self
                except (OSError, ServerError, http.client.HTTPException) as e:
                    last_err = e
            time.sleep(0.05)
        self.stop()
        raise ServerError("%s did not become ready in %ss (%s):\n%s"
                          % (self.name, timeout, last_err, self.log_tail()))

    def prepare(self):
        """Writes config files into self.tmp before the start."""

    def stop(self, timeout=15.0):
        if self.proc is not None:
            pid = self.proc.pid
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            live.pop(pid, None)
            self.proc = None
        if self.tmp and os.path.isdir(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except (OSError, TypeError):
            return "(no log)"

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def serves(self, workload):
        return self.routes == "all" or workload in self.routes


def _read_port_file(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class Cartd(Server):
    """The real binary, with its durable SQLite journal, in memory, or on
    the run's PostgreSQL server (`postgres`: a harness.postgres server; each
    start gets a schema of its own, so every start begins empty)."""

    starts = 0

    def __init__(self, binary, name, backend="sqlite", extra=(), cpus=None,
                 routes="all", postgres=None, access_log=False):
        super().__init__(cpus)
        # --log.access=true into a file in the server's temp dir: a real
        # file, as an operator would have it (/dev/null would hide the
        # write(2) calls); the access log thread writes it, not the server.
        self.access_log = access_log
        self.binary = binary
        self.name = name
        self.backend = backend
        self.extra = list(extra)
        self.routes = routes
        self.postgres = postgres
        Cartd.starts += 1
        self.schema = "bench_%d_%d" % (os.getpid(), Cartd.starts)

    def command(self):
        tmp = self.tmp or "$TMP"
        cmd = [self.binary, "--http.port=0",
               "--http.port-file=" + os.path.join(tmp, "port"),
               "--storage.backend=" + self.backend, "--log.level=warn"]
        if self.backend == "sqlite":
            cmd += ["--storage.path=" + os.path.join(tmp, "data"),
                    "--storage.sync=full"]
        if self.backend == "postgres":
            conninfo = (self.postgres.conninfo() if self.postgres
                        and self.postgres.port else "$CONNINFO")
            cmd += ["--storage.postgres=" + conninfo,
                    "--storage.postgres-schema=" + self.schema]
        if self.access_log:
            cmd += ["--log.access=true",
                    "--log.access-file=" + os.path.join(tmp, "access.log")]
        return cmd + self.extra

    def prepare(self):
        if self.backend == "sqlite":
            os.makedirs(os.path.join(self.tmp, "data"), exist_ok=True)

    def discover_port(self):
        return _read_port_file(os.path.join(self.tmp, "port"))

    def check(self):
        status, body = request(self.port, "GET", "/ready")
        if status != 200:
            raise ServerError("GET /ready: %s %s" % (status, body))
        status, body = request(self.port, "GET", "/carts/bench-check")
        if status != 200 or json.loads(body).get("id") != "bench-check":
            raise ServerError("GET /carts/bench-check: %s %s" % (status, body))


class Nginx(Server):
    """The ceiling: nginx, one worker, a fixed JSON body from its config for
    every request (any method, any path), access log off."""

    name = "nginx"

    def __init__(self, cpus=None):
        super().__init__(cpus)
        self.port = None

    def prepare(self):
        self.port = free_port()
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.tmp, d), exist_ok=True)
        conf = NGINX_CONF.format(tmp=self.tmp, port=self.port,
                                 body=FIXED_BODY.replace("'", "\\'"))
        with open(os.path.join(self.tmp, "nginx.conf"), "w") as f:
            f.write(conf)

    def command(self):
        tmp = self.tmp or "$TMP"
        return ["nginx", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf"),
                "-e", os.path.join(tmp, "error.log")]

    def discover_port(self):
        return self.port if os.path.exists(
            os.path.join(self.tmp, "nginx.pid")) else None

    def check(self):
        status, body = request(self.port, "GET", "/carts/c1")
        if status != 200 or body != FIXED_BODY:
            raise ServerError("GET /carts/c1: %s %s" % (status, body))
        status, body = request(self.port, "POST", "/carts/c1/items",
                               '{"item":"apple"}')
        if status != 200:
            raise ServerError("POST /carts/c1/items: %s %s" % (status, body))


NGINX_CONF = """\
# Generated by bench/harness/servers.py for one benchmark run.
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_rlimit_nofile 16384;
events {{
  worker_connections 8192;
}}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    default_type application/json;
    location / {{
      return 200 '{body}';
    }}
  }}
}}
"""


class FlaskDev(Server):
    """The seed service under Flask's development server."""

    name = "flask"
    routes = {"seed"}

    def __init__(self, python, script, cpus=None):
        super().__init__(cpus)
        self.python = python
        self.script = script

    def command(self):
        tmp = self.tmp or "$TMP"
        return [self.python, self.script, "--port", "0",
                "--port-file", os.path.join(tmp, "port")]

    def discover_port(self):
        return _read_port_file(os.path.join(self.tmp, "port"))

    def check(self):
        status, body = request(self.port, "GET", "/cart")
        if status != 200 or not isinstance(json.loads(body), dict):
            raise ServerError("GET /cart: %s %s" % (status, body))


class Gunicorn(FlaskDev):
    """The seed service under gunicorn: one worker process (the cart lives
    in that process's memory, as in the seed) with threads."""

    name = "gunicorn"

    def __init__(self, python, script, threads=8, cpus=None):
        super().__init__(python, script, cpus)
        self.threads = threads

    def prepare(self):
        self.port = free_port()

    def command(self):
        return [self.python, "-m", "gunicorn",
                "--chdir", os.path.dirname(os.path.abspath(self.script)),
                "--workers", "1", "--threads", str(self.threads),
                "--worker-class", "gthread",
                "--bind", "127.0.0.1:%d" % (self.port or 0),
                "--log-level", "warning",
                os.path.splitext(os.path.basename(self.script))[0] + ":app"]

    def discover_port(self):
        return self.port


def stop_all():
    """Stops every server still running (on interrupt or error)."""
    for server in list(live.values()):
        try:
            server.stop(timeout=5.0)
        except Exception:  # keep stopping the others
            pass
