#!/usr/bin/env bash
# Dogfooding: run mcubench's default suite on the emulated farm and gate it against the
# committed baseline ci/baselines/default.yaml with the rules in ci/gate.yaml.
#
#   ci/gate.sh              run the suite, gate it; exits with `mcubench gate`'s code
#                           (0 pass, 1 wrong outputs, 2 usage/config, 3 regression, 4 infrastructure)
#   ci/gate.sh --refresh    run the suite and save it as the new baseline (then commit the file)
#
# Extra arguments go to `mcubench run`. Outputs (MCUBENCH_GATE_OUT, default target/gate/):
# results.jsonl (this run only), gate.md (pull-request comment), junit.xml.
set -euo pipefail
cd "$(dirname "$0")/.."

refresh=0
if [ "${1:-}" = "--refresh" ]; then refresh=1; shift; fi
out=${MCUBENCH_GATE_OUT:-target/gate}
baseline=ci/baselines/default.yaml

scripts/setup.sh
cargo build --release -q -p mcubench
bin="${CARGO_TARGET_DIR:-target}/release/mcubench"

# A store of this run only: the gate must never judge an older run by mistake.
mkdir -p "$out"
rm -f "$out/results.jsonl" "$out/gate.md" "$out/junit.xml"
set +e
"$bin" run --store "$out/results.jsonl" "$@"
run_rc=$?
set -e
echo "ci/gate.sh: mcubench run exited $run_rc" >&2
# 2: bad usage or configuration, 130: interrupted -- nothing worth gating.
if [ "$run_rc" -eq 2 ] || [ "$run_rc" -eq 130 ]; then exit "$run_rc"; fi

if [ "$refresh" -eq 1 ]; then
  if [ "$run_rc" -ne 0 ]; then
    echo "ci/gate.sh: the run failed (exit $run_rc); not saving it as the baseline" >&2
    exit "$run_rc"
  fi
  "$bin" baseline save --store "$out/results.jsonl" --name default --out "$baseline"
  echo "ci/gate.sh: refreshed $baseline; review 'git diff $baseline' and commit it" >&2
  exit 0
fi

# A failed job (run exit 1) is classified by the gate: infrastructure (4) or wrong outputs (1).
exec "$bin" gate --baseline "$baseline" --rules ci/gate.yaml --store "$out/results.jsonl" \
  --markdown "$out/gate.md" --junit "$out/junit.xml"
