#!/usr/bin/env bash
# The fault suite's long form: tests/faults.rs with UPSHIFT_FAULTS_LONG=1 — the plan
# gains the managed group `system` (EKS's node group update), each fault runs three
# times with other seeds, and the kills are three times as many. Prints one line of
# figures per rollout (faults injected, kills, actions resolved in doubt, AWS writes
# and pods evicted, each compared with the fault-free run), then the totals.
#
#   benches/faults.sh            # every fault
#   benches/faults.sh killed     # only the tests whose name holds "killed"
set -euo pipefail
cd "$(dirname "$0")/.."
export UPSHIFT_FAULTS_LONG=1 AWS_EC2_METADATA_DISABLED=true
log=$(mktemp)
started=$SECONDS
set +e
nice -n 10 cargo test --release --test faults -- --nocapture --test-threads=2 "$@" 2>&1 | tee "$log" | grep -E '^faults:|^test |test result'
status=${PIPESTATUS[0]}
set -e
awk '/^faults:/ {
       runs++; for (i = 1; i <= NF; i++) {
         if ($i == "kills") kills += $(i + 1)
         if ($i == "doubt") resolved += $(i + 1)
         if ($i == "5xx" || $i == "replies" || $i == "delayed" || $i == "throttled") { v = $(i + 1); sub(/,/, "", v); injected += v }
       } }
     END { printf "faults: %d rollouts, %d faults injected, %d kills, %d actions resolved in doubt\n", runs, injected, kills, resolved }' "$log"
echo "faults: $((SECONDS - started)) s in all; every rollout's AWS writes and evictions compared with the fault-free run (a difference fails its test)"
rm -f "$log"
exit "$status"
