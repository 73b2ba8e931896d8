#!/usr/bin/env bash
# Installs what mcubench needs on a Debian (bookworm) machine, and says plainly what is missing
# when it cannot. Safe to run again: every step checks first and skips what is already there.
#
#   scripts/setup.sh            # host toolchain, firmware targets, QEMU 10, arm-none-eabi-gcc
#   scripts/setup.sh --goldens  # also the Python TFLite Micro interpreter (only to remake goldens)
#   scripts/setup.sh --with-probe-rs-cli  # also the probe-rs CLI with `remote` (probes on other
#                                         # hosts, probe.remote; a long build: ~10-15 min on 2 cores)
set -euo pipefail

want_goldens=0
want_probe_cli=0
for arg in "$@"; do
  case "$arg" in
    --goldens) want_goldens=1 ;;
    --with-probe-rs-cli) want_probe_cli=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
missing=()

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="__none__"; fi
fi

apt_install() {
  # apt_install [-t SUITE] PKG...: installs the packages that are not installed yet.
  local suite=()
  if [ "${1:-}" = "-t" ]; then suite=(-t "$2"); shift 2; fi
  local need=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$SUDO" = "__none__" ] || ! command -v apt-get >/dev/null 2>&1; then
    missing+=("${need[@]} (install with apt-get as root)"); return 0
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    say "apt-get update"; $SUDO apt-get update -qq; APT_UPDATED=1
  fi
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${suite[@]}" "${need[@]}" >/dev/null \
    || missing+=("${need[*]} (apt-get install failed)")
}

ensure_backports() {
  # QEMU 7.2 (bookworm) cannot load TCG plugins of API v2+; bookworm-backports has 10.0.
  if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then return 0; fi
  [ "$SUDO" = "__none__" ] && { missing+=("apt source bookworm-backports"); return 0; }
  say "adding the bookworm-backports apt source (for qemu-system-arm 10.0)"
  local uri keyring
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  keyring=$(awk '/^Signed-By:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  uri=${uri:-http://deb.debian.org/debian}
  keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$uri" "$keyring" \
    | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  unset APT_UPDATED
}

qemu_major() { qemu-system-arm --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -1; }

# 1. Rust toolchain and firmware targets (rustup does not add targets by itself here).
if ! command -v rustup >/dev/null 2>&1; then
  missing+=("rustup (https://rustup.rs) with a stable toolchain")
else
  installed=$(rustup target list --installed)
  for t in thumbv7em-none-eabihf thumbv8m.main-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi; do
    grep -qx "$t" <<<"$installed" || { say "rustup target add $t"; rustup target add "$t" >/dev/null 2>&1 || missing+=("rust target $t"); }
  done
fi

# 2. QEMU >= 10 (instruction-counting plugin), the Arm GNU toolchain for C frameworks.
if [ "$(qemu_major || true)" = "" ] || [ "$(qemu_major)" -lt 10 ]; then
  ensure_backports
  apt_install -t bookworm-backports qemu-system-arm
fi
apt_install gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
apt_install chromium   # headless browser for the test that renders the HTML report

# 3. Optional: the TFLite Micro Python interpreter, only to regenerate the committed goldens.
if [ "$want_goldens" = 1 ]; then
  python3 -c 'import tflite_micro' 2>/dev/null || { say "pip install tflite-micro numpy"; python3 -m pip install -q tflite-micro numpy || missing+=("python package tflite-micro"); }
fi

# 4. Optional: the probe-rs CLI built with its `remote` feature, which mcubench runs for boards
# whose probe is on another host (boards.yaml probe.remote); `probe-rs serve` on that host.
if [ "$want_probe_cli" = 1 ]; then
  if probe-rs --help 2>/dev/null | grep -q -- '--host'; then :; else
    say "cargo install probe-rs-tools --locked --features remote (a long build)"
    cargo install -q probe-rs-tools@0.32.0 --locked --features remote || missing+=("probe-rs CLI with the remote feature (cargo install probe-rs-tools --locked --features remote failed)")
  fi
fi

# Report.
major=$(qemu_major || true)
if [ -z "$major" ]; then missing+=("qemu-system-arm"); elif [ "$major" -lt 10 ]; then missing+=("qemu-system-arm >= 10.0 (found $major.x)"); fi
command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing+=("arm-none-eabi-gcc")
if [ ${#missing[@]} -gt 0 ]; then
  say "MISSING:"; for m in "${missing[@]}"; do echo "  - $m" >&2; done
  exit 1
fi
say "ok: $(qemu-system-arm --version | head -1); $(arm-none-eabi-gcc --version | head -1); $(rustc --version)"
