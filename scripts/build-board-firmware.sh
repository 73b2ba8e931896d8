#!/usr/bin/env bash
# Builds the firmware for one board support package with the environment the harness would set
# (harness/src/build/firmware.rs: MCUBENCH_SYSTICK_HZ, MCUBENCH_CPU, MCUBENCH_{FLASH,RAM}_*),
# from the values in boards.yaml / boards.real.yaml. Without a model (feature no-model) unless
# MCUBENCH_MODEL_BLOB and MCUBENCH_WORKLOAD are set.
#
#   scripts/build-board-firmware.sh <support> [<target>] [extra,features]
#   e.g. scripts/build-board-firmware.sh nucleo-l4r5zi
#        scripts/build-board-firmware.sh mps2 thumbv7em-none-eabihf
#
# CARGO_TARGET_DIR defaults to <repo>/target-fw. Prints the ELF path and its sizes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
support="${1:?usage: $0 <support> [<target>] [extra,features]}"
target="${2:-}"
extra="${3:-}"

# support -> default target, core (gcc name), SysTick clock, flash origin/size, RAM origin/size.
case "$support" in
  mps2)          t=thumbv7em-none-eabihf;     cpu=cortex-m4;     hz=25000000;  mem="0x0 0x400000 0x20000000 0x400000" ;;
  mps3-an547)    t=thumbv8m.main-none-eabihf; cpu=cortex-m55;    hz=32000000;  mem="0x0 0x80000 0x20000000 0x80000" ;;
  nucleo-l4r5zi) t=thumbv7em-none-eabihf;     cpu=cortex-m4;     hz=120000000; mem="0x08000000 0x200000 0x20000000 0xA0000" ;;
  stm32f746g-disco) t=thumbv7em-none-eabihf;  cpu=cortex-m7;     hz=216000000; mem="0x08000000 0x100000 0x20000000 0x50000" ;;
  nucleo-h743zi) t=thumbv7em-none-eabihf;     cpu=cortex-m7;     hz=400000000; mem="0x08000000 0x200000 0x24000000 0x80000" ;;
  nrf52840-dk)   t=thumbv7em-none-eabihf;     cpu=cortex-m4;     hz=64000000;  mem="0x0 0x100000 0x20000000 0x40000" ;;
  rp-pico)       t=thumbv6m-none-eabi;        cpu=cortex-m0plus; hz=125000000; mem="0x10000100 0x1FFF00 0x20000000 0x40000" ;;
  *) echo "unknown board support '$support'" >&2; exit 2 ;;
esac
target="${target:-$t}"
read -r fo fs ro rs <<<"$mem"

features="board-$support"
if [[ -z "${MCUBENCH_MODEL_BLOB:-}" ]]; then
  features="$features,no-model"
fi
[[ -n "$extra" ]] && features="$features,$extra"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-fw}"
export MCUBENCH_SYSTICK_HZ="${MCUBENCH_SYSTICK_HZ:-$hz}"
export MCUBENCH_CPU="${MCUBENCH_CPU:-$cpu}"
export MCUBENCH_FLASH_ORIGIN="${MCUBENCH_FLASH_ORIGIN:-$fo}" MCUBENCH_FLASH_SIZE="${MCUBENCH_FLASH_SIZE:-$fs}"
export MCUBENCH_RAM_ORIGIN="${MCUBENCH_RAM_ORIGIN:-$ro}" MCUBENCH_RAM_SIZE="${MCUBENCH_RAM_SIZE:-$rs}"

cd "$root/targets/firmware"
nice -n 10 cargo build --release --quiet --target "$target" --features "$features"
elf="$CARGO_TARGET_DIR/$target/release/mcubench-firmware"
echo "$support ($target, $features): $elf"
if command -v arm-none-eabi-size >/dev/null; then
  arm-none-eabi-size "$elf" | tail -n 1
fi
