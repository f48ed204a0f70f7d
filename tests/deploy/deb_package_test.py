#!/usr/bin/env python3
"""The .deb end to end, as an operator gets it: build the package from the
build directory (cpack), check what it holds, install it with `dpkg -i` on
this machine, start the INSTALLED binary with the INSTALLED configuration as
the cartd user (only the port overridden: an ephemeral one), with
$NOTIFY_SOCKET on a datagram socket of the test's, as systemd's Type=notify
has it: READY=1 arrives, the node stores a cart in /var/lib/cartd and
answers; SIGTERM gives STOPPING=1 and exit 0. `dpkg --purge` runs at the end
whatever happened, and the test checks what it left (the user only).

Needs root (dpkg); exits 77 (skipped) otherwise. Under a running systemd
(CI on a VM), the package's postinst starts cartd.service: the test then
checks that the unit became active (it is Type=notify: only after READY=1)
and stops it before starting its own node. Runs of this test on one machine
take turns (a lock file), since they share the package name and its paths.
"""

import argparse
import fcntl
import grp
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIPPED = 77
LOCK = "/run/lock/cartd-deb-test.lock"


def run(cmd, check=True, **kw):
    """Runs `cmd`, echoing it; returns the CompletedProcess (text output)."""
    print("+ " + " ".join(cmd), flush=True)
    res = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if res.stdout.strip():
        print(res.stdout.rstrip())
    if res.stderr.strip():
        print(res.stderr.rstrip())
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd[0]} exited {res.returncode}")
    return res


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok: " + what, flush=True)


def systemd_running():
    return os.path.isdir("/run/systemd/system")


def build_package(build_dir, out_dir):
    run(["cpack", "-G", "DEB", "-B", out_dir,
         "--config", os.path.join(build_dir, "CPackConfig.cmake")])
    debs = [f for f in os.listdir(out_dir) if f.endswith(".deb")]
    check(len(debs) == 1, f"cpack made one .deb ({debs})")
    return os.path.join(out_dir, debs[0])


def check_package(deb):
    fields = run(["dpkg-deb", "-f", deb, "Package", "Depends"]).stdout
    check("Package: cartd" in fields, "the package is named cartd")
    depends = fields.split("Depends:", 1)[1]
    for lib in ("adduser", "libcaf", "libspdlog", "libpq5", "libsqlite3",
                "libsystemd0"):
        check(lib in depends, f"it depends on {lib}")
    files = run(["dpkg-deb", "-c", deb]).stdout
    for path in ("./usr/bin/cartd", "./etc/cartd/cartd.ini",
                 "./etc/logrotate.d/cartd", "./lib/systemd/system/cartd.service",
                 "./lib/systemd/system/cartd@.service"):
        check(path in files, f"it holds {path}")
    with tempfile.TemporaryDirectory() as ctrl:
        run(["dpkg-deb", "-e", deb, ctrl])
        with open(os.path.join(ctrl, "conffiles")) as f:
            conffiles = f.read().split()
        check("/etc/cartd/cartd.ini" in conffiles,
              "/etc/cartd/cartd.ini is a conffile")


def purge():
    installed = run(["dpkg-query", "-W", "-f=${Status}", "cartd"],
                    check=False).stdout
    if "installed" in installed or "config-files" in installed:
        run(["dpkg", "--purge", "cartd"])


def check_installed():
    user = pwd.getpwnam("cartd")
    check(user.pw_uid < 1000, "cartd is a system user")
    check(user.pw_shell in ("/usr/sbin/nologin", "/bin/false"),
          "cartd has no login shell")
    st = os.stat("/var/lib/cartd")
    check(st.st_uid == user.pw_uid, "/var/lib/cartd belongs to cartd")
    with open("/lib/systemd/system/cartd.service") as f:
        unit = f.read()
    check("ExecStart=/usr/bin/cartd --config-file=/etc/cartd/cartd.ini" in unit,
          "the unit starts the installed binary with the installed config")
    check("Type=notify" in unit, "the unit is Type=notify")
    analyze = shutil.which("systemd-analyze")
    if analyze:
        res = run([analyze, "verify", "/lib/systemd/system/cartd.service"],
                  check=False)
        check(res.returncode == 0 and "cartd.service" not in res.stderr,
              "systemd-analyze verify accepts cartd.service")
    else:
        print("note: no systemd-analyze here; the unit was not verified")


def check_service_under_systemd():
    """Only with a running systemd: postinst started cartd.service."""
    deadline = time.monotonic() + 60
    state = ""
    while time.monotonic() < deadline:
        state = run(["systemctl", "is-active", "cartd.service"],
                    check=False).stdout.strip()
        if state in ("active", "failed"):
            break
        time.sleep(0.5)
    if state != "active":
        run(["systemctl", "status", "--no-pager", "cartd.service"], check=False)
        run(["journalctl", "--no-pager", "-n", "50", "-u", "cartd.service"],
            check=False)
    check(state == "active", "cartd.service became active (READY=1)")
    run(["systemctl", "stop", "cartd.service"])


def http(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.status, json.loads(res.read() or b"null")


def next_datagram(sock, seconds, proc):
    """The next notification, or None after `seconds` or if `proc` ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.2)
        if ready:
            return sock.recv(4096).decode()
        if proc.poll() is not None:
            return None
    return None


def run_installed_node(work):
    user = pwd.getpwnam("cartd")
    rundir = os.path.join(work, "run")
    os.mkdir(rundir)
    os.chown(rundir, user.pw_uid, user.pw_gid)
    notify_path = os.path.join(work, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    os.chmod(notify_path, 0o666)
    port_file = os.path.join(rundir, "port")
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    cmd = ["/usr/bin/cartd", "--config-file=/etc/cartd/cartd.ini",
           "--http.port=0", "--http.port-file=" + port_file]
    print("+ (as cartd, in /var/lib/cartd) " + " ".join(cmd), flush=True)
    err_path = os.path.join(work, "cartd.stderr")
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, cwd="/var/lib/cartd", env=env,
                                user=user.pw_uid, group=user.pw_gid,
                                extra_groups=[], stdout=err, stderr=err)
    try:
        ready = next_datagram(sock, 30, proc)
        check(ready is not None and ready.startswith("READY=1"),
              f"READY=1 arrived ({ready!r})")
        with open(port_file) as f:
            port = int(f.read())
        check(f"STATUS=serving HTTP on 127.0.0.1:{port}" in ready,
              "its status names the bound port")
        status, cart = http(port, "POST", "/carts/deb/items",
                            {"item": "apple", "quantity": 2})
        check(status == 200 and cart["items"] ==
              [{"item": "apple", "quantity": 2}], "a change is stored")
        status, cart = http(port, "GET", "/carts/deb")
        check(status == 200 and cart["version"] == 1, "and read back")
        db = "/var/lib/cartd/cartd.db"
        check(os.path.exists(db) and os.stat(db).st_uid == user.pw_uid,
              "the journal is the installed config's, written as cartd")
        proc.send_signal(signal.SIGTERM)
        stopping = next_datagram(sock, 20, proc)
        check(stopping is not None and stopping.startswith("STOPPING=1"),
              f"STOPPING=1 arrived at SIGTERM ({stopping!r})")
        code = proc.wait(timeout=20)
        check(code == 0, f"the node exited 0 ({code})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        with open(err_path) as f:
            print("---- cartd stderr ----\n" + f.read() + "---- end ----")


def check_purged():
    for path in ("/usr/bin/cartd", "/etc/cartd/cartd.ini",
                 "/lib/systemd/system/cartd.service", "/var/lib/cartd",
                 "/var/log/cartd"):
        check(not os.path.exists(path), f"purge removed {path}")
    try:
        pwd.getpwnam("cartd")
        kept = True
    except KeyError:
        kept = False
    check(kept, "purge kept the cartd system user")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: installing a .deb needs root")
        return SKIPPED
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        work = tempfile.mkdtemp(prefix="cartd-deb-")
        os.chmod(work, 0o755)
        try:
            deb = build_package(args.build_dir, os.path.join(work, "pkg"))
            check_package(deb)
            purge()
            try:
                run(["dpkg", "-i", deb])
                check_installed()
                if systemd_running():
                    check_service_under_systemd()
                run_installed_node(work)
            finally:
                run(["dpkg", "--purge", "cartd"], check=False)
            check_purged()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("deb_package_test: passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print("FAILED: " + str(e), flush=True)
        sys.exit(1)
