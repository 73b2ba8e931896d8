//! Lowering a `.tflite` model to the mcubench blob ([`mcubench_runtime::format`]).
//!
//! The importer decodes the flatbuffer ([`crate::tflite`]), checks that every operator and
//! tensor type is supported (reporting *all* unsupported operators at once), precomputes the
//! requantization multipliers exactly as TFLite Micro's `Prepare` functions do, plans the
//! arena (liveness-based greedy packing; RESHAPE aliases its input) and writes the blob. The
//! blob is then validated by the runtime's own parser before it is returned.
use std::collections::HashMap;

use mcubench_runtime::fixedpoint::{quantize_multiplier, round_half_away_f32};
use mcubench_runtime::format::{self, builder::BlobBuilder, OpCode, OpRecord, TensorRecord};

use crate::tflite::{self, builtin, tensor_type, Activation, FbError, Options, TfliteModel};

/// Alignment of every activation tensor in the arena.
pub const ARENA_ALIGN: usize = 16;

/// Shape and quantization of the model's input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct IoInfo {
    pub shape: Vec<usize>,
    pub scale: f32,
    pub zero_point: i32,
}

impl IoInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A model lowered to the blob format.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    /// The blob (embed 16-byte aligned).
    pub blob: Vec<u8>,
    /// RAM the static arena plan needs.
    pub arena_bytes: usize,
    /// Bytes of constant data (weights, biases) in the blob.
    pub constant_bytes: usize,
    pub input: IoInfo,
    pub output: IoInfo,
    /// TFLite operator names, in execution order.
    pub ops: Vec<String>,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// CONV_2D output channels folded to a constant form (see [`crate::fold`]).
    pub folded_channels: usize,
}

impl ImportedModel {
    /// Checks the blob against a flash budget and the arena against a RAM budget (bytes).
    pub fn check_fits(&self, flash_budget: u64, ram_budget: u64) -> Result<(), ImportError> {
        let flash = self.blob.len() as u64;
        let ram = self.arena_bytes as u64;
        if flash > flash_budget || ram > ram_budget {
            return Err(ImportError::DoesNotFit { flash, flash_budget, ram, ram_budget });
        }
        Ok(())
    }
}

/// Why a model could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("corrupt or truncated .tflite file: {0}")]
    Parse(#[from] FbError),
    #[error("the model has {0} subgraphs; exactly 1 is supported")]
    Subgraphs(usize),
    #[error("the model has {0} inputs; exactly 1 is supported")]
    MultipleInputs(usize),
    #[error("the model has {0} outputs; exactly 1 is supported")]
    MultipleOutputs(usize),
    #[error("unsupported operators: {}", fmt_ops(.ops))]
    UnsupportedOps {
        /// (operator index, TFLite operator name) of every unsupported operator.
        ops: Vec<(usize, String)>,
    },
    #[error("tensor {index} ({name:?}) has unsupported type {ttype} ({role})")]
    UnsupportedTensorType { index: usize, name: String, ttype: String, role: &'static str },
    #[error("operator {index} ({op}): {reason}")]
    Unsupported { index: usize, op: String, reason: String },
    #[error("malformed model: {0}")]
    Malformed(String),
    #[error(
        "model does not fit: needs {flash} bytes of flash (budget {flash_budget}) and {ram} bytes of RAM for the arena (budget {ram_budget})"
    )]
    DoesNotFit { flash: u64, flash_budget: u64, ram: u64, ram_budget: u64 },
    #[error("importer produced an invalid blob (bug): {0}")]
    Internal(String),
}

fn fmt_ops(ops: &[(usize, String)]) -> String {
    ops.iter().map(|(i, n)| format!("#{i} {n}")).collect::<Vec<_>>().join(", ")
}

/// The TFLite builtin operators the importer lowers.
pub const SUPPORTED_OPS: &[i32] = &[
    builtin::FULLY_CONNECTED,
    builtin::CONV_2D,
    builtin::DEPTHWISE_CONV_2D,
    builtin::AVERAGE_POOL_2D,
    builtin::MAX_POOL_2D,
    builtin::RESHAPE,
    builtin::SOFTMAX,
    builtin::ADD,
    builtin::PAD,
    builtin::PADV2,
    builtin::MEAN,
    builtin::CONCATENATION,
    builtin::MUL,
    builtin::LOGISTIC,
    builtin::QUANTIZE,
];

/// Imports a `.tflite` flatbuffer. Never panics on any input.
pub fn import_tflite(bytes: &[u8]) -> Result<ImportedModel, ImportError> {
    let model = TfliteModel::parse(bytes)?;
    let mut imported = Lowering::new(&model)?.run()?;
    imported.folded_channels = crate::fold::fold_constant_channels(&mut imported.blob);
    Ok(imported)
}

struct Lowering<'m, 'a> {
    model: &'m TfliteModel<'a>,
    sg: &'m tflite::SubGraph,
    b: BlobBuilder,
    /// TFLite tensor index -> blob tensor index.
    map: HashMap<usize, u16>,
    /// Blob tensor index -> TFLite tensor index for activations.
    act_src: HashMap<u16, usize>,
    constant_bytes: usize,
}

fn err_op(index: usize, op: &str, reason: impl Into<String>) -> ImportError {
    ImportError::Unsupported { index, op: op.to_string(), reason: reason.into() }
}

/// TFLM `CalculateActivationRangeQuantized` for int8 (`Quantize` works in float32).
fn activation_range(act: Activation, scale: f32, zp: i32) -> Option<(i32, i32)> {
    let q = |f: f32| -> Option<i32> {
        let t = round_half_away_f32(f / scale);
        if !(t >= i32::MIN as f32 && t <= i32::MAX as f32) {
            return None;
        }
        Some(zp.saturating_add(t as i32))
    };
    let (lo, hi) = (-128i32, 127i32);
    match act {
        Activation::None => Some((lo, hi)),
        Activation::Relu => Some((lo.max(q(0.0)?), hi)),
        Activation::Relu6 => Some((lo.max(q(0.0)?), hi.min(q(6.0)?))),
        Activation::ReluN1To1 => Some((lo.max(q(-1.0)?), hi.min(q(1.0)?))),
        _ => None,
    }
}

impl<'m, 'a> Lowering<'m, 'a> {
    fn new(model: &'m TfliteModel<'a>) -> Result<Self, ImportError> {
        if model.subgraphs.len() != 1 {
            return Err(ImportError::Subgraphs(model.subgraphs.len()));
        }
        let sg = &model.subgraphs[0];
        if sg.inputs.len() != 1 {
            return Err(ImportError::MultipleInputs(sg.inputs.len()));
        }
        if sg.outputs.len() != 1 {
            return Err(ImportError::MultipleOutputs(sg.outputs.len()));
        }
        // Every unsupported operator, listed at once.
        let mut unsupported = Vec::new();
        for (i, op) in sg.operators.iter().enumerate() {
            let code = model.operator_codes.get(op.opcode_index as usize).ok_or_else(|| {
                ImportError::Malformed(format!(
                    "operator {i} uses opcode index {} but there are {} operator codes",
                    op.opcode_index,
                    model.operator_codes.len()
                ))
            })?;
            if !SUPPORTED_OPS.contains(&code.builtin) {
                let name = match (&code.custom_code, code.builtin) {
                    (Some(c), 32) => format!("CUSTOM({c})"),
                    _ => tflite::builtin_name(code.builtin),
                };
                unsupported.push((i, name));
            }
        }
        if !unsupported.is_empty() {
            return Err(ImportError::UnsupportedOps { ops: unsupported });
        }
        if sg.operators.is_empty() {
            return Err(ImportError::Malformed("the subgraph has no operators".into()));
        }
        if sg.operators.len() > u16::MAX as usize || sg.tensors.len() >= format::NO_TENSOR as usize {
            return Err(ImportError::Malformed("too many operators or tensors".into()));
        }
        Ok(Lowering {
            model,
            sg,
            b: BlobBuilder::new(),
            map: HashMap::new(),
            act_src: HashMap::new(),
            constant_bytes: 0,
        })
    }

    fn tensor(&self, idx: i32) -> Result<&'m tflite::Tensor, ImportError> {
        usize::try_from(idx).ok().and_then(|i| self.sg.tensors.get(i)).ok_or_else(|| {
            ImportError::Malformed(format!(
                "tensor index {idx} out of range ({} tensors)",
                self.sg.tensors.len()
            ))
        })
    }

    fn buffer(&self, t: &tflite::Tensor) -> Result<&'a [u8], ImportError> {
        self.model.buffers.get(t.buffer as usize).copied().ok_or_else(|| {
            ImportError::Malformed(format!(
                "tensor {:?} uses buffer {} but there are {} buffers",
                t.name,
                t.buffer,
                self.model.buffers.len()
            ))
        })
    }

    fn is_const(&self, idx: i32) -> Result<bool, ImportError> {
        let t = self.tensor(idx)?;
        Ok(!self.buffer(t)?.is_empty())
    }

    fn dims(&self, idx: i32) -> Result<([u32; 4], u8), ImportError> {
        let t = self.tensor(idx)?;
        let shape: &[i32] = if t.shape.is_empty() { &[1] } else { &t.shape };
        if shape.len() > 4 {
            return Err(ImportError::Malformed(format!(
                "tensor {idx} ({:?}) has rank {} (at most 4 supported)",
                t.name,
                shape.len()
            )));
        }
        let mut dims = [1u32; 4];
        for (k, &d) in shape.iter().enumerate() {
            if d <= 0 || d > (1 << 28) {
                return Err(ImportError::Malformed(format!(
                    "tensor {idx} ({:?}) has dimension {d}",
                    t.name
                )));
            }
            dims[k] = d as u32;
        }
        let n: u64 = dims.iter().map(|&d| d as u64).product();
        if n > (1 << 30) {
            return Err(ImportError::Malformed(format!("tensor {idx} ({:?}) is too large", t.name)));
        }
        Ok((dims, shape.len() as u8))
    }

    fn check_type(&self, idx: i32, want: i8, role: &'static str) -> Result<&'m tflite::Tensor, ImportError> {
        let t = self.tensor(idx)?;
        if t.ttype != want {
            return Err(ImportError::UnsupportedTensorType {
                index: idx as usize,
                name: t.name.clone(),
                ttype: tensor_type::name(t.ttype),
                role,
            });
        }
        Ok(t)
    }

    /// Per-tensor (scale, zero point) of a quantized int8 tensor.
    fn qparams(&self, idx: i32) -> Result<(f32, i32), ImportError> {
        let t = self.tensor(idx)?;
        let scale = t.scale();
        let zp = t.zero_point();
        if !(scale.is_finite() && scale > 0.0) || !(-128..=127).contains(&zp) {
            return Err(ImportError::Malformed(format!(
                "tensor {idx} ({:?}) lacks valid int8 quantization (scale {scale}, zero point {zp})",
                t.name
            )));
        }
        Ok((scale, zp as i32))
    }

    /// Blob index of activation tensor `idx` (int8), creating its record on first use.
    fn activation(&mut self, idx: i32) -> Result<u16, ImportError> {
        if let Some(&b) = self.map.get(&(idx as usize)) {
            return Ok(b);
        }
        if self.is_const(idx)? {
            return Err(ImportError::Malformed(format!("tensor {idx} should be an activation but has data")));
        }
        self.check_type(idx, tensor_type::INT8, "activation")?;
        let (scale, zp) = self.qparams(idx)?;
        let (dims, rank) = self.dims(idx)?;
        let n: u32 = dims.iter().product();
        let bi = self.b.push_tensor(TensorRecord {
            dtype: format::DTYPE_INT8,
            rank,
            storage: format::STORAGE_ARENA,
            dims,
            offset: 0,
            byte_len: n,
            scale,
            zero_point: zp,
        });
        self.map.insert(idx as usize, bi);
        self.act_src.insert(bi, idx as usize);
        Ok(bi)
    }

    /// Blob index of constant tensor `idx` of type `want`.
    fn constant(&mut self, idx: i32, want: i8, role: &'static str) -> Result<u16, ImportError> {
        if let Some(&b) = self.map.get(&(idx as usize)) {
            return Ok(b);
        }
        let t = self.check_type(idx, want, role)?;
        let data = self.buffer(t)?;
        let (dims, rank) = self.dims(idx)?;
        let esize = if want == tensor_type::INT32 { 4 } else { 1 };
        let n: usize = dims.iter().map(|&d| d as usize).product::<usize>() * esize;
        if data.len() != n {
            return Err(ImportError::Malformed(format!(
                "constant tensor {idx} ({:?}) has {} bytes of data, its shape needs {n}",
                t.name,
                data.len()
            )));
        }
        let off = self.b.push_data(data);
        self.constant_bytes += n;
        let bi = self.b.push_tensor(TensorRecord {
            dtype: if want == tensor_type::INT32 { format::DTYPE_INT32 } else { format::DTYPE_INT8 },
            rank,
            storage: format::STORAGE_CONST,
            dims,
            offset: off,
            byte_len: n as u32,
            scale: if t.scale().is_finite() { t.scale() } else { 0.0 },
            zero_point: t.zero_point().clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        });
        self.map.insert(idx as usize, bi);
        Ok(bi)
    }

    fn run(mut self) -> Result<ImportedModel, ImportError> {
        let sg = self.sg;
        let input_idx = sg.inputs[0];
        let output_idx = sg.outputs[0];
        self.check_quantize_types()?;
        let input = self.activation(input_idx)?;
        let mut ops = Vec::new();
        for (i, op) in sg.operators.iter().enumerate() {
            let code = self.model.operator_codes[op.opcode_index as usize].builtin;
            let name = tflite::builtin_name(code);
            ops.push(name.clone());
            let rec = self.lower_op(i, &name, code, op)?;
            self.b.ops.push(rec);
        }
        let output = self.map.get(&(output_idx as usize)).copied().ok_or_else(|| {
            ImportError::Malformed("no operator writes the model output".into())
        })?;
        self.b.input_tensor = input as u32;
        self.b.output_tensor = output as u32;
        self.plan()?;
        let blob = self.b.finish();
        let m = mcubench_runtime::Model::from_bytes(&blob).map_err(|e| ImportError::Internal(e.to_string()))?;
        let macs = m.macs();
        let io = |idx: i32| -> Result<IoInfo, ImportError> {
            let t = self.tensor(idx)?;
            let (scale, zp) = self.qparams(idx)?;
            Ok(IoInfo { shape: t.shape.iter().map(|&d| d.max(0) as usize).collect(), scale, zero_point: zp })
        };
        Ok(ImportedModel {
            arena_bytes: self.b.arena_bytes as usize,
            constant_bytes: self.constant_bytes,
            input: io(input_idx)?,
            output: io(output_idx)?,
            ops,
            macs,
            blob,
            folded_channels: 0,
        })
    }

    fn lower_op(&mut self, i: usize, name: &str, code: i32, op: &tflite::Operator) -> Result<OpRecord, ImportError> {
        use format::*;
        if op.outputs.len() != 1 {
            return Err(err_op(i, name, format!("{} outputs (1 supported)", op.outputs.len())));
        }
        let arg = |k: usize| -> i32 { op.inputs.get(k).copied().unwrap_or(-1) };
        let mut rec = OpRecord {
            opcode: 0,
            n_inputs: 0,
            n_outputs: 1,
            inputs: [NO_TENSOR; MAX_OP_INPUTS],
            output: 0,
            params: [0; NUM_PARAMS],
        };
        let out_idx = op.outputs[0];
        match code {
            builtin::FULLY_CONNECTED => {
                let (act, wf) = match &op.options {
                    Options::FullyConnected { activation, weights_format, .. } => (*activation, *weights_format),
                    Options::None => (Activation::None, 0),
                    o => return Err(err_op(i, name, format!("unexpected options {o:?}"))),
                };
                if wf != 0 {
                    return Err(err_op(i, name, "shuffled weights format"));
                }
                if op.inputs.len() < 2 {
                    return Err(err_op(i, name, "needs input and weights"));
                }
                let input = self.activation(arg(0))?;
                let filter = self.constant(arg(1), tensor_type::INT8, "weights")?;
                let bias = if arg(2) >= 0 { Some(self.constant(arg(2), tensor_type::INT32, "bias")?) } else { None };
                let output = self.activation(out_idx)?;
                let (in_s, in_zp) = self.qparams(arg(0))?;
                let (out_s, out_zp) = self.qparams(out_idx)?;
                let ft = self.tensor(arg(1))?;
                let fq = ft.quantization.clone().unwrap_or(tflite::Quantization {
                    scale: vec![],
                    zero_point: vec![],
                    quantized_dimension: 0,
                });
                if fq.scale.is_empty() {
                    return Err(err_op(i, name, "weights are not quantized"));
                }
                let out_depth = self.b.tensors[filter as usize].dims[0] as usize;
                let entries: Vec<(i32, i32)> = if fq.scale.len() > 1 {
                    if fq.scale.len() != out_depth {
                        return Err(err_op(i, name, "per-channel scale count != output depth"));
                    }
                    fq.scale
                        .iter()
                        .map(|&fs| {
                            quantize_multiplier(in_s as f64 * fs as f64 / out_s as f64)
                                .ok_or_else(|| err_op(i, name, "bad requant scale"))
                        })
                        .collect::<Result<_, _>>()?
                } else {
                    // TFLM GetQuantizedConvolutionMultipler: the scale product is taken in float.
                    let prod = (in_s * fq.scale[0]) as f64;
                    vec![quantize_multiplier(prod / out_s as f64).ok_or_else(|| err_op(i, name, "bad requant scale"))?]
                };
                let filter_zp = if fq.scale.len() > 1 { 0 } else { fq.zero_point.first().copied().unwrap_or(0) };
                if !(-128..=127).contains(&filter_zp) {
                    return Err(err_op(i, name, "weights zero point out of range"));
                }
                let (amin, amax) =
                    activation_range(act, out_s, out_zp).ok_or_else(|| err_op(i, name, format!("activation {act:?}")))?;
                rec.opcode = OpCode::FullyConnected as u8;
                rec.n_inputs = 3;
                rec.inputs[0] = input;
                rec.inputs[1] = filter;
                rec.inputs[2] = bias.unwrap_or(NO_TENSOR);
                rec.output = output;
                let p = &mut rec.params;
                p[P_ACT_MIN] = amin;
                p[P_ACT_MAX] = amax;
                p[P_INPUT_OFFSET] = -in_zp;
                p[P_FILTER_OFFSET] = -(filter_zp as i32);
                p[P_OUTPUT_OFFSET] = out_zp;
                p[P_QUANT_INDEX] = self.b.push_quant(&entries) as i32;
                p[P_QUANT_COUNT] = entries.len() as i32;
            }
            builtin::CONV_2D | builtin::DEPTHWISE_CONV_2D => {
                let dw = code == builtin::DEPTHWISE_CONV_2D;
                let (padding, sw, sh, act, dil_w, dil_h, dm) = match &op.options {
                    Options::Conv2D { padding, stride_w, stride_h, activation, dilation_w, dilation_h } if !dw => {
                        (*padding, *stride_w, *stride_h, *activation, *dilation_w, *dilation_h, 1)
                    }
                    Options::DepthwiseConv2D {
                        padding,
                        stride_w,
                        stride_h,
                        depth_multiplier,
                        activation,
                        dilation_w,
                        dilation_h,
                    } if dw => (*padding, *stride_w, *stride_h, *activation, *dilation_w, *dilation_h, *depth_multiplier),
                    o => return Err(err_op(i, name, format!("missing or unexpected options {o:?}"))),
                };
                if op.inputs.len() < 2 {
                    return Err(err_op(i, name, "needs input and filter"));
                }
                let input = self.activation(arg(0))?;
                let filter = self.constant(arg(1), tensor_type::INT8, "filter")?;
                let bias = if arg(2) >= 0 { Some(self.constant(arg(2), tensor_type::INT32, "bias")?) } else { None };
                let output = self.activation(out_idx)?;
                let (it, ft, ot) = (
                    self.b.tensors[input as usize],
                    self.b.tensors[filter as usize],
                    self.b.tensors[output as usize],
                );
                if it.rank != 4 || ft.rank != 4 || ot.rank != 4 {
                    return Err(err_op(i, name, "tensors must be rank 4 (NHWC)"));
                }
                let out_c = ot.dims[3] as usize;
                let (pad_h, pad_w) = self.padding(i, name, padding, [sh, sw], [dil_h, dil_w], &it, [ft.dims[1], ft.dims[2]], &ot)?;
                let (in_s, in_zp) = self.qparams(arg(0))?;
                let (out_s, out_zp) = self.qparams(out_idx)?;
                let entries = self.channel_multipliers(i, name, arg(1), in_s, out_s, out_c)?;
                let (amin, amax) =
                    activation_range(act, out_s, out_zp).ok_or_else(|| err_op(i, name, format!("activation {act:?}")))?;
                rec.opcode = if dw { OpCode::DepthwiseConv2d } else { OpCode::Conv2d } as u8;
                rec.n_inputs = 3;
                rec.inputs[0] = input;
                rec.inputs[1] = filter;
                rec.inputs[2] = bias.unwrap_or(NO_TENSOR);
                rec.output = output;
                let p = &mut rec.params;
                p[P_ACT_MIN] = amin;
                p[P_ACT_MAX] = amax;
                p[P_INPUT_OFFSET] = -in_zp;
                p[P_OUTPUT_OFFSET] = out_zp;
                p[P_QUANT_INDEX] = self.b.push_quant(&entries) as i32;
                p[P_QUANT_COUNT] = entries.len() as i32;
                p[P_STRIDE_W] = sw;
                p[P_STRIDE_H] = sh;
                p[P_DILATION_W] = dil_w;
                p[P_DILATION_H] = dil_h;
                p[P_PAD_W] = pad_w;
                p[P_PAD_H] = pad_h;
                if dw {
                    p[P_DEPTH_MULTIPLIER] = dm;
                }
            }
            builtin::AVERAGE_POOL_2D | builtin::MAX_POOL_2D => {
                let (padding, sw, sh, fw, fh, act) = match &op.options {
                    Options::Pool2D { padding, stride_w, stride_h, filter_w, filter_h, activation } => {
                        (*padding, *stride_w, *stride_h, *filter_w, *filter_h, *activation)
                    }
                    o => return Err(err_op(i, name, format!("missing or unexpected options {o:?}"))),
                };
                let input = self.activation(arg(0))?;
                let output = self.activation(out_idx)?;
                let (it, ot) = (self.b.tensors[input as usize], self.b.tensors[output as usize]);
                if it.rank != 4 || ot.rank != 4 {
                    return Err(err_op(i, name, "tensors must be rank 4 (NHWC)"));
                }
                if fw < 1 || fh < 1 {
                    return Err(err_op(i, name, "bad filter size"));
                }
                let (pad_h, pad_w) =
                    self.padding(i, name, padding, [sh, sw], [1, 1], &it, [fh as u32, fw as u32], &ot)?;
                let (in_s, in_zp) = self.qparams(arg(0))?;
                let (out_s, out_zp) = self.qparams(out_idx)?;
                // TFLM requires identical input/output quantization for pooling.
                if (in_s - out_s).abs() as f64 > 1e-6 || in_zp != out_zp {
                    return Err(err_op(i, name, "input and output quantization differ"));
                }
                let (amin, amax) =
                    activation_range(act, out_s, out_zp).ok_or_else(|| err_op(i, name, format!("activation {act:?}")))?;
                rec.opcode = if code == builtin::AVERAGE_POOL_2D { OpCode::AveragePool2d } else { OpCode::MaxPool2d } as u8;
                rec.n_inputs = 1;
                rec.inputs[0] = input;
                rec.output = output;
                let p = &mut rec.params;
                p[P_ACT_MIN] = amin;
                p[P_ACT_MAX] = amax;
                p[P_STRIDE_W] = sw;
                p[P_STRIDE_H] = sh;
                p[P_PAD_W] = pad_w;
                p[P_PAD_H] = pad_h;
                p[P_FILTER_W] = fw;
                p[P_FILTER_H] = fh;
            }
            builtin::RESHAPE => {
                let input = self.activation(arg(0))?;
                let output = self.activation(out_idx)?;
                if self.b.tensors[input as usize].byte_len != self.b.tensors[output as usize].byte_len {
                    return Err(err_op(i, name, "element count changes"));
                }
                if self.qparams(arg(0))? != self.qparams(out_idx)? {
                    return Err(err_op(i, name, "input and output quantization differ"));
                }
                rec.opcode = OpCode::Reshape as u8;
                rec.n_inputs = 1;
                rec.inputs[0] = input;
                rec.output = output;
            }
            builtin::SOFTMAX => {
                let beta = match &op.options {
                    Options::Softmax { beta } => *beta,
                    o => return Err(err_op(i, name, format!("missing or unexpected options {o:?}"))),
                };
                let input = self.activation(arg(0))?;
                let output = self.activation(out_idx)?;
                let (in_s, _) = self.qparams(arg(0))?;
                let (out_s, out_zp) = self.qparams(out_idx)?;
                if out_zp != -128 || out_s != 1.0 / 256.0 {
                    return Err(err_op(i, name, "int8 output must have scale 1/256 and zero point -128"));
                }
                // TFLM PreprocessSoftmaxScaling with kScaledDiffIntegerBits = 5.
                let real = (beta as f64 * in_s as f64 * (1u64 << 26) as f64).min((1u64 << 31) as f64 - 1.0);
                let (mult, left_shift) = quantize_multiplier(real)
                    .filter(|(_, s)| (0..=31).contains(s))
                    .ok_or_else(|| err_op(i, name, format!("beta * input scale {real} out of range")))?;
                // CalculateInputRadius(5, left_shift, 31).
                let radius = (31.0 * (1u64 << 26) as f64 / (1u64 << left_shift) as f64).floor();
                rec.opcode = OpCode::Softmax as u8;
                rec.n_inputs = 1;
                rec.inputs[0] = input;
                rec.output = output;
                rec.params[P_SM_INPUT_MULTIPLIER] = mult;
                rec.params[P_SM_INPUT_LEFT_SHIFT] = left_shift;
                rec.params[P_SM_DIFF_MIN] = -(radius as i32);
            }
            builtin::ADD => {
                let act = match &op.options {
                    Options::Add { activation } => *activation,
                    Options::None => Activation::None,
                    o => return Err(err_op(i, name, format!("unexpected options {o:?}"))),
                };
                if op.inputs.len() != 2 {
                    return Err(err_op(i, name, "needs 2 inputs"));
                }
                let a = self.activation(arg(0))?;
                let b = self.activation(arg(1))?;
                let output = self.activation(out_idx)?;
                let (ta, tb, to) = (self.b.tensors[a as usize], self.b.tensors[b as usize], self.b.tensors[output as usize]);
                if ta.dims != to.dims || tb.dims != to.dims {
                    return Err(err_op(i, name, "broadcasting is not supported"));
                }
                let (s1, zp1) = self.qparams(arg(0))?;
                let (s2, zp2) = self.qparams(arg(1))?;
                let (so, zpo) = self.qparams(out_idx)?;
                let left_shift = 20;
                let twice_max = 2.0 * (s1.max(s2) as f64);
                let m = |real: f64| -> Result<(i32, i32), ImportError> {
                    // QuantizeMultiplierSmallerThanOneExp
                    quantize_multiplier(real)
                        .filter(|(_, s)| *s <= 0 && real < 1.0 && real > 0.0)
                        .ok_or_else(|| err_op(i, name, format!("multiplier {real} not in (0, 1)")))
                };
                let (m1, sh1) = m(s1 as f64 / twice_max)?;
                let (m2, sh2) = m(s2 as f64 / twice_max)?;
                let (mo, sho) = m(twice_max / ((1 << left_shift) as f64 * so as f64))?;
                let (amin, amax) =
                    activation_range(act, so, zpo).ok_or_else(|| err_op(i, name, format!("activation {act:?}")))?;
                rec.opcode = OpCode::Add as u8;
                rec.n_inputs = 2;
                rec.inputs[0] = a;
                rec.inputs[1] = b;
                rec.output = output;
                let p = &mut rec.params;
                p[P_ACT_MIN] = amin;
                p[P_ACT_MAX] = amax;
                p[P_ADD_INPUT1_OFFSET] = -zp1;
                p[P_ADD_INPUT2_OFFSET] = -zp2;
                p[P_ADD_OUTPUT_OFFSET] = zpo;
                p[P_ADD_LEFT_SHIFT] = left_shift;
                p[P_ADD_INPUT1_MULTIPLIER] = m1;
                p[P_ADD_INPUT1_SHIFT] = sh1;
                p[P_ADD_INPUT2_MULTIPLIER] = m2;
                p[P_ADD_INPUT2_SHIFT] = sh2;
                p[P_ADD_OUTPUT_MULTIPLIER] = mo;
                p[P_ADD_OUTPUT_SHIFT] = sho;
            }
            builtin::PAD | builtin::PADV2 => {
                if op.inputs.len() < 2 {
                    return Err(err_op(i, name, "needs input and paddings"));
                }
                let input = self.activation(arg(0))?;
                let output = self.activation(out_idx)?;
                let (it, ot) = (self.b.tensors[input as usize], self.b.tensors[output as usize]);
                let rank = it.rank as usize;
                // TFLM reads the paddings in Prepare: they must be constant int32 [rank, 2].
                let pads = self
                    .const_i32s(arg(1))?
                    .filter(|v| v.len() == 2 * rank)
                    .ok_or_else(|| err_op(i, name, format!("paddings tensor {} must be a constant int32 [{rank}, 2]", arg(1))))?;
                if ot.rank != it.rank {
                    return Err(err_op(i, name, "output rank differs from the input's"));
                }
                let (_, out_zp) = self.qparams(out_idx)?;
                let mut pad_value = out_zp;
                if code == builtin::PADV2 && arg(2) >= 0 {
                    // TFLM requires the constant to share the output's quantization.
                    let ct = self.check_type(arg(2), tensor_type::INT8, "PADV2 constant value")?;
                    let data = self.buffer(ct)?;
                    if data.len() != 1 {
                        return Err(err_op(i, name, "PADV2 constant value must be a constant int8 scalar"));
                    }
                    if self.qparams(arg(2))? != self.qparams(out_idx)? {
                        return Err(err_op(i, name, "PADV2 constant value and output quantization differ"));
                    }
                    pad_value = data[0] as i8 as i32;
                }
                rec.opcode = OpCode::Pad as u8;
                rec.n_inputs = 1;
                rec.inputs[0] = input;
                rec.output = output;
                rec.params[P_PAD_VALUE] = pad_value;
                for d in 0..rank {
                    let (before, after) = (pads[2 * d], pads[2 * d + 1]);
                    if before < 0 || after < 0 {
                        return Err(err_op(i, name, format!("negative padding {before}, {after} in dimension {d}")));
                    }
                    if it.dims[d] as i64 + before as i64 + after as i64 != ot.dims[d] as i64 {
                        return Err(err_op(i, name, format!("output dimension {d} is not input + paddings")));
                    }
                    rec.params[P_PAD_BEFORE + d] = before;
                    rec.params[P_PAD_AFTER + d] = after;
                }
            }
            builtin::MEAN => {
                let keep_dims = match &op.options {
                    Options::Reducer { keep_dims } => *keep_dims,
                    Options::None => false,
                    o => return Err(err_op(i, name, format!("unexpected options {o:?}"))),
                };
                if op.inputs.len() != 2 {
                    return Err(err_op(i, name, "needs input and axis"));
                }
                let input = self.activation(arg(0))?;
                let output = self.activation(out_idx)?;
                let it = self.b.tensors[input as usize];
                if it.rank != 4 {
                    return Err(err_op(i, name, "only rank-4 (NHWC) inputs are supported"));
                }
                let axes = self
                    .const_i32s(arg(1))?
                    .ok_or_else(|| err_op(i, name, format!("axis tensor {} must be a constant int32", arg(1))))?;
                let mut resolved: Vec<i32> = Vec::new();
                for &a in &axes {
                    let r = if a < 0 { a + 4 } else { a };
                    if !(0..4).contains(&r) {
                        return Err(err_op(i, name, format!("axis {a} out of range")));
                    }
                    if !resolved.contains(&r) {
                        resolved.push(r);
                    }
                }
                resolved.sort_unstable();
                if resolved != [1, 2] {
                    return Err(err_op(i, name, format!("only the mean over H and W (axes 1, 2) is supported, got {axes:?}")));
                }
                let ot = self.b.tensors[output as usize];
                let (n_, c_) = (it.dims[0], it.dims[3]);
                let expected: &[u32] = if keep_dims { &[n_, 1, 1, c_] } else { &[n_, c_] };
                if ot.dims[..ot.rank as usize] != *expected {
                    return Err(err_op(
                        i,
                        name,
                        format!("output shape {:?} is not {expected:?}", &ot.dims[..ot.rank as usize]),
                    ));
                }
                let (in_s, in_zp) = self.qparams(arg(0))?;
                let (out_s, out_zp) = self.qparams(out_idx)?;
                let (mult, shift) = quantize_multiplier(in_s as f64 / out_s as f64)
                    .filter(|(_, s)| (-31..=30).contains(s))
                    .ok_or_else(|| err_op(i, name, "input/output scale ratio out of range"))?;
                // TFLM's int8 MEAN is QuantizedMeanOrSum whatever keep_dims and the
                // quantization: 1/n folded into the multiplier, the shift clamped so that
                // the sum cannot overflow and the final shift stays >= -31.
                let n = it.dims[1] as i64 * it.dims[2] as i64;
                if n > 1 << 23 {
                    // Keeps the int32 sums of TFLM's kernel from overflowing.
                    return Err(err_op(i, name, format!("window of {n} elements (at most 2^23)")));
                }
                let extra = (63 - (n as u64).leading_zeros() as i32).min(32).min(31 + shift);
                let mult = (((mult as i64) << extra) / n) as i32;
                let shift = shift - extra;
                rec.opcode = OpCode::Mean as u8;
                rec.n_inputs = 1;
                rec.inputs[0] = input;
                rec.output = output;
                let p = &mut rec.params;
                p[P_MEAN_INPUT_ZP] = in_zp;
                p[P_MEAN_OUTPUT_ZP] = out_zp;
                p[P_MEAN_MULTIPLIER] = mult;
                p[P_MEAN_SHIFT] = shift;
            }
            builtin::CONCATENATION => {
                let (axis, act) = match &op.options {
                    Options::Concatenation { axis, activation } => (*axis, *activation),
                    o => return Err(err_op(i, name, format!("missing or unexpected options {o:?}"))),
                };
                if act != Activation::None {
                    return Err(err_op(i, name, format!("fused activation {act:?} (TFLM supports none)")));
                }
                if op.inputs.is_empty() || op.inputs.len() > MAX_OP_INPUTS {
                    return Err(err_op(i, name, format!("{} inputs (1..={MAX_OP_INPUTS} supported)", op.inputs.len())));
                }
                let mut ins = Vec::new();
                for k in 0..op.inputs.len() {
                    ins.push(self.data_input(arg(k))?);
                }
                let output = self.activation(out_idx)?;
                // TFLM's int8 concatenation copies bytes and its Prepare insists on identical
                // quantization, so mixed scales are an error there as here.
                let out_q = self.qparams(out_idx)?;
                for k in 0..op.inputs.len() {
                    let q = self.qparams(arg(k))?;
                    if q != out_q {
                        return Err(err_op(
                            i,
                            name,
                            format!(
                                "input {k} quantization (scale {}, zero point {}) differs from the output's (scale {}, zero point {}); TFLM requires them equal",
                                q.0, q.1, out_q.0, out_q.1
                            ),
                        ));
                    }
                }
                let rank = self.b.tensors[output as usize].rank as i32;
                let axis = if axis < 0 { axis + rank } else { axis };
                if !(0..rank).contains(&axis) {
                    return Err(err_op(i, name, format!("axis out of range for rank {rank}")));
                }
                rec.opcode = OpCode::Concatenation as u8;
                rec.n_inputs = ins.len() as u8;
                rec.inputs[..ins.len()].copy_from_slice(&ins);
                rec.output = output;
                rec.params[P_CONCAT_AXIS] = axis;
            }
            builtin::MUL => {
                let act = match &op.options {
                    Options::Mul { activation } => *activation,
                    Options::None => Activation::None,
                    o => return Err(err_op(i, name, format!("unexpected options {o:?}"))),
                };
                if op.inputs.len() != 2 {
                    return Err(err_op(i, name, "needs 2 inputs"));
                }
                let a = self.data_input(arg(0))?;
                let b = self.data_input(arg(1))?;
                let output = self.activation(out_idx)?;
                let to = self.b.tensors[output as usize];
                for t in [self.b.tensors[a as usize], self.b.tensors[b as usize]] {
                    let shift = (to.rank as usize).checked_sub(t.rank as usize);
                    let ok = shift.is_some_and(|sh| (0..t.rank as usize).all(|d| t.dims[d] == 1 || t.dims[d] == to.dims[d + sh]));
                    if !ok {
                        return Err(err_op(i, name, "input shapes do not broadcast to the output"));
                    }
                }
                let (s1, zp1) = self.qparams(arg(0))?;
                let (s2, zp2) = self.qparams(arg(1))?;
                let (so, zpo) = self.qparams(out_idx)?;
                let real = s1 as f64 * s2 as f64 / so as f64;
                let (m, sh) = quantize_multiplier(real)
                    .filter(|(_, s)| (-31..=30).contains(s))
                    .ok_or_else(|| err_op(i, name, format!("multiplier {real} out of range")))?;
                let (amin, amax) =
                    activation_range(act, so, zpo).ok_or_else(|| err_op(i, name, format!("activation {act:?}")))?;
                rec.opcode = OpCode::Mul as u8;
                rec.n_inputs = 2;
                rec.inputs[0] = a;
                rec.inputs[1] = b;
                rec.output = output;
                let p = &mut rec.params;
                p[P_ACT_MIN] = amin;
                p[P_ACT_MAX] = amax;
                p[P_MUL_INPUT1_OFFSET] = -zp1;
                p[P_MUL_INPUT2_OFFSET] = -zp2;
                p[P_MUL_OUTPUT_OFFSET] = zpo;
                p[P_MUL_MULTIPLIER] = m;
                p[P_MUL_SHIFT] = sh;
            }
            builtin::LOGISTIC => {
                let input = self.activation(arg(0))?;
                let output = self.activation(out_idx)?;
                let (in_s, in_zp) = self.qparams(arg(0))?;
                let (_, out_zp) = self.qparams(out_idx)?;
                if out_zp != -128 {
                    return Err(err_op(i, name, "int8 output zero point must be -128"));
                }
                // TFLM Prepare: input scale in Q4.27 as frexp significand / exponent.
                let real = in_s as f64 * (1u64 << 27) as f64;
                let (q, left_shift) = mcubench_runtime::fixedpoint::frexp(real);
                let mult = mcubench_runtime::fixedpoint::round_half_away(q * (1u64 << 31) as f64);
                if !(0..=30).contains(&left_shift) || mult >= (1u64 << 31) as f64 {
                    return Err(err_op(i, name, format!("input scale {in_s} out of range")));
                }
                // CalculateInputRadius(4, left_shift, 31).
                let radius = (15.0 * (1u64 << 27) as f64 / (1u64 << left_shift) as f64).floor();
                rec.opcode = OpCode::Logistic as u8;
                rec.n_inputs = 1;
                rec.inputs[0] = input;
                rec.output = output;
                let p = &mut rec.params;
                p[P_LOGISTIC_INPUT_ZP] = in_zp;
                p[P_LOGISTIC_RANGE_RADIUS] = radius as i32;
                p[P_LOGISTIC_MULTIPLIER] = mult as i32;
                p[P_LOGISTIC_LEFT_SHIFT] = left_shift;
            }
            builtin::QUANTIZE => {
                let input = self.activation(arg(0))?;
                let output = self.activation(out_idx)?;
                let (in_s, in_zp) = self.qparams(arg(0))?;
                let (out_s, out_zp) = self.qparams(out_idx)?;
                let real = in_s as f64 / out_s as f64;
                let (m, sh) = quantize_multiplier(real)
                    .filter(|(_, s)| (-31..=30).contains(s))
                    .ok_or_else(|| err_op(i, name, format!("requantization scale {real} out of range")))?;
                rec.opcode = OpCode::Quantize as u8;
                rec.n_inputs = 1;
                rec.inputs[0] = input;
                rec.output = output;
                let p = &mut rec.params;
                p[P_REQUANT_INPUT_ZP] = in_zp;
                p[P_REQUANT_OUTPUT_ZP] = out_zp;
                p[P_REQUANT_MULTIPLIER] = m;
                p[P_REQUANT_SHIFT] = sh;
            }
            _ => return Err(err_op(i, name, "not lowered")),
        }
        Ok(rec)
    }

    /// Only int8 -> int8 QUANTIZE is supported (no float tensors in the blob). Checked before
    /// lowering so that a float model input fed to QUANTIZE is reported against the op.
    fn check_quantize_types(&self) -> Result<(), ImportError> {
        for (i, op) in self.sg.operators.iter().enumerate() {
            let code = self.model.operator_codes[op.opcode_index as usize].builtin;
            if code != builtin::QUANTIZE {
                continue;
            }
            let name = tflite::builtin_name(code);
            for (role, idx) in [("input", op.inputs.first()), ("output", op.outputs.first())] {
                let idx = *idx.ok_or_else(|| err_op(i, &name, format!("missing {role}")))?;
                let t = self.tensor(idx)?;
                if t.ttype != tensor_type::INT8 {
                    return Err(err_op(
                        i,
                        &name,
                        format!(
                            "unsupported tensor type {} for QUANTIZE {role} at op {i} (only int8 -> int8 requantization)",
                            tensor_type::name(t.ttype).to_lowercase()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The int32 values of constant tensor `idx`, `None` if it has no data (not constant).
    fn const_i32s(&self, idx: i32) -> Result<Option<Vec<i32>>, ImportError> {
        let t = self.tensor(idx)?;
        let data = self.buffer(t)?;
        if data.is_empty() || t.ttype != tensor_type::INT32 || data.len() % 4 != 0 {
            return Ok(None);
        }
        Ok(Some(data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()))
    }

    /// Blob index of an int8 data input that may be an activation or a constant.
    fn data_input(&mut self, idx: i32) -> Result<u16, ImportError> {
        if self.is_const(idx)? {
            self.qparams(idx)?;
            self.constant(idx, tensor_type::INT8, "constant operand")
        } else {
            self.activation(idx)
        }
    }

    /// TFLM `ComputePaddingHeightWidth`: checks the output size the model states against the
    /// one TFLite computes and returns (pad_h, pad_w).
    #[allow(clippy::too_many_arguments)]
    fn padding(
        &self,
        i: usize,
        name: &str,
        padding: tflite::Padding,
        stride: [i32; 2],
        dilation: [i32; 2],
        input: &TensorRecord,
        filter_hw: [u32; 2],
        output: &TensorRecord,
    ) -> Result<(i32, i32), ImportError> {
        let mut pads = [0i32; 2];
        for axis in 0..2 {
            let (s, d) = (stride[axis] as i64, dilation[axis] as i64);
            if !(1..=4096).contains(&s) || !(1..=4096).contains(&d) {
                return Err(err_op(i, name, format!("bad stride {s} or dilation {d}")));
            }
            let in_size = input.dims[1 + axis] as i64;
            let f = filter_hw[axis] as i64;
            let eff = (f - 1) * d + 1;
            let out = match padding {
                tflite::Padding::Same => (in_size + s - 1) / s,
                tflite::Padding::Valid => (in_size + s - eff) / s,
                tflite::Padding::Unknown(x) => return Err(err_op(i, name, format!("unknown padding {x}"))),
            };
            if out != output.dims[1 + axis] as i64 {
                return Err(err_op(
                    i,
                    name,
                    format!("output size {} does not match the computed {out}", output.dims[1 + axis]),
                ));
            }
            let total = ((out - 1) * s + eff - in_size).max(0);
            pads[axis] = (total / 2) as i32;
        }
        Ok((pads[0], pads[1]))
    }

    /// TFLM `PopulateConvolutionQuantizationParams`: one (multiplier, shift) per output channel
    /// from double(input_scale) * double(filter_scale[c]) / double(output_scale); a single entry
    /// when the filter is per-tensor quantized.
    fn channel_multipliers(
        &self,
        i: usize,
        name: &str,
        filter_idx: i32,
        in_s: f32,
        out_s: f32,
        channels: usize,
    ) -> Result<Vec<(i32, i32)>, ImportError> {
        let ft = self.tensor(filter_idx)?;
        let scales = ft.quantization.as_ref().map(|q| q.scale.clone()).unwrap_or_default();
        if scales.is_empty() {
            return Err(err_op(i, name, "filter is not quantized"));
        }
        if scales.len() > 1 && scales.len() != channels {
            return Err(err_op(i, name, format!("{} filter scales for {channels} channels", scales.len())));
        }
        scales
            .iter()
            .map(|&fs| {
                quantize_multiplier(in_s as f64 * fs as f64 / out_s as f64)
                    .filter(|(_, s)| (-31..=30).contains(s))
                    .ok_or_else(|| err_op(i, name, format!("bad requant scale (filter scale {fs})")))
            })
            .collect()
    }

    /// Liveness-based greedy arena plan: tensors sorted by size (largest first) go to the
    /// lowest 16-byte aligned offset that no tensor with an overlapping lifetime occupies.
    /// A RESHAPE output shares its input's bytes (one group, lifetimes merged).
    fn plan(&mut self) -> Result<(), ImportError> {
        let n_ops = self.b.ops.len();
        let nt = self.b.tensors.len();
        // Union RESHAPE outputs with their inputs.
        let mut root: Vec<usize> = (0..nt).collect();
        fn find(root: &mut Vec<usize>, mut x: usize) -> usize {
            while root[x] != x {
                root[x] = root[root[x]];
                x = root[x];
            }
            x
        }
        for op in &self.b.ops {
            if op.opcode == OpCode::Reshape as u8 {
                let a = find(&mut root, op.inputs[0] as usize);
                let b = find(&mut root, op.output as usize);
                root[b] = a;
            }
        }
        // Lifetimes per group.
        let mut life: HashMap<usize, (usize, usize, usize)> = HashMap::new(); // root -> (first, last, size)
        let mut touch = |root: &mut Vec<usize>, t: usize, step: usize, size: usize| {
            let r = find(root, t);
            let e = life.entry(r).or_insert((step, step, size));
            e.0 = e.0.min(step);
            e.1 = e.1.max(step);
            e.2 = e.2.max(size);
        };
        let inp = self.b.input_tensor as usize;
        let outp = self.b.output_tensor as usize;
        touch(&mut root, inp, 0, self.b.tensors[inp].byte_len as usize);
        for (i, op) in self.b.ops.iter().enumerate() {
            for k in 0..op.n_inputs as usize {
                let t = op.inputs[k];
                if t != format::NO_TENSOR && self.b.tensors[t as usize].storage == format::STORAGE_ARENA {
                    touch(&mut root, t as usize, i, self.b.tensors[t as usize].byte_len as usize);
                }
            }
            let o = op.output as usize;
            touch(&mut root, o, i, self.b.tensors[o].byte_len as usize);
        }
        touch(&mut root, outp, n_ops, self.b.tensors[outp].byte_len as usize);
        let mut groups: Vec<(usize, (usize, usize, usize))> = life.into_iter().collect();
        groups.sort_by_key(|g| g.0);
        // Greedy first-fit under a few orderings (largest first, as TFLM's planner; earliest
        // first; longest-lived first); keep the smallest peak.
        type Key = fn(&(usize, (usize, usize, usize))) -> (i64, i64, usize);
        let orders: [Key; 3] = [
            |g| (-(g.1 .2 as i64), g.1 .0 as i64, g.0),
            |g| (g.1 .0 as i64, -(g.1 .2 as i64), g.0),
            |g| (-((g.1 .1 - g.1 .0) as i64), -(g.1 .2 as i64), g.0),
        ];
        let mut best: Option<(usize, HashMap<usize, usize>)> = None;
        for key in orders {
            let mut order = groups.clone();
            order.sort_by_key(key);
            let (peak, offsets) = first_fit(&order);
            if best.as_ref().map_or(true, |b| peak < b.0) {
                best = Some((peak, offsets));
            }
        }
        let (peak, offsets) = best.unwrap_or_default();
        for t in 0..nt {
            if self.b.tensors[t].storage == format::STORAGE_ARENA {
                let r = find(&mut root, t);
                self.b.tensors[t].offset = *offsets.get(&r).unwrap_or(&0) as u32;
            }
        }
        if peak > u32::MAX as usize {
            return Err(ImportError::Malformed("arena larger than 4 GiB".into()));
        }
        self.b.arena_bytes = peak as u32;
        Ok(())
    }
}

/// Places groups `(root, (first, last, size))` in the given order at the lowest 16-byte
/// aligned offset free of every already placed group whose lifetime overlaps; returns the
/// peak and root -> offset.
fn first_fit(order: &[(usize, (usize, usize, usize))]) -> (usize, HashMap<usize, usize>) {
    let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // (offset, size, first, last)
    let mut offsets = HashMap::new();
    let mut peak = 0usize;
    for &(r, (first, last, size)) in order {
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|p| p.2 <= last && first <= p.3)
            .map(|p| (p.0, p.0 + p.1))
            .collect();
        busy.sort();
        let mut off = 0usize;
        for (lo, hi) in busy {
            if off + size <= lo {
                break;
            }
            if hi > off {
                off = format::align_up(hi, ARENA_ALIGN).unwrap_or(hi);
            }
        }
        placed.push((off, size, first, last));
        offsets.insert(r, off);
        peak = peak.max(off + size);
    }
    (peak, offsets)
}
