#!/usr/bin/env bash
# The test command (README, and .ci/run): installs what is missing, then runs every test —
# host unit tests, the protocol client against a scripted fake device, bit-exact runtime
# tests against the TFLite Micro goldens, and end-to-end runs on the emulated QEMU farm.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# One profile for everything (the main job uses --release too): nothing is built twice.
cargo test --release --workspace "$@"
# The counting plugin's own exact-count check (a tiny bare-metal program on QEMU).
bash targets/qemu-plugin/selftest.sh
