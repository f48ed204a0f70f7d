#!/usr/bin/env python3
"""`cmake --install` as an operator runs it, into temporary directories (no
root needed): the binary, the default configuration, the logrotate snippet
and both systemd units land where the prefix says (a prefix of its own:
<prefix>/etc, <prefix>/lib/systemd/system; the prefix /usr under DESTDIR:
/etc and /lib/systemd/system, as in the .deb), the units name the installed
binary and configuration, `systemd-analyze verify` accepts them, and the
installed binary starts with the installed configuration (only the port and
the journal's directory overridden) and serves.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request


def run(cmd, check=True, **kw):
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


def read(path):
    with open(path) as f:
        return f.read()


def check_layout(root, prefix, sysconfdir, unitdir):
    """Files under `root` (DESTDIR or /) for an install with `prefix`."""
    binary = prefix + "/bin/cartd"
    config = sysconfdir + "/cartd/cartd.ini"
    check(os.access(root + binary, os.X_OK), f"{binary} is installed")
    check(os.path.isfile(root + config), f"{config} is installed")
    check(os.path.isfile(root + sysconfdir + "/logrotate.d/cartd"),
          f"{sysconfdir}/logrotate.d/cartd is installed")
    unit = read(root + unitdir + "/cartd.service")
    check(f"ExecStart={binary} --config-file={config}\n" in unit,
          f"cartd.service starts {binary} with {config}")
    template = read(root + unitdir + "/cartd@.service")
    check(f"ExecStart={binary} \\\n" in template,
          f"cartd@.service starts {binary}")
    for text in (unit, template):
        check("@CARTD" not in text, "no placeholder is left")
        check("Type=notify" in text and "User=cartd" in text and
              "CapabilityBoundingSet=\n" in text,
              "Type=notify, user cartd, no capabilities")
    return binary, config


def verify_units(unitdir):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("note: no systemd-analyze here; the units were not verified")
        return
    # A template is verified through an instance of it.
    with tempfile.TemporaryDirectory() as d:
        for name in ("cartd.service", "cartd@.service"):
            shutil.copy(os.path.join(unitdir, name), d)
        res = run([analyze, "verify", os.path.join(d, "cartd.service"),
                   os.path.join(d, "cartd@node1.service")], check=False)
        # verify also reports other units on the machine: only ours count.
        ours = [l for l in res.stderr.splitlines() if "cartd" in l]
        check(not ours, "systemd-analyze verify accepts both units")


def serve_once(binary, config, work):
    """The installed binary with the installed configuration serves."""
    port_file = os.path.join(work, "port")
    data = os.path.join(work, "data")
    cmd = [binary, "--config-file=" + config, "--http.port=0",
           "--http.port-file=" + port_file, "--storage.path=" + data]
    print("+ " + " ".join(cmd), flush=True)
    err_path = os.path.join(work, "cartd.stderr")
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, cwd=work, stdout=err, stderr=err)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file) and proc.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        check(os.path.exists(port_file), "the node started and listens")
        port = int(read(port_file))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health",
                                    timeout=10) as res:
            check(res.status == 200, "it answers /health")
        check(os.path.exists(os.path.join(data, "cartd.db")),
              "its SQLite journal is open (storage.backend from the file)")
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=20) == 0, "it stops with exit 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        print("---- cartd stderr ----\n" + read(err_path) + "---- end ----")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cartd-install-")
    try:
        own = os.path.join(work, "opt")
        run(["cmake", "--install", args.build_dir, "--prefix", own])
        binary, config = check_layout("", own, own + "/etc",
                                      own + "/lib/systemd/system")
        verify_units(own + "/lib/systemd/system")
        dump = run([binary, "--config-file=" + config, "--dump-config"]).stdout
        check('"/var/lib/cartd"' in dump,
              "the binary reads the installed configuration (storage.path)")
        serve_once(binary, config, work)

        staged = os.path.join(work, "staged")
        run(["cmake", "--install", args.build_dir, "--prefix", "/usr"],
            env=dict(os.environ, DESTDIR=staged))
        check_layout(staged, "/usr", "/etc", "/lib/systemd/system")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("install_test: passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print("FAILED: " + str(e), flush=True)
        sys.exit(1)
