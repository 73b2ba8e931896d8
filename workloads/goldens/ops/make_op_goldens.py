#!/usr/bin/env python3
"""Build small int8 .tflite models that exercise single operators (PAD, PADV2,
MEAN, CONCATENATION, MUL, LOGISTIC, QUANTIZE) and combinations, and record the
outputs the TensorFlow Lite Micro Python interpreter computes for them.

The Rust tests (`workloads/tests/ops_goldens.rs`) import every model, run it
with each kernel set and compare every output byte against these goldens, so
they never need Python.

The flatbuffers are written with the TFLite schema's generated object API that
ships inside the `tflite-micro` package (`schema_py_generated`); no TensorFlow
is needed. Everything is deterministic: the models are fixed and the inputs
come from numpy.random.default_rng(seed), seeds 0-9, with the distributions of
`../make_goldens.py` (0-7 uniform int8, 8 normal around the zero point sd 16,
9 normal around 0 sd 32).

Usage (from the repo root):
    pip install --pre tflite-micro numpy
    python3 workloads/goldens/ops/make_op_goldens.py          # (re)write
    python3 workloads/goldens/ops/make_op_goldens.py --check  # compare only
"""

import argparse
import hashlib
import json
import os
import sys

import flatbuffers
import numpy as np
from tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
SEEDS = list(range(10))

INT8, INT32, FLOAT32 = fb.TensorType.INT8, fb.TensorType.INT32, fb.TensorType.FLOAT32
BO = fb.BuiltinOptions
BOP = fb.BuiltinOperator
ACT = fb.ActivationFunctionType


class ModelBuilder:
    """Accumulates tensors, buffers and operators of a single-subgraph model."""

    def __init__(self):
        self.tensors = []
        self.buffers = [fb.BufferT()]  # buffer 0: the conventional empty buffer
        self.ops = []
        self.codes = []

    def tensor(self, shape, ttype=INT8, scale=None, zp=None, data=None,
               name=None, qdim=0):
        t = fb.TensorT()
        t.shape = list(shape)
        t.type = ttype
        t.name = name or "t%d" % len(self.tensors)
        t.buffer = 0
        if scale is not None:
            q = fb.QuantizationParametersT()
            scales = scale if isinstance(scale, (list, tuple)) else [scale]
            zps = zp if isinstance(zp, (list, tuple)) else [zp or 0] * len(scales)
            q.scale = [float(np.float32(s)) for s in scales]
            q.zeroPoint = [int(z) for z in zps]
            q.quantizedDimension = qdim
            t.quantization = q
        if data is not None:
            b = fb.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            t.buffer = len(self.buffers)
            self.buffers.append(b)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, opt_type=0, opt=None):
        if code not in self.codes:
            self.codes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex = self.codes.index(code)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opt
        self.ops.append(o)

    def build(self, inputs, outputs):
        sg = fb.SubGraphT()
        sg.tensors, sg.operators = self.tensors, self.ops
        sg.inputs, sg.outputs = list(inputs), list(outputs)
        m = fb.ModelT()
        m.version = 3
        m.description = "mcubench op test"
        m.subgraphs = [sg]
        m.buffers = self.buffers
        m.operatorCodes = []
        for c in self.codes:
            oc = fb.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)
            oc.version = 1
            m.operatorCodes.append(oc)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def opts(cls, **fields):
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


def i32(values):
    return np.array(values, dtype="<i4")


def conv_weights(rng, oc, kh, kw, ic):
    w = rng.integers(-127, 128, size=(oc, kh, kw, ic), dtype=np.int8)
    scales = [0.002 + 0.001 * c for c in range(oc)]
    return w, scales


# ----- the models -----

def pad_basic():
    m = ModelBuilder()
    x = m.tensor([1, 5, 6, 3], scale=0.05, zp=-3)
    p = m.tensor([4, 2], INT32, data=i32([[0, 0], [1, 2], [2, 1], [0, 0]]))
    y = m.tensor([1, 8, 9, 3], scale=0.05, zp=-3)
    m.op(BOP.PAD, [x, p], [y], BO.PadOptions, fb.PadOptionsT())
    return m.build([x], [y])


def padv2_channels():
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 3], scale=0.1, zp=10)
    p = m.tensor([4, 2], INT32, data=i32([[0, 0], [0, 0], [1, 0], [1, 2]]))
    c = m.tensor([], scale=0.1, zp=10, data=np.array([17], dtype=np.int8))
    y = m.tensor([1, 4, 5, 6], scale=0.1, zp=10)
    m.op(BOP.PADV2, [x, p, c], [y], BO.PadV2Options, fb.PadV2OptionsT())
    return m.build([x], [y])


def pad_rank2():
    m = ModelBuilder()
    x = m.tensor([3, 7], scale=0.02, zp=-128)
    p = m.tensor([2, 2], INT32, data=i32([[2, 1], [0, 3]]))
    y = m.tensor([6, 10], scale=0.02, zp=-128)
    m.op(BOP.PAD, [x, p], [y], BO.PadOptions, fb.PadOptionsT())
    return m.build([x], [y])


def pad_mixed_quant():
    """Input and output quantization differ: TFLM copies the bytes unchanged, fills with the output zero point."""
    m = ModelBuilder()
    x = m.tensor([1, 3, 3, 2], scale=0.1, zp=3)
    p = m.tensor([4, 2], INT32, data=i32([[0, 0], [1, 1], [1, 1], [0, 0]]))
    y = m.tensor([1, 5, 5, 2], scale=0.2, zp=-7)
    m.op(BOP.PAD, [x, p], [y], BO.PadOptions, fb.PadOptionsT())
    return m.build([x], [y])


def conv_pad_mean():
    """CONV_2D 3x3 VALID -> PAD 1 on H and W -> MEAN keep_dims (TFLM's 4-D special case)."""
    rng = np.random.default_rng(1234)
    m = ModelBuilder()
    in_s, in_zp = 0.04, -5
    x = m.tensor([1, 8, 8, 4], scale=in_s, zp=in_zp)
    w, ws = conv_weights(rng, 6, 3, 3, 4)
    wt = m.tensor([6, 3, 3, 4], scale=ws, zp=[0] * 6, data=w, qdim=0)
    bias = rng.integers(-2000, 2000, size=6).astype("<i4")
    bt = m.tensor([6], INT32, scale=[in_s * s for s in ws], zp=[0] * 6, data=bias)
    c = m.tensor([1, 6, 6, 6], scale=0.09, zp=3)
    m.op(BOP.CONV_2D, [x, wt, bt], [c], BO.Conv2DOptions,
         opts(fb.Conv2DOptionsT, padding=fb.Padding.VALID, strideW=1, strideH=1,
              fusedActivationFunction=ACT.NONE, dilationWFactor=1, dilationHFactor=1))
    p = m.tensor([4, 2], INT32, data=i32([[0, 0], [1, 1], [1, 1], [0, 0]]))
    d = m.tensor([1, 8, 8, 6], scale=0.09, zp=3)
    m.op(BOP.PAD, [c, p], [d], BO.PadOptions, fb.PadOptionsT())
    ax = m.tensor([2], INT32, data=i32([1, 2]))
    y = m.tensor([1, 1, 1, 6], scale=0.03, zp=-7)
    m.op(BOP.MEAN, [d, ax], [y], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=True))
    return m.build([x], [y])


def mean_flat_requant():
    """keep_dims false, different quantization: QuantizedMeanOrSum."""
    m = ModelBuilder()
    x = m.tensor([1, 6, 5, 8], scale=0.07, zp=12)
    ax = m.tensor([2], INT32, data=i32([2, 1]))
    y = m.tensor([1, 8], scale=0.02, zp=-20)
    m.op(BOP.MEAN, [x, ax], [y], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=False))
    return m.build([x], [y])


def mean_flat_same_quant():
    """keep_dims false, same quantization: the truncating reference Mean."""
    m = ModelBuilder()
    x = m.tensor([2, 3, 7, 5], scale=0.05, zp=-9)
    ax = m.tensor([2], INT32, data=i32([1, 2]))
    y = m.tensor([2, 5], scale=0.05, zp=-9)
    m.op(BOP.MEAN, [x, ax], [y], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=False))
    return m.build([x], [y])


def mean_keep_negative_axes():
    """keep_dims true but axes [-3, -2]: TFLM skips its special case (raw axis values)."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 16], scale=0.1, zp=0)
    ax = m.tensor([2], INT32, data=i32([-3, -2]))
    y = m.tensor([1, 1, 1, 16], scale=0.015, zp=5)
    m.op(BOP.MEAN, [x, ax], [y], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=True))
    return m.build([x], [y])


def quantize_concat():
    """QUANTIZE and MUL into one quantization, then CONCATENATION on the last axis."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 3], scale=0.05, zp=-10)
    q = m.tensor([1, 4, 4, 3], scale=0.11, zp=25)
    m.op(BOP.QUANTIZE, [x], [q], BO.QuantizeOptions, fb.QuantizeOptionsT())
    sq = m.tensor([1, 4, 4, 3], scale=0.11, zp=25)
    m.op(BOP.MUL, [x, x], [sq], BO.MulOptions,
         opts(fb.MulOptionsT, fusedActivationFunction=ACT.NONE))
    y = m.tensor([1, 4, 4, 6], scale=0.11, zp=25)
    m.op(BOP.CONCATENATION, [q, sq], [y], BO.ConcatenationOptions,
         opts(fb.ConcatenationOptionsT, axis=-1, fusedActivationFunction=ACT.NONE))
    return m.build([x], [y])


def concat_axis1_const():
    m = ModelBuilder()
    x = m.tensor([1, 3, 4, 2], scale=0.1, zp=0)
    c = m.tensor([1, 2, 4, 2], scale=0.1, zp=0,
                 data=np.arange(-8, 8, dtype=np.int8).reshape(1, 2, 4, 2) * 7)
    y = m.tensor([1, 8, 4, 2], scale=0.1, zp=0)
    m.op(BOP.CONCATENATION, [x, c, x], [y], BO.ConcatenationOptions,
         opts(fb.ConcatenationOptionsT, axis=1, fusedActivationFunction=ACT.NONE))
    return m.build([x], [y])


def quantize_upscale():
    """int8 -> int8 QUANTIZE with effective scale > 1 (positive shift)."""
    m = ModelBuilder()
    x = m.tensor([1, 100], scale=0.2, zp=4)
    y = m.tensor([1, 100], scale=0.05, zp=-6)
    m.op(BOP.QUANTIZE, [x], [y], BO.QuantizeOptions, fb.QuantizeOptionsT())
    return m.build([x], [y])


def mul_same_shape():
    """MUL of the input and its requantized copy, fused RELU."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 3], scale=0.06, zp=-4)
    q = m.tensor([1, 4, 4, 3], scale=0.03, zp=9)
    m.op(BOP.QUANTIZE, [x], [q], BO.QuantizeOptions, fb.QuantizeOptionsT())
    y = m.tensor([1, 4, 4, 3], scale=0.12, zp=-30)
    m.op(BOP.MUL, [x, q], [y], BO.MulOptions,
         opts(fb.MulOptionsT, fusedActivationFunction=ACT.RELU))
    return m.build([x], [y])


def mul_broadcast():
    """MUL by a per-channel constant vector, then by a constant scalar with RELU6."""
    m = ModelBuilder()
    x = m.tensor([1, 3, 4, 8], scale=0.05, zp=2)
    v = m.tensor([8], scale=0.01, zp=-3,
                 data=np.array([-100, -50, -3, 0, 20, 60, 100, 127], dtype=np.int8))
    t = m.tensor([1, 3, 4, 8], scale=0.02, zp=0)
    m.op(BOP.MUL, [x, v], [t], BO.MulOptions,
         opts(fb.MulOptionsT, fusedActivationFunction=ACT.NONE))
    s = m.tensor([1], scale=0.02, zp=0, data=np.array([90], dtype=np.int8))
    y = m.tensor([1, 3, 4, 8], scale=0.03, zp=-128)
    m.op(BOP.MUL, [s, t], [y], BO.MulOptions,
         opts(fb.MulOptionsT, fusedActivationFunction=ACT.RELU6))
    return m.build([x], [y])


def logistic_wide():
    m = ModelBuilder()
    x = m.tensor([1, 128], scale=0.1, zp=5)
    y = m.tensor([1, 128], scale=1.0 / 256, zp=-128)
    m.op(BOP.LOGISTIC, [x], [y])
    return m.build([x], [y])


def logistic_narrow():
    m = ModelBuilder()
    x = m.tensor([2, 50], scale=0.02, zp=-20)
    y = m.tensor([2, 50], scale=1.0 / 256, zp=-128)
    m.op(BOP.LOGISTIC, [x], [y])
    return m.build([x], [y])


def mean_mul_logistic():
    """A squeeze-and-excitation style gate: MEAN -> LOGISTIC -> MUL (broadcast over H, W)."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 8], scale=0.05, zp=-1)
    ax = m.tensor([2], INT32, data=i32([1, 2]))
    a = m.tensor([1, 1, 1, 8], scale=0.02, zp=0)
    m.op(BOP.MEAN, [x, ax], [a], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=True))
    g = m.tensor([1, 1, 1, 8], scale=1.0 / 256, zp=-128)
    m.op(BOP.LOGISTIC, [a], [g])
    y = m.tensor([1, 4, 4, 8], scale=0.04, zp=-2)
    m.op(BOP.MUL, [x, g], [y], BO.MulOptions,
         opts(fb.MulOptionsT, fusedActivationFunction=ACT.NONE))
    return m.build([x], [y])


def mean_keep_same_quant():
    """keep_dims true, identical quantization, 7x7 window."""
    m = ModelBuilder()
    x = m.tensor([1, 7, 7, 6], scale=0.03, zp=-17)
    ax = m.tensor([2], INT32, data=i32([1, 2]))
    y = m.tensor([1, 1, 1, 6], scale=0.03, zp=-17)
    m.op(BOP.MEAN, [x, ax], [y], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=True))
    return m.build([x], [y])


def mean_large_window():
    """12x12 window (n = 144) and a scale ratio above 1 (positive requant shift)."""
    m = ModelBuilder()
    x = m.tensor([1, 12, 12, 2], scale=0.004, zp=-1)
    ax = m.tensor([2], INT32, data=i32([1, 2]))
    y = m.tensor([1, 2], scale=0.0005, zp=7)
    m.op(BOP.MEAN, [x, ax], [y], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=False))
    return m.build([x], [y])


def mul_broadcast_both():
    """Both operands broadcast: [1, 4, 1, 3] x constant [1, 1, 5, 3]."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 1, 3], scale=0.07, zp=-11)
    c = m.tensor([1, 1, 5, 3], scale=0.015, zp=6,
                 data=(np.arange(15, dtype=np.int16) * 17 - 120).astype(np.int8).reshape(1, 1, 5, 3))
    y = m.tensor([1, 4, 5, 3], scale=0.01, zp=1)
    m.op(BOP.MUL, [x, c], [y], BO.MulOptions,
         opts(fb.MulOptionsT, fusedActivationFunction=ACT.RELU_N1_TO_1))
    return m.build([x], [y])


def logistic_coarse():
    """Large input scale: most inputs lie beyond the saturation radius."""
    m = ModelBuilder()
    x = m.tensor([1, 96], scale=0.5, zp=-3)
    y = m.tensor([1, 96], scale=1.0 / 256, zp=-128)
    m.op(BOP.LOGISTIC, [x], [y])
    return m.build([x], [y])


MODELS = [
    ("pad_basic", pad_basic),
    ("padv2_channels", padv2_channels),
    ("pad_rank2", pad_rank2),
    ("pad_mixed_quant", pad_mixed_quant),
    ("conv_pad_mean", conv_pad_mean),
    ("mean_flat_requant", mean_flat_requant),
    ("mean_flat_same_quant", mean_flat_same_quant),
    ("mean_keep_negative_axes", mean_keep_negative_axes),
    ("quantize_concat", quantize_concat),
    ("concat_axis1_const", concat_axis1_const),
    ("quantize_upscale", quantize_upscale),
    ("mul_same_shape", mul_same_shape),
    ("mul_broadcast", mul_broadcast),
    ("logistic_wide", logistic_wide),
    ("logistic_narrow", logistic_narrow),
    ("mean_mul_logistic", mean_mul_logistic),
    ("mean_keep_same_quant", mean_keep_same_quant),
    ("mean_large_window", mean_large_window),
    ("mul_broadcast_both", mul_broadcast_both),
    ("logistic_coarse", logistic_coarse),
]


# ----- models the importer must reject (no goldens) -----

def bad_pad_dynamic_paddings():
    """PAD whose paddings tensor has no constant data (TFLM needs it constant in Prepare)."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 2], scale=0.1, zp=0)
    p = m.tensor([4, 2], INT32, name="runtime_paddings")
    y = m.tensor([1, 6, 6, 2], scale=0.1, zp=0)
    m.op(BOP.PAD, [x, p], [y], BO.PadOptions, fb.PadOptionsT())
    return m.build([x], [y])


def bad_quantize_float_input():
    """float32 model input QUANTIZE'd to int8 (float tensors are not supported)."""
    m = ModelBuilder()
    x = m.tensor([1, 8], FLOAT32)
    y = m.tensor([1, 8], scale=0.1, zp=0)
    m.op(BOP.QUANTIZE, [x], [y], BO.QuantizeOptions, fb.QuantizeOptionsT())
    return m.build([x], [y])


def bad_concat_mixed_quant():
    """CONCATENATION of differently quantized tensors (TFLM's Prepare rejects it too)."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 3], scale=0.05, zp=-10)
    q = m.tensor([1, 4, 4, 3], scale=0.11, zp=25)
    m.op(BOP.QUANTIZE, [x], [q], BO.QuantizeOptions, fb.QuantizeOptionsT())
    y = m.tensor([1, 4, 4, 6], scale=0.08, zp=3)
    m.op(BOP.CONCATENATION, [x, q], [y], BO.ConcatenationOptions,
         opts(fb.ConcatenationOptionsT, axis=-1, fusedActivationFunction=ACT.NONE))
    return m.build([x], [y])


def bad_mean_channel_axis():
    """MEAN over the channel axis (only H and W are supported)."""
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 8], scale=0.1, zp=0)
    ax = m.tensor([1], INT32, data=i32([3]))
    y = m.tensor([1, 4, 4, 1], scale=0.1, zp=0)
    m.op(BOP.MEAN, [x, ax], [y], BO.ReducerOptions, opts(fb.ReducerOptionsT, keepDims=True))
    return m.build([x], [y])


BAD_MODELS = [
    ("bad_mean_channel_axis", bad_mean_channel_axis),
    ("bad_concat_mixed_quant", bad_concat_mixed_quant),
    ("bad_pad_dynamic_paddings", bad_pad_dynamic_paddings),
    ("bad_quantize_float_input", bad_quantize_float_input),
]


def make_input(seed, shape, zero_point):
    rng = np.random.default_rng(seed)
    if seed <= 7:
        x = rng.integers(-128, 128, size=shape, dtype=np.int8)
    else:
        loc = float(zero_point) if seed == 8 else 0.0
        sd = 16.0 if seed == 8 else 32.0
        x = np.clip(np.rint(rng.normal(loc=loc, scale=sd, size=shape)), -128, 127).astype(np.int8)
    return np.ascontiguousarray(x, dtype=np.int8)


def generate(out_dir):
    """Writes every model, its goldens and manifest.json into out_dir."""
    manifest = {"generator": "make_op_goldens.py", "seeds": SEEDS, "models": {}, "reject": {}}
    for name, build in MODELS:
        model = build()
        with open(os.path.join(out_dir, name + ".tflite"), "wb") as f:
            f.write(model)
        interp = runtime.Interpreter.from_bytes(model, arena_size=64 * 1024)
        det_in = interp.get_input_details(0)
        det_out = interp.get_output_details(0)
        shape = [int(d) for d in det_in["shape"]]
        zp = int(det_in["quantization_parameters"]["zero_points"][0])
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        for seed in SEEDS:
            x = make_input(seed, shape, zp)
            interp.set_input(x, 0)
            interp.invoke()
            y = np.array(interp.get_output(0), copy=True).astype(np.int8)
            with open(os.path.join(d, "input_%d.bin" % seed), "wb") as f:
                f.write(x.tobytes())
            with open(os.path.join(d, "output_%d.bin" % seed), "wb") as f:
                f.write(y.tobytes())
        manifest["models"][name] = {
            "tflite_sha256": hashlib.sha256(model).hexdigest(),
            "input_shape": shape,
            "output_shape": [int(v) for v in det_out["shape"]],
            "doc": (build.__doc__ or "").strip(),
        }
    for name, build in BAD_MODELS:
        model = build()
        with open(os.path.join(out_dir, name + ".tflite"), "wb") as f:
            f.write(model)
        manifest["reject"][name] = (build.__doc__ or "").strip()
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp dir and compare with the committed files")
    args = ap.parse_args()
    if not args.check:
        generate(OUT_DIR)
        return 0
    import filecmp
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        bad = []
        for root, _, files in os.walk(tmp):
            for fn in files:
                rel = os.path.relpath(os.path.join(root, fn), tmp)
                if not filecmp.cmp(os.path.join(tmp, rel), os.path.join(OUT_DIR, rel), shallow=False):
                    bad.append(rel)
        if bad:
            print("differ:", *bad)
            return 1
    print("goldens up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
