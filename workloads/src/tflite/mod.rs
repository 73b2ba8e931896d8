//! A hand-written, bounds-checked reader for the TFLite flatbuffer schema (v3).
//!
//! Only the parts mcubench needs are decoded: Model, SubGraph, Tensor, Buffer, Operator,
//! OperatorCode (with the `deprecated_builtin_code` / `builtin_code` split),
//! QuantizationParameters and the builtin options tables of the supported operators. Every
//! offset is checked; a truncated or corrupt file gives an [`FbError`] naming the object, the
//! byte offset and the problem.
pub mod flatbuffer;
mod names;

pub use flatbuffer::FbError;
pub use names::builtin_name;

use flatbuffer::{Fb, Table};

/// TFLite `TensorType` values mcubench cares about.
pub mod tensor_type {
    pub const FLOAT32: i8 = 0;
    pub const INT32: i8 = 2;
    pub const UINT8: i8 = 3;
    pub const INT64: i8 = 4;
    pub const INT16: i8 = 7;
    pub const INT8: i8 = 9;

    /// Schema name of a tensor type.
    pub fn name(t: i8) -> String {
        const N: [&str; 23] = [
            "FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16",
            "COMPLEX64", "INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT",
            "UINT32", "UINT16", "INT4", "BFLOAT16", "INT2", "UINT4", "FLOAT8_E4M3FN",
            "FLOAT8_E5M2",
        ];
        match N.get(t as usize) {
            Some(n) if t >= 0 => n.to_string(),
            _ => format!("TensorType({t})"),
        }
    }
}

/// TFLite builtin operator codes used by the importer.
pub mod builtin {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const PAD: i32 = 34;
    pub const MEAN: i32 = 40;
    pub const PADV2: i32 = 60;
    pub const QUANTIZE: i32 = 114;
}

/// `ActivationFunctionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Tanh,
    SignBit,
    Unknown(i8),
}

impl Activation {
    fn from_i8(v: i8) -> Activation {
        match v {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            4 => Activation::Tanh,
            5 => Activation::SignBit,
            x => Activation::Unknown(x),
        }
    }
}

/// `Padding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
    Unknown(i8),
}

impl Padding {
    fn from_i8(v: i8) -> Padding {
        match v {
            0 => Padding::Same,
            1 => Padding::Valid,
            x => Padding::Unknown(x),
        }
    }
}

/// Decoded builtin options of the operators mcubench supports.
#[derive(Debug, Clone, PartialEq)]
pub enum Options {
    None,
    Conv2D { padding: Padding, stride_w: i32, stride_h: i32, activation: Activation, dilation_w: i32, dilation_h: i32 },
    DepthwiseConv2D {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        depth_multiplier: i32,
        activation: Activation,
        dilation_w: i32,
        dilation_h: i32,
    },
    Pool2D { padding: Padding, stride_w: i32, stride_h: i32, filter_w: i32, filter_h: i32, activation: Activation },
    FullyConnected { activation: Activation, weights_format: i8, keep_num_dims: bool },
    Softmax { beta: f32 },
    Concatenation { axis: i32, activation: Activation },
    Add { activation: Activation },
    Reshape { new_shape: Vec<i32> },
    Mul { activation: Activation },
    Reducer { keep_dims: bool },
    /// Present but not decoded (union type given).
    Other(u8),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OperatorCode {
    /// `max(deprecated_builtin_code, builtin_code)`, as TFLite's `GetBuiltinCode`.
    pub builtin: i32,
    pub custom_code: Option<String>,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<i32>,
    pub ttype: i8,
    pub buffer: u32,
    pub name: String,
    pub quantization: Option<Quantization>,
    pub is_variable: bool,
}

impl Tensor {
    /// Per-tensor scale (first entry), 0 if unquantized.
    pub fn scale(&self) -> f32 {
        self.quantization.as_ref().and_then(|q| q.scale.first().copied()).unwrap_or(0.0)
    }

    /// Per-tensor zero point (first entry), 0 if unquantized.
    pub fn zero_point(&self) -> i64 {
        self.quantization.as_ref().and_then(|q| q.zero_point.first().copied()).unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub opcode_index: u32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options_type: u8,
    pub options: Options,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubGraph {
    pub tensors: Vec<Tensor>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub operators: Vec<Operator>,
    pub name: Option<String>,
}

/// A decoded `.tflite` model; buffers borrow the file bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct TfliteModel<'a> {
    pub version: u32,
    pub operator_codes: Vec<OperatorCode>,
    pub subgraphs: Vec<SubGraph>,
    pub description: Option<String>,
    /// Buffer contents (empty for activations and the sentinel buffer 0).
    pub buffers: Vec<&'a [u8]>,
}

impl<'a> TfliteModel<'a> {
    /// Parses a `.tflite` file. Never panics; every structural problem is an [`FbError`].
    pub fn parse(bytes: &'a [u8]) -> Result<TfliteModel<'a>, FbError> {
        if bytes.len() < 8 {
            return Err(FbError {
                what: "file".into(),
                offset: 0,
                problem: format!("{} bytes is too short for a TFLite flatbuffer", bytes.len()),
            });
        }
        if &bytes[4..8] != b"TFL3" {
            return Err(FbError {
                what: "file identifier".into(),
                offset: 4,
                problem: format!("expected \"TFL3\", found {:?}", &bytes[4..8]),
            });
        }
        let fb = Fb::new(bytes);
        let root = fb.root("Model")?;
        let version = root.u32(0, "version", 0)?;
        let operator_codes = root
            .tables(1, "operator_codes")?
            .iter()
            .map(parse_opcode)
            .collect::<Result<Vec<_>, _>>()?;
        let subgraphs = root
            .tables(2, "subgraphs")?
            .iter()
            .map(parse_subgraph)
            .collect::<Result<Vec<_>, _>>()?;
        let description = root.string(3, "description")?;
        let buffers = root
            .tables(4, "buffers")?
            .iter()
            .map(|b| parse_buffer(&fb, b))
            .collect::<Result<Vec<_>, _>>()?;
        // Re-borrow buffer slices with the file's lifetime (they are sub-slices of `bytes`).
        let buffers = buffers
            .into_iter()
            .map(|(s, l)| &bytes[s..s + l])
            .collect();
        Ok(TfliteModel { version, operator_codes, subgraphs, description, buffers })
    }
}

fn parse_opcode(t: &Table<'_>) -> Result<OperatorCode, FbError> {
    let deprecated = t.i8(0, "deprecated_builtin_code", 0)? as i32;
    let custom_code = t.string(1, "custom_code")?;
    let version = t.i32(2, "version", 1)?;
    let code = t.i32(3, "builtin_code", 0)?;
    Ok(OperatorCode { builtin: deprecated.max(code), custom_code, version })
}

fn parse_buffer(fb: &Fb<'_>, t: &Table<'_>) -> Result<(usize, usize), FbError> {
    if let Some(v) = t.vector(0, "data", 1)? {
        return Ok((v.start, v.len));
    }
    // Large models (> 2 GiB) keep data after the flatbuffer: offset/size from the file start.
    let offset = t.u64(1, "offset", 0)?;
    let size = t.u64(2, "size", 0)?;
    if offset > 1 {
        let (o, s) = (offset as usize, size as usize);
        fb.slice(&format!("{}.offset", t.what), o, s)?;
        return Ok((o, s));
    }
    Ok((0, 0))
}

fn parse_quant(t: &Table<'_>) -> Result<Quantization, FbError> {
    Ok(Quantization {
        scale: t.f32_vec(2, "scale")?,
        zero_point: t.i64_vec(3, "zero_point")?,
        quantized_dimension: t.i32(6, "quantized_dimension", 0)?,
    })
}

fn parse_tensor(t: &Table<'_>) -> Result<Tensor, FbError> {
    Ok(Tensor {
        shape: t.i32_vec(0, "shape")?,
        ttype: t.i8(1, "type", 0)?,
        buffer: t.u32(2, "buffer", 0)?,
        name: t.string(3, "name")?.unwrap_or_default(),
        quantization: t.table(4, "quantization")?.map(|q| parse_quant(&q)).transpose()?,
        is_variable: t.bool(5, "is_variable", false)?,
    })
}

fn parse_options(ty: u8, t: &Table<'_>) -> Result<Options, FbError> {
    let act = |slot| -> Result<Activation, FbError> {
        Ok(Activation::from_i8(t.i8(slot, "fused_activation_function", 0)?))
    };
    Ok(match ty {
        1 => Options::Conv2D {
            padding: Padding::from_i8(t.i8(0, "padding", 0)?),
            stride_w: t.i32(1, "stride_w", 0)?,
            stride_h: t.i32(2, "stride_h", 0)?,
            activation: act(3)?,
            dilation_w: t.i32(4, "dilation_w_factor", 1)?,
            dilation_h: t.i32(5, "dilation_h_factor", 1)?,
        },
        2 => Options::DepthwiseConv2D {
            padding: Padding::from_i8(t.i8(0, "padding", 0)?),
            stride_w: t.i32(1, "stride_w", 0)?,
            stride_h: t.i32(2, "stride_h", 0)?,
            depth_multiplier: t.i32(3, "depth_multiplier", 0)?,
            activation: act(4)?,
            dilation_w: t.i32(5, "dilation_w_factor", 1)?,
            dilation_h: t.i32(6, "dilation_h_factor", 1)?,
        },
        5 => Options::Pool2D {
            padding: Padding::from_i8(t.i8(0, "padding", 0)?),
            stride_w: t.i32(1, "stride_w", 0)?,
            stride_h: t.i32(2, "stride_h", 0)?,
            filter_w: t.i32(3, "filter_width", 0)?,
            filter_h: t.i32(4, "filter_height", 0)?,
            activation: act(5)?,
        },
        8 => Options::FullyConnected {
            activation: act(0)?,
            weights_format: t.i8(1, "weights_format", 0)?,
            keep_num_dims: t.bool(2, "keep_num_dims", false)?,
        },
        9 => Options::Softmax { beta: t.f32(0, "beta", 0.0)? },
        10 => Options::Concatenation { axis: t.i32(0, "axis", 0)?, activation: act(1)? },
        11 => Options::Add { activation: act(0)? },
        17 => Options::Reshape { new_shape: t.i32_vec(0, "new_shape")? },
        21 => Options::Mul { activation: act(0)? },
        27 => Options::Reducer { keep_dims: t.bool(0, "keep_dims", false)? },
        x => Options::Other(x),
    })
}

fn parse_operator(t: &Table<'_>) -> Result<Operator, FbError> {
    let options_type = t.u8(3, "builtin_options_type", 0)?;
    let options = match t.table(4, "builtin_options")? {
        Some(o) if options_type != 0 => parse_options(options_type, &o)?,
        _ => Options::None,
    };
    Ok(Operator {
        opcode_index: t.u32(0, "opcode_index", 0)?,
        inputs: t.i32_vec(1, "inputs")?,
        outputs: t.i32_vec(2, "outputs")?,
        options_type,
        options,
    })
}

fn parse_subgraph(t: &Table<'_>) -> Result<SubGraph, FbError> {
    Ok(SubGraph {
        tensors: t.tables(0, "tensors")?.iter().map(parse_tensor).collect::<Result<_, _>>()?,
        inputs: t.i32_vec(1, "inputs")?,
        outputs: t.i32_vec(2, "outputs")?,
        operators: t.tables(3, "operators")?.iter().map(parse_operator).collect::<Result<_, _>>()?,
        name: t.string(4, "name")?,
    })
}
