#!/usr/bin/env python3
"""Generate golden int8 input/output pairs for the MLPerf Tiny reference models
with the TensorFlow Lite Micro Python interpreter (PyPI package `tflite-micro`).

The Rust reference runtime must be bit exact with TFLM; its tests compare every
output byte against the files written here, so the tests never need Python.

Only numpy and tflite_micro are used. Output is fully deterministic: running
the script twice produces byte-identical files (including manifest.json).

Usage (from the repo root):
    pip install --pre tflite-micro numpy
    python3 workloads/goldens/make_goldens.py            # (re)write the goldens
    python3 workloads/goldens/make_goldens.py --check    # regenerate into a temp
                                                         # dir and compare
"""

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import struct
import sys
import tempfile

import numpy as np
import tflite_micro
from tflite_micro import runtime

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(SCRIPT_DIR))
DEFAULT_MODELS_DIR = os.path.normpath(
    os.path.join(REPO_ROOT, "..", "shared", "models", "mlperf-tiny"))

# model id -> .tflite file name (see SOURCES.md next to the models)
MODELS = [
    ("ad01", "ad_autoencoder_int8.tflite"),
    ("kws01", "kws_ds_cnn_int8.tflite"),
    ("vww01", "vww_mobilenet_v1_025_int8.tflite"),
    ("ic01", "ic_resnet8_int8.tflite"),
]

SEEDS = list(range(10))

# Documented input distributions (all drawn with numpy.random.default_rng(seed)).
DISTRIBUTIONS = {
    "uniform_full": (
        "seeds 0-7: rng.integers(-128, 128, size=shape, dtype=np.int8), i.e. "
        "uniform over the whole int8 range [-128, 127]"),
    "normal_zero_point_sd16": (
        "seed 8: q = clip(rint(rng.normal(loc=zero_point, scale=16.0, "
        "size=shape)), -128, 127).astype(int8): normal around the input "
        "zero point (real value 0.0), sd 16 LSB, clipped to int8"),
    "normal_mid_sd32": (
        "seed 9: q = clip(rint(rng.normal(loc=0.0, scale=32.0, size=shape)), "
        "-128, 127).astype(int8): normal around the middle of the int8 range "
        "(q = 0; for the image models zp=-128 this is mid-grey, u8 pixel 128), "
        "sd 32 LSB, clipped to int8"),
}


def distribution_for_seed(seed):
    if 0 <= seed <= 7:
        return "uniform_full"
    if seed == 8:
        return "normal_zero_point_sd16"
    if seed == 9:
        return "normal_mid_sd32"
    raise ValueError(seed)


def make_input(seed, shape, zero_point):
    rng = np.random.default_rng(seed)
    kind = distribution_for_seed(seed)
    if kind == "uniform_full":
        x = rng.integers(-128, 128, size=shape, dtype=np.int8)
    else:
        loc = float(zero_point) if kind == "normal_zero_point_sd16" else 0.0
        sd = 16.0 if kind == "normal_zero_point_sd16" else 32.0
        x = np.clip(np.rint(rng.normal(loc=loc, scale=sd, size=shape)),
                    -128, 127).astype(np.int8)
    return np.ascontiguousarray(x, dtype=np.int8)


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(path):
    with open(path, "rb") as f:
        return sha256_bytes(f.read())


@contextlib.contextmanager
def capture_fd2():
    """Redirect the process-level stderr (fd 2) to a temp file.

    TFLM's C++ side prints (MicroPrintf) straight to fd 2, bypassing
    sys.stderr, so a Python-level redirect would not catch it. Yields a list
    that receives the captured text when the block exits."""
    sys.stderr.flush()
    saved = os.dup(2)
    out = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def quant_params(details):
    q = details["quantization_parameters"]
    scales = [float(np.float32(s)) for s in q["scales"]]
    zps = [int(z) for z in q["zero_points"]]
    if len(scales) != 1 or len(zps) != 1:
        raise RuntimeError("expected per-tensor quantisation on model I/O")
    return {
        "shape": [int(d) for d in details["shape"]],
        "dtype": np.dtype(details["dtype"]).name,
        "scale": scales[0],
        "scale_f32_bits": "0x%08x" % struct.unpack(
            "<I", struct.pack("<f", scales[0]))[0],
        "zero_point": zps[0],
    }


def run_once(interp, x):
    """Set the input (every time: TFLM may reuse its arena bytes) and invoke."""
    interp.set_input(x, 0)
    interp.invoke()
    return np.array(interp.get_output(0), copy=True)


def reported_allocations(interp):
    """Parse RecordingMicroAllocator's report (the Python API has no
    arena_used_bytes(); print_allocations() is the only way to get it)."""
    with capture_fd2() as text:
        interp.print_allocations()
    text = text[0]
    figures = {}
    for key in ("total", "head", "tail"):
        m = re.search(r"Arena allocation %s (\d+) bytes" % key, text)
        if not m:
            raise RuntimeError("could not parse print_allocations():\n" + text)
        figures[key] = int(m.group(1))
    return figures


def arena_works(model_bytes, arena_size, inputs, expected):
    """True iff an interpreter with this arena size allocates, invokes and
    reproduces the golden outputs for all inputs."""
    with capture_fd2():  # swallow TFLM's allocation-failure messages
        try:
            interp = runtime.Interpreter.from_bytes(model_bytes,
                                                    arena_size=arena_size)
            for x, y in zip(inputs, expected):
                if not np.array_equal(run_once(interp, x), y):
                    return False
            return True
        except RuntimeError:
            return False


def min_arena(model_bytes, upper, inputs, expected):
    """Smallest arena_size (bytes) that works, by bisection."""
    hi = upper
    while not arena_works(model_bytes, hi, inputs, expected):
        hi *= 2
        if hi > 64 * 1024 * 1024:
            raise RuntimeError("no working arena size found")
    lo = 0  # invariant: lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if arena_works(model_bytes, mid, inputs, expected):
            hi = mid
        else:
            lo = mid
    return hi


def generate_model(model_id, tflite_name, models_dir, out_dir):
    model_path = os.path.join(models_dir, tflite_name)
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    default_arena = len(model_bytes) * 10  # the package's own default

    interp = runtime.Interpreter.from_bytes(model_bytes,
                                            arena_size=default_arena)
    inp = quant_params(interp.get_input_details(0))
    outp = quant_params(interp.get_output_details(0))
    if inp["dtype"] != "int8" or outp["dtype"] != "int8":
        raise RuntimeError("%s: expected int8 I/O" % model_id)

    mdir = os.path.join(out_dir, model_id)
    os.makedirs(mdir, exist_ok=True)
    inputs, outputs, files = [], [], []
    for seed in SEEDS:
        x = make_input(seed, inp["shape"], inp["zero_point"])
        y = run_once(interp, x)
        # Invoking again on the same (re-set) input must give the same bytes.
        y2 = run_once(interp, x)
        if not np.array_equal(y, y2):
            raise RuntimeError("%s seed %d: second invoke differs" %
                               (model_id, seed))
        if list(y.shape) != outp["shape"] or y.dtype != np.int8:
            raise RuntimeError("%s: unexpected output %s %s" %
                               (model_id, y.shape, y.dtype))
        inputs.append(x)
        outputs.append(y)
        for kind, arr in (("input", x), ("output", y)):
            name = "%s_%d.bin" % (kind, seed)
            data = np.ascontiguousarray(arr, dtype=np.int8).tobytes()
            with open(os.path.join(mdir, name), "wb") as f:
                f.write(data)
            files.append({
                "path": "%s/%s" % (model_id, name),
                "kind": kind,
                "seed": seed,
                "bytes": len(data),
                "sha256": sha256_bytes(data),
            })

    # Arena figures: what TFLM reports, then the real minimum by bisection.
    reported = reported_allocations(interp)
    del interp
    # A fresh interpreter running the seeds in reverse order must agree too
    # (no hidden state carried between invocations).
    fresh = runtime.Interpreter.from_bytes(model_bytes,
                                           arena_size=default_arena)
    for x, y in reversed(list(zip(inputs, outputs))):
        if not np.array_equal(run_once(fresh, x), y):
            raise RuntimeError("%s: fresh interpreter disagrees" % model_id)
    del fresh
    minimum = min_arena(model_bytes, reported["total"], inputs, outputs)

    return {
        "model_id": model_id,
        "tflite_file": tflite_name,
        "tflite_bytes": len(model_bytes),
        "tflite_sha256": sha256_bytes(model_bytes),
        "input": inp,
        "output": outp,
        "seeds": {str(s): distribution_for_seed(s) for s in SEEDS},
        "arena": {
            "arena_size_used_for_goldens": default_arena,
            "arena_size_used_for_goldens_note":
                "10 x model size, the tflite_micro package default",
            "reported_total_bytes": reported["total"],
            "reported_head_bytes": reported["head"],
            "reported_tail_bytes": reported["tail"],
            "reported_source": (
                "Interpreter.print_allocations() after invoke(): "
                "RecordingMicroAllocator 'Arena allocation total/head/tail' "
                "lines, captured from fd 2 and parsed (the Python API has no "
                "arena_used_bytes())"),
            "min_working_arena_size_bytes": minimum,
            "min_working_arena_size_source": (
                "bisection over the arena_size argument of "
                "Interpreter.from_bytes: smallest size at which construction "
                "(AllocateTensors) and invoke() succeed and every golden "
                "output is reproduced; size - 1 fails"),
            "caveat": (
                "host figures (%s, 64-bit pointers, "
                "interpreter config kAllocationRecording); a 32-bit MCU "
                "build has smaller structs, so its arena need differs"
                % platform.machine()),
        },
        "files": files,
    }


def generate(models_dir, out_dir):
    models = [generate_model(mid, name, models_dir, out_dir)
              for mid, name in MODELS]
    manifest = {
        "description": (
            "Golden int8 input/output tensors from the TensorFlow Lite Micro "
            "Python interpreter for the MLPerf Tiny reference models. *.bin "
            "files are raw int8 bytes of the tensor, row-major (C order) as "
            "laid out in the tensor, no header."),
        "generator": "workloads/goldens/make_goldens.py",
        "tflite_micro_version": importlib.metadata.version("tflite-micro"),
        "tflite_micro_build": tflite_micro.__version__,
        "numpy_version": np.__version__,
        "python_version": "%d.%d" % sys.version_info[:2],
        "input_distributions": DISTRIBUTIONS,
        "models": models,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w",
              encoding="utf-8", newline="\n") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    return manifest


def generated_paths(out_dir):
    paths = ["manifest.json"]
    for mid, _ in MODELS:
        for seed in SEEDS:
            paths += ["%s/input_%d.bin" % (mid, seed),
                      "%s/output_%d.bin" % (mid, seed)]
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", default=DEFAULT_MODELS_DIR,
                    help="folder with the four .tflite files "
                         "(default: <repo>/../shared/models/mlperf-tiny)")
    ap.add_argument("--out", default=SCRIPT_DIR,
                    help="output folder (default: this script's folder)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp dir and compare with --out "
                         "byte for byte instead of writing")
    args = ap.parse_args()

    if not args.check:
        manifest = generate(args.models_dir, args.out)
        for m in manifest["models"]:
            print("%-6s in %s out %s  arena reported %d, min working %d" % (
                m["model_id"], m["input"]["shape"], m["output"]["shape"],
                m["arena"]["reported_total_bytes"],
                m["arena"]["min_working_arena_size_bytes"]))
        print("wrote goldens to %s" % args.out)
        return 0

    tmp = tempfile.mkdtemp(prefix="goldens-check-")
    try:
        generate(args.models_dir, tmp)
        bad = []
        for p in generated_paths(tmp):
            a = os.path.join(tmp, p)
            b = os.path.join(args.out, p)
            if not os.path.exists(b) or sha256_file(a) != sha256_file(b):
                bad.append(p)
        if bad:
            print("MISMATCH: %s" % ", ".join(bad))
            return 1
        print("OK: %d files reproduced byte for byte" % len(
            generated_paths(tmp)))
        return 0
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
