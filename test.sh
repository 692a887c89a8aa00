#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then
# checks formatting and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")"

need_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# kubectl: the tests drive the simulator with it. Debian's own kubernetes-client is
# v1.20, too old to stand for today's kubectl, so only a packaged `kubectl` is used.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "test.sh: kubectl not found; trying the package manager"
  { need_root apt-get update -qq && need_root apt-get install -y -qq kubectl; } >/dev/null 2>&1 \
    || echo "test.sh: kubectl could not be installed; the kubectl tests will say SKIPPED"
fi

# moto: an independent AWS emulator that tests/cloud_moto.rs runs upshift's AWS
# client against, on loopback.
if ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
  echo "test.sh: installing moto[server] for the cloud tests"
  python3 -m pip install -q 'moto[server]==5.2.5' >/dev/null 2>&1 \
    || echo "test.sh: moto could not be installed; the moto tests will say SKIPPED"
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test --all-targets
