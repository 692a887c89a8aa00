#!/usr/bin/env python3
"""Benchmark: the simulator serving the `large` scenario (5,000 nodes, 150,000 pods),
and the read-only cockpit against kubectl on it, side by side in one run.

Prints, from one run on this machine:
  - time to build the large world and start serving;
  - time to page through all pods with limit=500 (the floor any client pays);
  - time until the model of `upshift watch --headless` is complete (every watch
    listed), and its peak memory;
  - time and peak memory of `kubectl get pods -A -o json` against the same server;
  - the simulator's peak memory (VmHWM).

Usage: python3 benches/large_cluster.py [--skip-build] [--runs N] [--no-kubectl]
Not a test: figures depend on the machine; nothing here asserts a threshold.
"""
import argparse
import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--runs", type=int, default=1, help="runs of each client")
    ap.add_argument("--no-kubectl", action="store_true", help="measure upshift only")
    args = ap.parse_args()
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "upshift")
    tmp = tempfile.mkdtemp(prefix="upshift-bench-")
    kubeconfig = os.path.join(tmp, "kubeconfig")
    t0 = time.monotonic()
    sim = subprocess.Popen(
        [binary, "--log-file", os.path.join(tmp, "log"), "sim", "serve", "--scenario", "large", "--kubeconfig", kubeconfig],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    for line in sim.stdout:
        m = re.search(r"API server\s+(https?://\S+)", line)
        if m:
            url = m.group(1)
            break
    if not url:
        print("the simulator did not start", file=sys.stderr)
        sim.kill()
        return 1
    startup = time.monotonic() - t0
    with open(kubeconfig) as f:
        text = f.read()
    token = re.search(r"name: lead\n  user:\n    token: (\S+)", text).group(1)
    ca = base64.b64decode(re.search(r"certificate-authority-data: (\S+)", text).group(1)).decode()
    tls = ssl.create_default_context(cadata=ca)
    print(f"simulator: large scenario built and serving in {startup:.1f} s (pid {sim.pid})")

    # the floor: page through every pod, 500 at a time, decoding nothing
    t0 = time.monotonic()
    cont, pages, total_bytes, count = "", 0, 0, 0
    while True:
        q = "limit=500" + (f"&continue={cont}" if cont else "")
        req = urllib.request.Request(f"{url}/api/v1/pods?{q}", headers={"Authorization": f"Bearer {token}"})
        body = urllib.request.urlopen(req, context=tls).read()
        total_bytes += len(body)
        doc = json.loads(body)
        count += len(doc["items"])
        pages += 1
        cont = doc["metadata"].get("continue", "")
        if not cont:
            break
    floor = time.monotonic() - t0
    print(f"paging all pods (limit=500): {count} pods, {pages} pages, {total_bytes/2**20:.0f} MiB in {floor:.1f} s "
          f"(this includes Python's JSON decoding)")

    def measure(argv):
        """Runs a client to completion; returns (seconds, peak RSS MiB, stdout)."""
        took, peak, out, status = run_child(argv)
        if status != 0:
            raise SystemExit(f"{argv[0]} failed with status {status}")
        return took, peak, out

    def measure_any(argv):
        """As measure, for a command whose exit code carries a verdict (preflight: 1 = blockers)."""
        took, peak, out, status = run_child(argv)
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"{argv[0]} failed with status {status}")
        return took, peak, out

    def run_child(argv):
        out_path = os.path.join(tmp, "stdout")
        with open(out_path, "wb") as sink:
            t0 = time.monotonic()
            child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            took = time.monotonic() - t0
        with open(out_path, "rb") as f:
            out = f.read()
        return took, usage.ru_maxrss / 1024, out, status

    for _ in range(args.runs):
        took, peak, out = measure([binary, "--log-file", os.path.join(tmp, "watch.log"), "watch", "--headless",
                                   "--until-synced", "--kubeconfig", kubeconfig, "--context", "viewer"])
        line = json.loads(out.decode().strip().splitlines()[-1])
        print(f"upshift watch --headless (viewer): model complete in {line['synced_after_ms']/1000:.1f} s "
              f"({took:.1f} s process), {line['pods_total']} pods and {line['nodes']['total']} nodes, "
              f"peak memory {peak:.0f} MiB")

    for _ in range(args.runs):
        took, peak, out = measure_any([binary, "--log-file", os.path.join(tmp, "preflight.log"), "preflight",
                                       "--kubeconfig", kubeconfig, "--context", "viewer", "--target", "1.31",
                                       "--format", "json"])
        doc = json.loads(out)
        print(f"upshift preflight --target 1.31 (viewer): {took:.1f} s, {len(doc['findings'])} findings "
              f"({doc['blockers']} blockers), peak memory {peak:.0f} MiB")

    kubectl = shutil.which("kubectl")
    if args.no_kubectl:
        print("kubectl: not measured (--no-kubectl)")
    elif kubectl:
        for _ in range(args.runs):
            took, peak, out = measure([kubectl, "--kubeconfig", kubeconfig, "--context", "viewer",
                                       "get", "pods", "-A", "-o", "json"])
            print(f"kubectl get pods -A -o json (viewer): {took:.1f} s, {len(out)/2**20:.0f} MiB of output, "
                  f"peak memory {peak:.0f} MiB")
    else:
        print("kubectl not found: skipped the kubectl measurement")
    print(f"simulator peak memory (VmHWM): {vm_hwm_mib(sim.pid):.0f} MiB")
    sim.send_signal(2)
    try:
        sim.wait(timeout=20)
    except subprocess.TimeoutExpired:
        sim.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
