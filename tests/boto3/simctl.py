"""Shared helpers for the boto3 scripts run by tests/sim_aws_boto3.rs against the
simulator's AWS endpoint: the simulator's own /sim/ endpoints (clock, lifecycle
action tokens, faults), and checks that fail with a message.

Every script reads its AWS settings from the environment only (the simulator's
upshift-sim.aws.env, sourced by the test) and takes --sim URL --ca PATH for /sim/."""

import argparse
import json
import ssl
import sys
import urllib.request

import botocore.exceptions


class Sim:
    def __init__(self, url, ca):
        self.url = url.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=ca)

    @staticmethod
    def from_args():
        p = argparse.ArgumentParser()
        p.add_argument("--sim", required=True)
        p.add_argument("--ca", required=True)
        a = p.parse_args()
        return Sim(a.sim, a.ca)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.ctx) as r:
            return json.loads(r.read())

    def advance(self, seconds):
        """Jumps virtual time forward."""
        return self.call("POST", f"/sim/clock?advance={seconds}")

    def now(self):
        import datetime

        now = self.call("GET", "/sim/clock")["now"]
        return datetime.datetime.fromisoformat(now.replace("Z", "+00:00"))

    def lifecycle_actions(self):
        return self.call("GET", "/sim/lifecycle-actions")


RAN = []


def ran(op):
    """Records an operation exercised (printed at the end)."""
    RAN.append(op)


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def expect_error(code, fn, *args, contains=None, **kwargs):
    """Calls fn and checks it fails with the AWS error `code` (and message text)."""
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"].get("Message", "")
        check(got == code, f"{fn.__name__}: expected error {code}, got {got}: {msg}")
        if contains:
            check(contains in msg, f"{fn.__name__}: error message {msg!r} lacks {contains!r}")
        return e
    check(False, f"{fn.__name__}: expected error {code}, but it succeeded")


def done(service):
    print(f"{service}: {len(set(RAN))} operations ok: {', '.join(sorted(set(RAN)))}")
