//! `.tflite` -> TinyMaix model (`.tmdl`, int8), without TensorFlow.
//!
//! The same job as TinyMaix's `tools/tflite2tmdl.py`, written against our own flatbuffer
//! reader ([`crate::tflite`]). The file layout is described in [`format`].
//!
//! # What maps how
//!
//! | TFLite | TinyMaix |
//! |---|---|
//! | CONV_2D | CONV2D (per-channel weight scales kept; weights `[cho][chi][kh][kw]`) |
//! | DEPTHWISE_CONV_2D | DWCONV2D (kernel > 1x1) |
//! | FULLY_CONNECTED, no activation, per-tensor weights | FC |
//! | FULLY_CONNECTED with RELU/RELU6 or per-channel weights | 1x1 CONV2D over a 1x1xN input (TinyMaix's FC has no activation and reads one weight scale) |
//! | AVERAGE_POOL_2D whose window is the whole input, MEAN over H,W | GAP |
//! | RESHAPE, SQUEEZE | RESHAPE (in place) |
//! | SOFTMAX | SOFTMAX (beta folded into its input scale) |
//! | ADD, no activation | ADD |
//! | ADD with RELU/RELU6 | ADD into a wider intermediate quantization, then an identity 1x1 CONV2D with the activation |
//!
//! Anything else (MAX_POOL_2D, windowed AVERAGE_POOL_2D, RELU_N1_TO_1/TANH activations,
//! dilation, 1x1 depthwise, broadcasting ADD, ...) is a [`ConvertError`].
//!
//! # What is approximated
//!
//! TinyMaix's int8 kernels requantize in float32: `out = (int8)(acc * in_s * w_s / out_s +
//! out_zp)`, truncating toward zero and without saturation (out-of-range values wrap through
//! the int8 cast), where TFLite uses fixed-point multipliers, rounds to nearest and clamps.
//! Outputs therefore differ from TFLite Micro's by about one unit in the last place per layer,
//! compounding through the network. [`Converted::approximations`] lists, per model, every
//! place where the converted model is not the TFLite model's arithmetic.
//!
//! The main buffer is planned here (liveness-based first fit, 8-byte aligned), not with
//! TinyMaix's ping-pong scheme: its runtime takes any per-layer offsets, and ping-pong plus
//! one "keep" buffer is not correct for graphs such as ResNet-8 where a tensor outlives the
//! next two layers without feeding an ADD.
pub mod format;

use std::collections::HashMap;

use crate::tflite::{self, builtin, tensor_type, Activation, FbError, Options, Padding, TfliteModel};
use format::{align8, LayerType, Wr};

/// Why a model cannot be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("corrupt or truncated .tflite file: {0}")]
    Parse(#[from] FbError),
    #[error("TinyMaix cannot run: {}", fmt_ops(.ops))]
    UnsupportedOps {
        /// (operator index, TFLite operator name) of every operator TinyMaix has no layer for.
        ops: Vec<(usize, String)>,
    },
    #[error("TinyMaix cannot run operator #{index} {op}: {reason}")]
    Unsupported { index: usize, op: String, reason: String },
    #[error("malformed or unsupported model: {0}")]
    Malformed(String),
}

impl ConvertError {
    /// A short cell text: `unsupported: OP, ...` / `unsupported: OP (reason)`.
    pub fn short(&self) -> String {
        match self {
            ConvertError::UnsupportedOps { ops } => {
                let mut names: Vec<&str> = Vec::new();
                for (_, n) in ops {
                    if !names.contains(&n.as_str()) {
                        names.push(n);
                    }
                }
                format!("unsupported: {}", names.join(", "))
            }
            ConvertError::Unsupported { op, reason, .. } => format!("unsupported: {op} ({reason})"),
            e => e.to_string(),
        }
    }
}

fn fmt_ops(ops: &[(usize, String)]) -> String {
    ops.iter().map(|(i, n)| format!("#{i} {n}")).collect::<Vec<_>>().join(", ")
}

/// The TFLite builtin operators the converter has a mapping for (some only with conditions,
/// see the module documentation).
pub const SUPPORTED_OPS: &[i32] = &[
    builtin::CONV_2D,
    builtin::DEPTHWISE_CONV_2D,
    builtin::FULLY_CONNECTED,
    builtin::AVERAGE_POOL_2D,
    builtin::MEAN,
    builtin::RESHAPE,
    SQUEEZE,
    builtin::SOFTMAX,
    builtin::ADD,
];
const SQUEEZE: i32 = 43;

/// Sizes of TinyMaix's static scratch buffers this model needs (`tm_port.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scratch {
    /// `TM_MAX_CSIZE`: most output channels of a convolution (float scale per channel).
    pub max_csize: usize,
    /// `TM_MAX_KSIZE`: largest kernel area (kh * kw).
    pub max_ksize: usize,
    /// `TM_MAX_KCSIZE`: largest im2col row (kernel area * input channels, or * output
    /// channels for depthwise).
    pub max_kcsize: usize,
}

/// One converted layer, for reports and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    pub ty: LayerType,
    /// Index of the TFLite operator it comes from.
    pub tflite_op: usize,
    pub tflite_name: String,
    /// Multiply-accumulates per inference of this layer (convolutions and FC).
    pub macs: u64,
}

/// Quantization of the model input or output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Io {
    pub len: usize,
    pub scale: f32,
    pub zero_point: i32,
}

/// A converted model.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The `.tmdl` file.
    pub bytes: Vec<u8>,
    /// Bytes of TinyMaix's main buffer (activations) the model needs.
    pub buf_size: usize,
    pub scratch: Scratch,
    pub layers: Vec<LayerInfo>,
    pub input: Io,
    pub output: Io,
    /// Multiply-accumulates per inference, extra layers included.
    pub macs: u64,
    /// Where the converted model is not the TFLite model's arithmetic, one line each.
    pub approximations: Vec<String>,
}

/// Converts a `.tflite` flatbuffer (int8, one subgraph, one input, one output).
pub fn convert_tflite(bytes: &[u8]) -> Result<Converted, ConvertError> {
    let model = TfliteModel::parse(bytes)?;
    Conv::new(&model)?.run()
}

// ---------------------------------------------------------------------------------------------

type Tid = usize;

#[derive(Debug, Clone)]
struct Tensor {
    bytes: usize,
    /// RESHAPE output: shares its input's memory.
    alias: Option<Tid>,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Conv { kw: u8, kh: u8, sw: u8, sh: u8, act: u16, pad: [u8; 4], dmul: u32, ws: Vec<f32>, w: Vec<i8>, b: Vec<i32> },
    Fc { ws: f32, w: Vec<i8>, b: Vec<i32> },
    Add { in1: Tid, s1: f32, zp1: i32 },
}

#[derive(Debug, Clone)]
struct Layer {
    ty: LayerType,
    input: Tid,
    output: Tid,
    in_dims: [u16; 4],
    out_dims: [u16; 4],
    in_q: (f32, i32),
    out_q: (f32, i32),
    body: Body,
    info: LayerInfo,
}

struct Conv<'m, 'a> {
    model: &'m TfliteModel<'a>,
    sg: &'m tflite::SubGraph,
    tensors: Vec<Tensor>,
    map: HashMap<usize, Tid>,
    layers: Vec<Layer>,
    notes: Vec<String>,
}

fn unsupported(index: usize, op: &str, reason: impl Into<String>) -> ConvertError {
    ConvertError::Unsupported { index, op: op.to_string(), reason: reason.into() }
}

fn act_code(a: Activation) -> Option<u16> {
    match a {
        Activation::None => Some(format::ACT_NONE),
        Activation::Relu => Some(format::ACT_RELU),
        Activation::Relu6 => Some(format::ACT_RELU6),
        _ => None,
    }
}

impl<'m, 'a> Conv<'m, 'a> {
    fn new(model: &'m TfliteModel<'a>) -> Result<Self, ConvertError> {
        if model.subgraphs.len() != 1 {
            return Err(ConvertError::Malformed(format!("{} subgraphs (1 supported)", model.subgraphs.len())));
        }
        let sg = &model.subgraphs[0];
        if sg.inputs.len() != 1 || sg.outputs.len() != 1 {
            return Err(ConvertError::Malformed(format!(
                "{} inputs and {} outputs (TinyMaix runs models with one of each)",
                sg.inputs.len(),
                sg.outputs.len()
            )));
        }
        let mut missing = Vec::new();
        for (i, op) in sg.operators.iter().enumerate() {
            let code = model
                .operator_codes
                .get(op.opcode_index as usize)
                .ok_or_else(|| ConvertError::Malformed(format!("operator {i} has a bad opcode index")))?;
            if !SUPPORTED_OPS.contains(&code.builtin) {
                let name = match (&code.custom_code, code.builtin) {
                    (Some(c), 32) => format!("CUSTOM({c})"),
                    _ => tflite::builtin_name(code.builtin),
                };
                missing.push((i, name));
            }
        }
        if !missing.is_empty() {
            return Err(ConvertError::UnsupportedOps { ops: missing });
        }
        if sg.operators.is_empty() {
            return Err(ConvertError::Malformed("the subgraph has no operators".into()));
        }
        Ok(Conv { model, sg, tensors: Vec::new(), map: HashMap::new(), layers: Vec::new(), notes: Vec::new() })
    }

    fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        if !self.notes.contains(&s) {
            self.notes.push(s);
        }
    }

    fn tensor(&self, idx: i32) -> Result<&'m tflite::Tensor, ConvertError> {
        usize::try_from(idx)
            .ok()
            .and_then(|i| self.sg.tensors.get(i))
            .ok_or_else(|| ConvertError::Malformed(format!("tensor index {idx} out of range")))
    }

    fn data(&self, idx: i32) -> Result<&'a [u8], ConvertError> {
        let t = self.tensor(idx)?;
        self.model
            .buffers
            .get(t.buffer as usize)
            .copied()
            .ok_or_else(|| ConvertError::Malformed(format!("tensor {idx} uses a missing buffer")))
    }

    /// Shape without the batch dimension (which must be 1).
    fn shape(&self, idx: i32) -> Result<Vec<usize>, ConvertError> {
        let t = self.tensor(idx)?;
        let s: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        if s.iter().any(|&d| d <= 0 || d > u16::MAX as i64) {
            return Err(ConvertError::Malformed(format!("tensor {idx} ({:?}) has shape {:?}", t.name, t.shape)));
        }
        match s.split_first() {
            Some((&1, rest)) if !rest.is_empty() => Ok(rest.iter().map(|&d| d as usize).collect()),
            _ => Err(ConvertError::Malformed(format!(
                "tensor {idx} ({:?}) has shape {:?}; TinyMaix needs a batch of 1 and rank 2 to 4",
                t.name, t.shape
            ))),
        }
    }

    fn dims(&self, idx: i32) -> Result<[u16; 4], ConvertError> {
        let s = self.shape(idx)?;
        if s.len() > 3 {
            return Err(ConvertError::Malformed(format!("tensor {idx} has rank {} (4 at most)", s.len() + 1)));
        }
        let mut d = [s.len() as u16, 1, 1, 1];
        for (k, &v) in s.iter().enumerate() {
            d[1 + 3 - s.len() + k] = v as u16;
        }
        Ok(d)
    }

    /// Per-tensor int8 quantization of an activation.
    fn q(&self, idx: i32) -> Result<(f32, i32), ConvertError> {
        let t = self.tensor(idx)?;
        if t.ttype != tensor_type::INT8 {
            return Err(ConvertError::Malformed(format!(
                "tensor {idx} ({:?}) is {}; TinyMaix's int8 mode needs int8 activations",
                t.name,
                tensor_type::name(t.ttype)
            )));
        }
        let (s, zp) = (t.scale(), t.zero_point());
        if !(s.is_finite() && s > 0.0) || !(-128..=127).contains(&zp) {
            return Err(ConvertError::Malformed(format!("tensor {idx} ({:?}) lacks int8 quantization", t.name)));
        }
        Ok((s, zp as i32))
    }

    fn new_tensor(&mut self, bytes: usize, alias: Option<Tid>) -> Tid {
        self.tensors.push(Tensor { bytes, alias });
        self.tensors.len() - 1
    }

    /// The converter's id of activation tensor `idx`, made on first use.
    fn act(&mut self, idx: i32, bytes: usize) -> Result<Tid, ConvertError> {
        if let Some(&t) = self.map.get(&(idx as usize)) {
            return Ok(t);
        }
        if !self.data(idx)?.is_empty() {
            return Err(ConvertError::Malformed(format!("tensor {idx} should be an activation but is constant")));
        }
        let t = self.new_tensor(bytes, None);
        self.map.insert(idx as usize, t);
        Ok(t)
    }

    fn existing(&self, idx: i32, i: usize, op: &str) -> Result<Tid, ConvertError> {
        self.map.get(&(idx as usize)).copied().ok_or_else(|| {
            unsupported(i, op, format!("input tensor {idx} is neither the model input nor computed before"))
        })
    }

    /// Int8 weights and their per-output-channel scales (`n_out` channels along `qdim`).
    fn weights(&self, idx: i32, n_out: usize, qdim: i32, i: usize, op: &str) -> Result<(&'a [u8], Vec<f32>), ConvertError> {
        let t = self.tensor(idx)?;
        if t.ttype != tensor_type::INT8 {
            return Err(unsupported(i, op, format!("{} weights (TinyMaix int8 needs int8)", tensor_type::name(t.ttype))));
        }
        let data = self.data(idx)?;
        let n: usize = t.shape.iter().map(|&d| d.max(0) as usize).product();
        if data.len() != n || n == 0 {
            return Err(ConvertError::Malformed(format!("weights of operator {i} have {} bytes for shape {:?}", data.len(), t.shape)));
        }
        let q = t.quantization.as_ref().ok_or_else(|| unsupported(i, op, "weights are not quantized"))?;
        if q.zero_point.iter().any(|&z| z != 0) {
            return Err(unsupported(i, op, "weights with a non-zero zero point (TinyMaix assumes symmetric weights)"));
        }
        let scales = match q.scale.len() {
            1 => vec![q.scale[0]; n_out],
            k if k == n_out && q.quantized_dimension == qdim => q.scale.clone(),
            k => return Err(unsupported(i, op, format!("{k} weight scales along dimension {} for {n_out} output channels", q.quantized_dimension))),
        };
        if scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(ConvertError::Malformed(format!("operator {i} has a non-positive weight scale")));
        }
        Ok((data, scales))
    }

    fn bias(&self, idx: i32, n: usize, i: usize, op: &str) -> Result<Vec<i32>, ConvertError> {
        if idx < 0 {
            return Ok(vec![0; n]);
        }
        let t = self.tensor(idx)?;
        if t.ttype != tensor_type::INT32 {
            return Err(unsupported(i, op, format!("{} bias (int32 needed)", tensor_type::name(t.ttype))));
        }
        let d = self.data(idx)?;
        if d.len() != 4 * n {
            return Err(ConvertError::Malformed(format!("bias of operator {i} has {} bytes, {n} channels", d.len())));
        }
        Ok(d.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn push(&mut self, l: Layer) {
        self.layers.push(l);
    }

    fn run(mut self) -> Result<Converted, ConvertError> {
        let sg = self.sg;
        let in_idx = sg.inputs[0];
        let out_idx = sg.outputs[0];
        let in_len: usize = self.shape(in_idx)?.iter().product();
        let input = self.act(in_idx, in_len)?;
        let in_q = self.q(in_idx)?;
        for (i, op) in sg.operators.iter().enumerate() {
            let code = self.model.operator_codes[op.opcode_index as usize].builtin;
            let name = tflite::builtin_name(code);
            if op.outputs.len() != 1 {
                return Err(unsupported(i, &name, format!("{} outputs", op.outputs.len())));
            }
            self.lower(i, &name, code, op)?;
        }
        let output = *self
            .map
            .get(&(out_idx as usize))
            .ok_or_else(|| ConvertError::Malformed("no operator writes the model output".into()))?;
        let out_q = self.q(out_idx)?;
        let out_len: usize = self.shape(out_idx)?.iter().product();
        if self.layers.last().map(|l| l.output) != Some(output) {
            return Err(ConvertError::Malformed("the model output is not written by the last operator".into()));
        }
        if self.layers[0].input != input {
            return Err(ConvertError::Malformed("the first operator does not read the model input".into()));
        }

        // ---- plan the main buffer ----
        let offsets = self.plan(input, output);
        let buf_size = self
            .tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| t.alias.is_none())
            .map(|(k, t)| offsets[k] + align8(t.bytes))
            .max()
            .unwrap_or(0);
        let root = |mut t: Tid, ts: &[Tensor]| {
            while let Some(a) = ts[t].alias {
                t = a;
            }
            t
        };

        // ---- write ----
        let mut w = Wr::default();
        w.b.extend_from_slice(b"MAIX");
        w.u8(format::MDL_INT8);
        w.u8(0); // out_deq: the firmware reads int8 outputs
        w.u16(1);
        w.u16(1);
        w.u16(self.layers.len() as u16);
        w.u32(buf_size as u32);
        w.u32(0); // sub_size
        w.dims(self.dims(in_idx)?);
        w.dims(self.dims(out_idx)?);
        w.b.extend_from_slice(&[0u8; 28]);
        debug_assert_eq!(w.b.len(), format::MODEL_HEADER_BYTES);
        let mut scratch = Scratch::default();
        let n_layers = self.layers.len();
        for (li, l) in self.layers.iter().enumerate() {
            let start = w.b.len();
            w.u16(l.ty as u16);
            w.u16((li + 1 == n_layers) as u16);
            w.u32(0); // size, patched below
            w.u32(offsets[root(l.input, &self.tensors)] as u32);
            w.u32(offsets[root(l.output, &self.tensors)] as u32);
            w.dims(l.in_dims);
            w.dims(l.out_dims);
            w.f32(l.in_q.0);
            w.i32(l.in_q.1);
            w.f32(l.out_q.0);
            w.i32(l.out_q.1);
            match &l.body {
                Body::None => {}
                Body::Conv { kw, kh, sw, sh, act, pad, dmul, ws, w: wt, b } => {
                    for v in [*kw, *kh, *sw, *sh, 1, 1] {
                        w.u8(v);
                    }
                    w.u16(*act);
                    for v in pad {
                        w.u8(*v);
                    }
                    w.u32(*dmul);
                    w.u32(0);
                    let ws_oft = format::LAYER_HEADER_BYTES + format::CONV_BODY_BYTES;
                    let w_oft = ws_oft + align8(4 * ws.len());
                    let b_oft = w_oft + align8(wt.len());
                    w.u32(ws_oft as u32);
                    w.u32(w_oft as u32);
                    w.u32(b_oft as u32);
                    ws.iter().for_each(|&s| w.f32(s));
                    w.pad8();
                    w.b.extend(wt.iter().map(|&v| v as u8));
                    w.pad8();
                    b.iter().for_each(|&v| w.i32(v));
                    let maxk = *kw as usize * *kh as usize;
                    let cho = l.out_dims[3] as usize;
                    scratch.max_csize = scratch.max_csize.max(cho);
                    scratch.max_ksize = scratch.max_ksize.max(maxk);
                    if maxk > 1 {
                        let rows = if *dmul > 0 { cho } else { l.in_dims[3] as usize };
                        scratch.max_kcsize = scratch.max_kcsize.max(maxk * rows);
                    }
                }
                Body::Fc { ws, w: wt, b } => {
                    let ws_oft = format::LAYER_HEADER_BYTES + format::FC_BODY_BYTES;
                    let w_oft = ws_oft + align8(4 * b.len());
                    let b_oft = w_oft + align8(wt.len());
                    w.u32(ws_oft as u32);
                    w.u32(w_oft as u32);
                    w.u32(b_oft as u32);
                    w.u32(0);
                    b.iter().for_each(|_| w.f32(*ws));
                    w.pad8();
                    w.b.extend(wt.iter().map(|&v| v as u8));
                    w.pad8();
                    b.iter().for_each(|&v| w.i32(v));
                }
                Body::Add { in1, s1, zp1 } => {
                    w.u32(offsets[root(*in1, &self.tensors)] as u32);
                    w.f32(*s1);
                    w.i32(*zp1);
                    w.u32(0);
                }
            }
            w.pad8();
            let size = (w.b.len() - start) as u32;
            w.b[start + 4..start + 8].copy_from_slice(&size.to_le_bytes());
        }
        let layers: Vec<LayerInfo> = self.layers.iter().map(|l| l.info.clone()).collect();
        let macs = layers.iter().map(|l| l.macs).sum();
        let bytes = w.b;
        // Our own reader must accept what we wrote.
        format::parse(&bytes).map_err(|e| ConvertError::Malformed(format!("converter bug: {e}")))?;
        Ok(Converted {
            bytes,
            buf_size,
            scratch,
            layers,
            input: Io { len: in_len, scale: in_q.0, zero_point: in_q.1 },
            output: Io { len: out_len, scale: out_q.0, zero_point: out_q.1 },
            macs,
            approximations: self.notes,
        })
    }

    /// Offsets in the main buffer: the model input at 0 (where `tm_load` puts it), the rest
    /// first-fit by decreasing size among tensors whose lifetimes overlap. A layer's output
    /// never shares memory with its inputs (TinyMaix's kernels are not in place), except
    /// RESHAPE, which aliases.
    fn plan(&self, input: Tid, output: Tid) -> Vec<usize> {
        let n = self.tensors.len();
        let root = |mut t: Tid| {
            while let Some(a) = self.tensors[t].alias {
                t = a;
            }
            t
        };
        let mut first = vec![usize::MAX; n];
        let mut last = vec![0usize; n];
        let mut size = vec![0usize; n];
        for t in 0..n {
            let r = root(t);
            size[r] = size[r].max(align8(self.tensors[t].bytes));
        }
        first[root(input)] = 0;
        for (i, l) in self.layers.iter().enumerate() {
            let mut uses = vec![l.input];
            if let Body::Add { in1, .. } = l.body {
                uses.push(in1);
            }
            for u in uses {
                let r = root(u);
                last[r] = last[r].max(i);
            }
            let r = root(l.output);
            first[r] = first[r].min(i);
            last[r] = last[r].max(i);
        }
        last[root(output)] = self.layers.len();
        let place = |order: &[Tid]| -> (usize, Vec<usize>) {
            let mut offsets = vec![0usize; n];
            let mut placed: Vec<Tid> = vec![root(input)];
            let mut end = size[root(input)];
            for &t in order {
                let mut clashes: Vec<(usize, usize)> = placed
                    .iter()
                    .filter(|&&p| first[p] <= last[t] && first[t] <= last[p])
                    .map(|&p| (offsets[p], offsets[p] + size[p]))
                    .collect();
                clashes.sort();
                let mut at = 0;
                for (s, e) in clashes {
                    if at + size[t] <= s {
                        break;
                    }
                    at = at.max(e);
                }
                offsets[t] = at;
                end = end.max(at + size[t]);
                placed.push(t);
            }
            (end, offsets)
        };
        // Two greedy orders (largest first; in order of creation), the smaller plan wins.
        let mut by_size: Vec<Tid> =
            (0..n).filter(|&t| self.tensors[t].alias.is_none() && t != root(input) && first[t] != usize::MAX).collect();
        let mut by_time = by_size.clone();
        by_size.sort_by_key(|&t| (std::cmp::Reverse(size[t]), first[t]));
        by_time.sort_by_key(|&t| (first[t], std::cmp::Reverse(size[t])));
        let (a, pa) = place(&by_size);
        let (b, pb) = place(&by_time);
        let mut best = if b < a { (b, pb) } else { (a, pa) };
        if let Some(pp) = self.ping_pong(input, &size, &root) {
            if pp.0 < best.0 {
                best = pp;
            }
        }
        let mut offsets = best.1;
        for t in 0..n {
            offsets[t] = offsets[root(t)];
        }
        offsets
    }

    /// TinyMaix's own plan for a chain of layers (each reading only the previous output):
    /// outputs alternate between the start and the end of a buffer of max(input + output)
    /// bytes. None for graphs that are not chains (ADD).
    fn ping_pong(&self, input: Tid, size: &[usize], root: &dyn Fn(Tid) -> Tid) -> Option<(usize, Vec<usize>)> {
        let mut prev = root(input);
        let mut end = size[prev];
        for l in &self.layers {
            if matches!(l.body, Body::Add { .. }) || root(l.input) != prev {
                return None;
            }
            if l.ty != LayerType::Reshape {
                end = end.max(size[root(l.input)] + size[root(l.output)]);
            }
            prev = root(l.output);
        }
        let mut offsets = vec![0usize; self.tensors.len()];
        for l in &self.layers {
            let (i, o) = (root(l.input), root(l.output));
            if i != o {
                offsets[o] = if offsets[i] == 0 { end - size[o] } else { 0 };
            }
        }
        Some((end, offsets))
    }

    fn lower(&mut self, i: usize, name: &str, code: i32, op: &tflite::Operator) -> Result<(), ConvertError> {
        let arg = |k: usize| op.inputs.get(k).copied().unwrap_or(-1);
        let out_idx = op.outputs[0];
        let info = |macs: u64| LayerInfo { ty: LayerType::Reshape, tflite_op: i, tflite_name: name.to_string(), macs };
        self.note(
            "requantization in float32 with truncation toward zero and no saturation (TinyMaix int8), \
             not TFLite's fixed-point multiply, round-to-nearest and clamp: outputs typically differ by 1 LSB per layer",
        );
        match code {
            builtin::CONV_2D | builtin::DEPTHWISE_CONV_2D => {
                let dw = code == builtin::DEPTHWISE_CONV_2D;
                let (padding, sw, sh, dmul_opt, act, dil_w, dil_h) = match op.options {
                    Options::Conv2D { padding, stride_w, stride_h, activation, dilation_w, dilation_h } => {
                        (padding, stride_w, stride_h, 0, activation, dilation_w, dilation_h)
                    }
                    Options::DepthwiseConv2D { padding, stride_w, stride_h, depth_multiplier, activation, dilation_w, dilation_h } => {
                        (padding, stride_w, stride_h, depth_multiplier, activation, dilation_w, dilation_h)
                    }
                    ref o => return Err(ConvertError::Malformed(format!("operator {i} ({name}) has options {o:?}"))),
                };
                if dil_w != 1 || dil_h != 1 {
                    return Err(unsupported(i, name, format!("dilation {dil_h}x{dil_w} (TinyMaix: 1 only)")));
                }
                let act = act_code(act).ok_or_else(|| unsupported(i, name, format!("fused activation {act:?} (TinyMaix int8: RELU, RELU6)")))?;
                let ins = self.shape(arg(0))?;
                let outs = self.shape(out_idx)?;
                if ins.len() != 3 || outs.len() != 3 {
                    return Err(ConvertError::Malformed(format!("operator {i} ({name}) is not 4-D")));
                }
                let (ih, iw, chi) = (ins[0], ins[1], ins[2]);
                let (oh, ow, cho) = (outs[0], outs[1], outs[2]);
                let ft = self.tensor(arg(1))?;
                let fs: Vec<usize> = ft.shape.iter().map(|&d| d.max(0) as usize).collect();
                if fs.len() != 4 {
                    return Err(ConvertError::Malformed(format!("operator {i} ({name}) has filter shape {:?}", ft.shape)));
                }
                let (kh, kw) = (fs[1], fs[2]);
                let (raw, ws) = self.weights(arg(1), cho, if dw { 3 } else { 0 }, i, name)?;
                let mut b = self.bias(arg(2), cho, i, name)?;
                let maxk = kh * kw;
                let (wt, dmul): (Vec<i8>, u32) = if dw {
                    if fs[0] != 1 || fs[3] != cho || cho % chi != 0 {
                        return Err(ConvertError::Malformed(format!("operator {i} ({name}) filter {:?} for {chi}->{cho} channels", fs)));
                    }
                    let dm = (cho / chi) as u32;
                    if dmul_opt > 0 && dmul_opt as u32 != dm {
                        return Err(ConvertError::Malformed(format!("operator {i} ({name}) depth_multiplier {dmul_opt} but {chi}->{cho} channels")));
                    }
                    if maxk == 1 {
                        return Err(unsupported(i, name, "1x1 depthwise kernel (TinyMaix's pointwise path has no depthwise mode)"));
                    }
                    let mut v = Vec::with_capacity(cho * maxk);
                    for c in 0..cho {
                        for k in 0..maxk {
                            v.push(raw[k * cho + c] as i8);
                        }
                    }
                    (v, dm)
                } else {
                    if fs[0] != cho || fs[3] != chi {
                        return Err(ConvertError::Malformed(format!("operator {i} ({name}) filter {:?} for {chi}->{cho} channels", fs)));
                    }
                    let mut v = Vec::with_capacity(cho * chi * maxk);
                    for o in 0..cho {
                        for c in 0..chi {
                            for k in 0..maxk {
                                v.push(raw[(o * maxk + k) * chi + c] as i8);
                            }
                        }
                    }
                    (v, 0)
                };
                if kh > 255 || kw > 255 || !(1..=255).contains(&sw) || !(1..=255).contains(&sh) {
                    return Err(unsupported(i, name, "kernel or stride above 255"));
                }
                let (sw, sh) = (sw as usize, sh as usize);
                let pad = match padding {
                    Padding::Valid => [0u8; 4],
                    Padding::Same => {
                        let hp = ((oh - 1) * sh + kh).saturating_sub(ih);
                        let wp = ((ow - 1) * sw + kw).saturating_sub(iw);
                        if hp > 255 || wp > 255 {
                            return Err(unsupported(i, name, "padding above 255"));
                        }
                        [(hp / 2) as u8, (hp - hp / 2) as u8, (wp / 2) as u8, (wp - wp / 2) as u8]
                    }
                    Padding::Unknown(p) => return Err(ConvertError::Malformed(format!("operator {i} ({name}) padding {p}"))),
                };
                let in_q = self.q(arg(0))?;
                let per_out = wt.len() / cho;
                for c in 0..cho {
                    let s: i64 = wt[c * per_out..(c + 1) * per_out].iter().map(|&v| v as i64).sum();
                    b[c] = (b[c] as i64 - in_q.1 as i64 * s).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                }
                let input = self.existing(arg(0), i, name)?;
                let output = self.act(out_idx, oh * ow * cho)?;
                let macs = (oh * ow * cho * maxk * if dw { 1 } else { chi }) as u64;
                let l = Layer {
                    ty: if dw { LayerType::DwConv2d } else { LayerType::Conv2d },
                    input,
                    output,
                    in_dims: self.dims(arg(0))?,
                    out_dims: self.dims(out_idx)?,
                    in_q,
                    out_q: self.q(out_idx)?,
                    body: Body::Conv { kw: kw as u8, kh: kh as u8, sw: sw as u8, sh: sh as u8, act, pad, dmul, ws, w: wt, b },
                    info: LayerInfo { ty: if dw { LayerType::DwConv2d } else { LayerType::Conv2d }, ..info(macs) },
                };
                self.push(l);
            }
            builtin::FULLY_CONNECTED => {
                let (act, wf) = match &op.options {
                    Options::FullyConnected { activation, weights_format, .. } => (*activation, *weights_format),
                    Options::None => (Activation::None, 0),
                    o => return Err(ConvertError::Malformed(format!("operator {i} ({name}) has options {o:?}"))),
                };
                if wf != 0 {
                    return Err(unsupported(i, name, "shuffled weights format"));
                }
                let actc = act_code(act).ok_or_else(|| unsupported(i, name, format!("fused activation {act:?} (TinyMaix int8: RELU, RELU6)")))?;
                let ft = self.tensor(arg(1))?;
                if ft.shape.len() != 2 {
                    return Err(ConvertError::Malformed(format!("operator {i} ({name}) weights shape {:?}", ft.shape)));
                }
                let (n_out, n_in) = (ft.shape[0].max(0) as usize, ft.shape[1].max(0) as usize);
                let in_len: usize = self.shape(arg(0))?.iter().product();
                let out_len: usize = self.shape(out_idx)?.iter().product();
                if in_len != n_in || out_len != n_out {
                    return Err(unsupported(i, name, format!("batch > 1 or shape mismatch ({in_len} -> {out_len} with {n_out}x{n_in} weights)")));
                }
                let (raw, ws) = self.weights(arg(1), n_out, 0, i, name)?;
                let mut b = self.bias(arg(2), n_out, i, name)?;
                let in_q = self.q(arg(0))?;
                let wt: Vec<i8> = raw.iter().map(|&v| v as i8).collect();
                for c in 0..n_out {
                    let s: i64 = wt[c * n_in..(c + 1) * n_in].iter().map(|&v| v as i64).sum();
                    b[c] = (b[c] as i64 - in_q.1 as i64 * s).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                }
                let per_channel = ws.iter().any(|&s| s != ws[0]);
                let input = self.existing(arg(0), i, name)?;
                let output = self.act(out_idx, n_out)?;
                let in_dims = [1, 1, 1, n_in as u16];
                let out_dims = [1, 1, 1, n_out as u16];
                let out_q = self.q(out_idx)?;
                let macs = (n_in * n_out) as u64;
                let (ty, body) = if actc == format::ACT_NONE && !per_channel {
                    (LayerType::Fc, Body::Fc { ws: ws[0], w: wt, b })
                } else {
                    self.note(format!(
                        "FULLY_CONNECTED with {} runs as a 1x1 CONV2D (TinyMaix's FC layer has no activation{})",
                        if actc == format::ACT_NONE { "per-channel weights" } else { "a fused activation" },
                        if per_channel { " and reads one weight scale" } else { "" }
                    ));
                    (LayerType::Conv2d, Body::Conv { kw: 1, kh: 1, sw: 1, sh: 1, act: actc, pad: [0; 4], dmul: 0, ws, w: wt, b })
                };
                self.push(Layer { ty, input, output, in_dims, out_dims, in_q, out_q, body, info: LayerInfo { ty, ..info(macs) } });
            }
            builtin::AVERAGE_POOL_2D | builtin::MEAN => {
                let ins = self.shape(arg(0))?;
                let outs = self.shape(out_idx)?;
                if ins.len() != 3 {
                    return Err(unsupported(i, name, "input is not 4-D"));
                }
                let global = match (&op.options, code) {
                    (Options::Pool2D { filter_w, filter_h, activation, .. }, builtin::AVERAGE_POOL_2D) => {
                        if *activation != Activation::None {
                            return Err(unsupported(i, name, format!("fused activation {activation:?} (TinyMaix GAP has none)")));
                        }
                        *filter_h as usize == ins[0] && *filter_w as usize == ins[1]
                    }
                    (_, builtin::MEAN) => {
                        let axes = self.data(arg(1))?;
                        let mut a: Vec<i32> = axes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                        a.sort();
                        a == [1, 2]
                    }
                    _ => false,
                };
                let out_len: usize = outs.iter().product();
                if !global || out_len != ins[2] {
                    return Err(unsupported(i, name, "window smaller than the input (TinyMaix has only global average pooling, GAP)"));
                }
                self.note(format!(
                    "{name} (global) runs as TinyMaix GAP: integer mean truncated toward zero, then float requantization \
                     (TFLite: rounded mean)"
                ));
                let input = self.existing(arg(0), i, name)?;
                let output = self.act(out_idx, out_len)?;
                let l = Layer {
                    ty: LayerType::Gap,
                    input,
                    output,
                    in_dims: self.dims(arg(0))?,
                    out_dims: [1, 1, 1, out_len as u16],
                    in_q: self.q(arg(0))?,
                    out_q: self.q(out_idx)?,
                    body: Body::None,
                    info: LayerInfo { ty: LayerType::Gap, ..info(0) },
                };
                self.push(l);
            }
            builtin::RESHAPE | SQUEEZE => {
                let in_q = self.q(arg(0))?;
                let out_q = self.q(out_idx)?;
                if in_q != out_q {
                    return Err(unsupported(i, name, "input and output quantization differ"));
                }
                let len: usize = self.shape(arg(0))?.iter().product();
                let out_len: usize = self.shape(out_idx)?.iter().product();
                if len != out_len {
                    return Err(ConvertError::Malformed(format!("operator {i} ({name}) changes the element count")));
                }
                let input = self.existing(arg(0), i, name)?;
                if self.map.contains_key(&(out_idx as usize)) {
                    return Err(ConvertError::Malformed(format!("tensor {out_idx} is written twice")));
                }
                let output = self.new_tensor(len, Some(input));
                self.map.insert(out_idx as usize, output);
                let l = Layer {
                    ty: LayerType::Reshape,
                    input,
                    output,
                    in_dims: self.dims(arg(0))?,
                    out_dims: self.dims(out_idx)?,
                    in_q,
                    out_q,
                    body: Body::None,
                    info: info(0),
                };
                self.push(l);
            }
            builtin::SOFTMAX => {
                let beta = match op.options {
                    Options::Softmax { beta } => beta,
                    _ => 1.0,
                };
                let ins = self.shape(arg(0))?;
                let c = *ins.last().unwrap_or(&1);
                if ins.iter().product::<usize>() != c {
                    return Err(unsupported(i, name, "softmax over more than one row (TinyMaix: 1-D only)"));
                }
                if !(beta.is_finite() && beta > 0.0) {
                    return Err(unsupported(i, name, format!("beta {beta}")));
                }
                let (s, zp) = self.q(arg(0))?;
                self.note(
                    "SOFTMAX in float32 with libm exp, then truncating quantization (TinyMaix), \
                     not TFLite's fixed-point softmax (beta folded into the input scale)",
                );
                let input = self.existing(arg(0), i, name)?;
                // TinyMaix's softmax writes float32 intermediates into its output.
                let output = self.act(out_idx, 4 * c)?;
                let l = Layer {
                    ty: LayerType::Softmax,
                    input,
                    output,
                    in_dims: [1, 1, 1, c as u16],
                    out_dims: [1, 1, 1, c as u16],
                    in_q: (s * beta, zp),
                    out_q: self.q(out_idx)?,
                    body: Body::None,
                    info: LayerInfo { ty: LayerType::Softmax, ..info(0) },
                };
                self.push(l);
            }
            builtin::ADD => {
                let act = match op.options {
                    Options::Add { activation } => activation,
                    _ => Activation::None,
                };
                let actc = act_code(act).ok_or_else(|| unsupported(i, name, format!("fused activation {act:?}")))?;
                let (a, b) = (arg(0), arg(1));
                let (sa, sb) = (self.shape(a)?, self.shape(b)?);
                if sa != sb || self.shape(out_idx)? != sa {
                    return Err(unsupported(i, name, format!("broadcasting {sa:?} + {sb:?} (TinyMaix: equal shapes only)")));
                }
                let n: usize = sa.iter().product();
                let (qa, qb, qo) = (self.q(a)?, self.q(b)?, self.q(out_idx)?);
                let ia = self.existing(a, i, name)?;
                let ib = self.existing(b, i, name)?;
                let dims = self.dims(a)?;
                self.note("ADD dequantizes, adds and requantizes in float32 (TinyMaix), not with TFLite's 20-bit fixed-point scaling");
                if actc == format::ACT_NONE {
                    let output = self.act(out_idx, n)?;
                    let l = Layer {
                        ty: LayerType::Add,
                        input: ia,
                        output,
                        in_dims: dims,
                        out_dims: dims,
                        in_q: qa,
                        out_q: qo,
                        body: Body::Add { in1: ib, s1: qb.0, zp1: qb.1 },
                        info: LayerInfo { ty: LayerType::Add, ..info(0) },
                    };
                    self.push(l);
                } else {
                    // TinyMaix's ADD has no activation and wraps instead of saturating, so it
                    // writes a quantization wide enough for every possible sum; an identity
                    // 1x1 CONV2D then applies the activation and requantizes to the output.
                    let lo = qa.0 as f64 * (-128 - qa.1) as f64 + qb.0 as f64 * (-128 - qb.1) as f64;
                    let hi = qa.0 as f64 * (127 - qa.1) as f64 + qb.0 as f64 * (127 - qb.1) as f64;
                    let s_mid = ((hi - lo) / 255.0 * 1.002) as f32;
                    let zp_mid = (-128.0 - lo / s_mid as f64).ceil();
                    let ok = s_mid > 0.0
                        && (-128.0..=127.0).contains(&zp_mid)
                        && lo / s_mid as f64 + zp_mid > -128.999
                        && hi / s_mid as f64 + zp_mid < 127.999;
                    if !ok {
                        return Err(unsupported(i, name, "no int8 quantization holds every sum"));
                    }
                    let zp_mid = zp_mid as i32;
                    self.note(format!(
                        "ADD with fused {act:?} (TinyMaix's ADD has no activation and wraps on overflow): ADD into an \
                         intermediate int8 quantization wide enough for every sum, then an identity 1x1 CONV2D with the \
                         activation requantizes to the output; the intermediate is up to {:.1}x coarser than the output \
                         and the extra layer costs C*C MACs per pixel",
                        s_mid / qo.0
                    ));
                    let mid = self.new_tensor(n, None);
                    self.push(Layer {
                        ty: LayerType::Add,
                        input: ia,
                        output: mid,
                        in_dims: dims,
                        out_dims: dims,
                        in_q: qa,
                        out_q: (s_mid, zp_mid),
                        body: Body::Add { in1: ib, s1: qb.0, zp1: qb.1 },
                        info: LayerInfo { ty: LayerType::Add, ..info(0) },
                    });
                    let c = *sa.last().unwrap_or(&1);
                    let mut w = vec![0i8; c * c];
                    for k in 0..c {
                        w[k * c + k] = 1;
                    }
                    let output = self.act(out_idx, n)?;
                    self.push(Layer {
                        ty: LayerType::Conv2d,
                        input: mid,
                        output,
                        in_dims: dims,
                        out_dims: dims,
                        in_q: (s_mid, zp_mid),
                        out_q: qo,
                        body: Body::Conv {
                            kw: 1,
                            kh: 1,
                            sw: 1,
                            sh: 1,
                            act: actc,
                            pad: [0; 4],
                            dmul: 0,
                            ws: vec![1.0; c],
                            w,
                            b: vec![-zp_mid; c],
                        },
                        info: LayerInfo { ty: LayerType::Conv2d, ..info((n * c) as u64) },
                    });
                }
            }
            _ => return Err(ConvertError::UnsupportedOps { ops: vec![(i, name.to_string())] }),
        }
        Ok(())
    }
}
