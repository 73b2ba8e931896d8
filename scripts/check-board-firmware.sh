#!/usr/bin/env bash
# CI build check: builds the no-model firmware for every board the firmware supports (the five
# real boards and the QEMU ones) with the environment the harness sets, and fails if any build
# fails. Prints each board's build time and sizes, then a summary.
#
#   scripts/check-board-firmware.sh            # all boards
#   scripts/check-board-firmware.sh rp-pico    # some boards
#
# CARGO_TARGET_DIR defaults to <repo>/target-fw (shared with scripts/build-board-firmware.sh).
# Needs the rustup targets thumbv6m-none-eabi, thumbv7em-none-eabihf, thumbv8m.main-none-eabihf.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# support[:target[:features]]; the QEMU boards of boards.yaml (mps2-an386 and mps2-an500 share
# `mps2`), the RTT console (`console: rtt`) on an M4F board and on the M0+, and MLPerf Tiny's
# energy mode (timestamp pin) on every real board.
all=(nucleo-l4r5zi stm32f746g-disco nucleo-h743zi nrf52840-dk rp-pico mps2 mps2:thumbv7m-none-eabi mps3-an547
     nucleo-l4r5zi::console-rtt rp-pico::console-rtt
     nucleo-l4r5zi::energy-mode stm32f746g-disco::energy-mode nucleo-h743zi::energy-mode nrf52840-dk::energy-mode rp-pico::energy-mode)
boards=("$@")
[[ ${#boards[@]} -eq 0 ]] && boards=("${all[@]}")

failed=()
start_all=$(date +%s)
for entry in "${boards[@]}"; do
  IFS=: read -r support target features <<<"$entry"
  t0=$(date +%s)
  if out=$(MCUBENCH_MODEL_BLOB= MCUBENCH_WORKLOAD= "$root/scripts/build-board-firmware.sh" "$support" "$target" "$features" 2>&1); then
    echo "ok   $entry ($(( $(date +%s) - t0 )) s): $(echo "$out" | tail -n 1 | awk '{print "text " $1 ", data " $2 ", bss " $3}')"
  else
    echo "FAIL $entry ($(( $(date +%s) - t0 )) s)"
    echo "$out" | grep -E "^(error|warning: unused)|-->|mcubench-firmware build error" | head -n 30 | sed 's/^/     /'
    failed+=("$entry")
  fi
done
echo "built ${#boards[@]} firmware(s) in $(( $(date +%s) - start_all )) s"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
