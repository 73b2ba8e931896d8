#!/usr/bin/env python3
"""Per-op instruction profile of a reference-runtime firmware on QEMU.

Build a firmware with the `profile-ops` feature (one dbg #1/#2 window per op), e.g.

    MCUBENCH_FIRMWARE_FEATURES=profile-ops mcubench run -w vww01 --board mps2-an386 \
        --golden-checks 0 --windows 1 --runs 1     # builds it (its counts are meaningless)

then run it here with the counting plugin:

    scripts/profile-ops.py --elf .mcubench/firmware/<key>/firmware.elf \
        --machine mps2-an386 --plugin .mcubench/target/qemu-plugin/release/libmcubench_qemu_plugin.so \
        --input-bytes 27648

It uploads a seeded random input, runs `infer 1 0` and prints each op's exact instruction
count, in the order of the model's operators (the .tflite's execution order).
"""
import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--machine", default="mps2-an386")
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--input-bytes", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        counts = os.path.join(tmp, "counts.txt")
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        qemu = subprocess.Popen(
            ["qemu-system-arm", "-M", args.machine, "-display", "none", "-monitor", "none", "-nodefaults",
             "-nic", "none", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
             "-kernel", args.elf, "-chardev", f"socket,id=uart0,host=127.0.0.1,port={port},server=off",
             "-serial", "chardev:uart0", "-plugin", f"{args.plugin},outfile={counts}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            srv.settimeout(10)
            conn, _ = srv.accept()
            conn.settimeout(120)
            buf = b""

            def until_ready():
                nonlocal buf
                while b"m-ready" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        sys.exit("device closed the UART")
                    buf += chunk
                text, _, buf = buf.partition(b"m-ready")
                return text.decode(errors="replace")

            until_ready()
            rng = random.Random(args.seed)
            data = bytes(rng.randrange(256) for _ in range(args.input_bytes))
            conn.sendall(f"db load {len(data)}%".encode())
            until_ready()
            for i in range(0, len(data), 36):
                conn.sendall(b"db " + data[i:i + 36].hex().encode() + b"%")
                until_ready()
            conn.sendall(b"infer 1 0%")
            reply = until_ready()
            if "e-" in reply:
                sys.exit(f"device error: {reply}")
            time.sleep(0.2)
        finally:
            qemu.kill()
            qemu.wait()
        total = 0
        for line in open(counts):
            parts = line.split()
            if len(parts) == 3 and parts[0] == "window" and parts[2].isdigit():
                n = int(parts[2])
                total += n
                print(f"op {parts[1]:>3} {n:>12,}")
        print(f"sum    {total:>12,}")


if __name__ == "__main__":
    main()
