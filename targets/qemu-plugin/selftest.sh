#!/usr/bin/env bash
# Self-test for the mcubench QEMU instruction-counting plugin.
#
# Builds the plugin, assembles tests/selftest.S (a bare-metal Thumb-2 program
# with known instruction counts between dbg #1 / dbg #2 markers), runs it in
# QEMU with the plugin and compares the plugin's output file byte for byte
# with the counts worked out by hand in tests/selftest.S.
#
# Needs: cargo, arm-none-eabi-gcc, qemu-system-arm >= 10.0.
# Usage: targets/qemu-plugin/selftest.sh [--no-build]
# Exit status: 0 if every check passed, 1 otherwise (2: missing tool).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugin="$here/target/release/libmcubench_qemu_plugin.so"
qemu="${QEMU:-qemu-system-arm}"
build=1
[[ "${1:-}" == "--no-build" ]] && build=0

for tool in arm-none-eabi-gcc "$qemu" timeout; do
    command -v "$tool" >/dev/null || { echo "selftest: missing tool: $tool" >&2; exit 2; }
done

if [[ $build == 1 ]]; then
    cargo build --quiet --release --manifest-path "$here/Cargo.toml"
    cargo test --quiet --manifest-path "$here/Cargo.toml" >/dev/null
fi
[[ -f "$plugin" ]] || { echo "selftest: plugin not built: $plugin" >&2; exit 2; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/mcubench-qemu-plugin-selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

expected="window 0 4000
window 1 6
window 2 unmatched
window 3 3
window 4 0
total 4027"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

assemble() { # cpu out
    arm-none-eabi-gcc -mcpu="$1" -mthumb -nostdlib -nostartfiles \
        -Wl,-Ttext=0x0 -Wl,-e,reset -o "$2" "$here/tests/selftest.S"
}

run() { # name machine elf extra-qemu-args...
    local name="$1" machine="$2" elf="$3"; shift 3
    local out="$tmp/$name.txt" rc=0
    timeout 30 "$qemu" -M "$machine" -display none -nodefaults \
        -semihosting-config enable=on,target=native "$@" -kernel "$elf" \
        -plugin "$plugin,outfile=$out" >"$tmp/$name.log" 2>&1 || rc=$?
    if [[ $rc != 0 ]]; then
        fail "$name: qemu exited with $rc"; sed 's/^/    /' "$tmp/$name.log" >&2; return
    fi
    if [[ "$(cat "$out")" != "$expected" ]]; then
        fail "$name: unexpected plugin output"
        diff <(echo "$expected") "$out" | sed 's/^/    /' >&2 || true
        return
    fi
    echo "ok: $name"
}

assemble cortex-m4 "$tmp/m4.elf"
run an386-icount-1 mps2-an386 "$tmp/m4.elf" -icount shift=0
run an386-icount-2 mps2-an386 "$tmp/m4.elf" -icount shift=0
run an386-noicount mps2-an386 "$tmp/m4.elf"
if "$qemu" -M help | grep -q '^mps3-an547 '; then
    assemble cortex-m55 "$tmp/m55.elf"
    run an547-icount mps3-an547 "$tmp/m55.elf" -icount shift=0
fi

# A missing outfile argument must stop QEMU with a clear message.
rc=0
timeout 30 "$qemu" -M mps2-an386 -display none -nodefaults -kernel "$tmp/m4.elf" \
    -plugin "$plugin" >"$tmp/noarg.log" 2>&1 || rc=$?
if [[ $rc == 0 ]] || ! grep -q "missing required argument 'outfile=PATH'" "$tmp/noarg.log"; then
    fail "missing outfile: expected failure with message, got rc=$rc"
    sed 's/^/    /' "$tmp/noarg.log" >&2
else
    echo "ok: missing outfile rejected"
fi

if [[ $failures != 0 ]]; then
    echo "selftest: $failures check(s) failed" >&2
    exit 1
fi
echo "selftest: all checks passed"
