#!/usr/bin/env bash
# The test command (README, and .ci/run): installs what is missing, then runs every test —
# host unit tests, the protocol client against a scripted fake device, bit-exact runtime
# tests against the TFLite Micro goldens, end-to-end runs on the emulated QEMU farm, and a
# cross-compile of the real boards' firmware.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# One profile for everything (the main job uses --release too): nothing is built twice.
cargo test --release --workspace "$@"
# The counting plugin's own exact-count check (a tiny bare-metal program on QEMU).
bash targets/qemu-plugin/selftest.sh
# The firmware of every real board in boards.real.yaml cross-compiles (about 2 min clean).
scripts/check-board-firmware.sh
