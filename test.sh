#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then
# checks formatting and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")"

need_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The real control plane (tests/realkube): kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl and etcd built from their Go modules (docs/testing.md). The
# first build takes about ten minutes on 2 cores; Go's build cache makes later ones
# seconds. Built here, the realkube_* tests must run (REALKUBE_REQUIRED=1); when it
# cannot be built, they say SKIPPED with the reason.
realkube_bin=${CARGO_TARGET_DIR:-$PWD/target}/realkube/bin
for tool in openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || { need_root apt-get install -y -qq "$tool"; } >/dev/null 2>&1 \
    || echo "test.sh: $tool could not be installed; the real control plane cannot start without it"
done
if ! command -v go >/dev/null 2>&1; then
  echo "test.sh: Go is not installed; the real control plane cannot be built and the realkube tests will say SKIPPED"
else
  started=$SECONDS
  if tests/realkube/run.sh build; then
    echo "test.sh: real control plane ready in $((SECONDS - started)) s ($realkube_bin)"
    export REALKUBE_REQUIRED=1
  else
    echo "test.sh: could not build the real control plane (command: tests/realkube/run.sh build, error above); the realkube tests will say SKIPPED"
  fi
fi

# kubectl: the tests drive the simulator with it. Debian's own kubernetes-client is
# v1.20, too old to stand for today's kubectl, so only a packaged `kubectl` is used,
# or else the one just built with the real control plane.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "test.sh: kubectl not found; trying the package manager"
  { need_root apt-get update -qq && need_root apt-get install -y -qq kubectl; } >/dev/null 2>&1 || true
fi
if ! command -v kubectl >/dev/null 2>&1; then
  if [ -x "$realkube_bin/kubectl" ]; then
    echo "test.sh: using the kubectl built with the real control plane"
    export PATH="$realkube_bin:$PATH"
  else
    echo "test.sh: kubectl could not be installed; the kubectl tests will say SKIPPED"
  fi
fi

# tmux: to look at the cockpit as a person would (docs/testing.md)
if ! command -v tmux >/dev/null 2>&1; then
  { need_root apt-get install -y -qq tmux; } >/dev/null 2>&1 \
    || echo "test.sh: tmux could not be installed (only needed to drive the cockpit by hand)"
fi

# moto: an independent AWS emulator that tests/cloud_moto.rs and tests/sim_aws_moto.rs
# run against, on loopback; boto3: a third-party SDK that tests/sim_aws_boto3.rs runs
# against the simulated AWS.
if ! python3 -c "import moto.server, flask, boto3" >/dev/null 2>&1; then
  echo "test.sh: installing moto[server] and boto3 for the cloud tests"
  python3 -m pip install -q 'moto[server]==5.2.5' boto3 >/dev/null 2>&1 \
    || echo "test.sh: moto or boto3 could not be installed; the tests that need them will say SKIPPED"
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
for tool in fmt clippy; do
  cargo "$tool" --version >/dev/null 2>&1 || { echo "test.sh: cargo $tool is missing and rustup could not add it"; exit 1; }
done

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test --all-targets --no-fail-fast
