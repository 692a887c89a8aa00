#!/usr/bin/env python3
"""Benchmark: the simulator serving the `large` scenario (5,000 nodes, 150,000 pods).

Prints, from one run on this machine:
  - time to build the large world and start serving;
  - time to page through all pods with limit=500 (the floor any client pays);
  - time and peak memory of `kubectl get pods -A -o json` against it;
  - the simulator's peak memory (VmHWM).

Usage: python3 benches/kubectl_large.py [--skip-build] [--runs N]
Not a test: figures depend on the machine; nothing here asserts a threshold.
"""
import argparse
import base64
import json
import os
import re
import resource
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
    ap.add_argument("--runs", type=int, default=1, help="kubectl runs")
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

    kubectl = shutil.which("kubectl")
    if kubectl:
        for i in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.monotonic()
            with open(os.devnull, "w") as devnull:
                subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "pods", "-A", "-o", "json"],
                               stdout=devnull, check=True)
            took = time.monotonic() - t0
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            note = "" if peak > before else " (peak not above an earlier child's)"
            print(f"kubectl get pods -A -o json: {took:.1f} s, peak memory {peak/1024:.0f} MiB{note}")
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
