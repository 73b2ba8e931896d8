//! TinyMaix's model file (`.tmdl`), int8 variant, as its C runtime reads it
//! (`include/tinymaix.h`: `tm_mdlbin_t`, `tml_head_t`, `tml_conv2d_dw_t`, `tml_fc_t`,
//! `tml_add_t`). Everything is little-endian and every layer is 8-byte aligned.
//!
//! ```text
//! model header (64 B): "MAIX" | mdl_type u8 | out_deq u8 | input_cnt u16 | output_cnt u16
//!                      | layer_cnt u16 | buf_size u32 | sub_size u32 | in_dims [u16;4]
//!                      | out_dims [u16;4] | 28 reserved bytes
//! layer header (48 B): type u16 | is_out u16 | size u32 | in_oft u32 | out_oft u32
//!                      | in_dims [u16;4] | out_dims [u16;4] | in_s f32 | in_zp i32
//!                      | out_s f32 | out_zp i32
//! CONV2D/DWCONV2D body (32 B + data): kernel_w, kernel_h, stride_w, stride_h, dilation_w,
//!                      dilation_h (u8) | act u16 | pad top,bottom,left,right (u8) | depth_mul u32
//!                      | reserved u32 | ws_oft u32 | w_oft u32 | b_oft u32, then per-output-channel
//!                      weight scales (f32), weights [cho][chi][kh][kw] (i8), bias (i32),
//!                      each padded to 8 bytes; offsets are from the layer start
//! FC body (16 B + data): ws_oft u32 | w_oft u32 | b_oft u32 | reserved u32, then scales,
//!                      weights [out][in], bias (TinyMaix's FC reads only the first scale)
//! ADD body (16 B):     in_oft1 u32 | in_s1 f32 | in_zp1 i32 | reserved u32
//! GAP, SOFTMAX, RESHAPE: header only
//! ```
//!
//! dims are `[rank, d0, d1, d2]` of the tensor without its batch dimension, left-padded with
//! 1 (`[3, h, w, c]`, `[1, 1, 1, c]`). Biases already hold `-in_zp * sum(weights)`.

/// `TM_MDL_INT8`.
pub const MDL_INT8: u8 = 0;
pub const MODEL_HEADER_BYTES: usize = 64;
pub const LAYER_HEADER_BYTES: usize = 48;
pub const CONV_BODY_BYTES: usize = 32;
pub const FC_BODY_BYTES: usize = 16;
pub const ADD_BODY_BYTES: usize = 16;

/// `tm_layer_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum LayerType {
    Conv2d = 0,
    Gap = 1,
    Fc = 2,
    Softmax = 3,
    Reshape = 4,
    DwConv2d = 5,
    Add = 6,
}

impl LayerType {
    pub fn from_u16(v: u16) -> Option<LayerType> {
        Some(match v {
            0 => LayerType::Conv2d,
            1 => LayerType::Gap,
            2 => LayerType::Fc,
            3 => LayerType::Softmax,
            4 => LayerType::Reshape,
            5 => LayerType::DwConv2d,
            6 => LayerType::Add,
            _ => return None,
        })
    }

    /// TinyMaix's name for it (`TML_*`).
    pub fn name(self) -> &'static str {
        match self {
            LayerType::Conv2d => "CONV2D",
            LayerType::Gap => "GAP",
            LayerType::Fc => "FC",
            LayerType::Softmax => "SOFTMAX",
            LayerType::Reshape => "RESHAPE",
            LayerType::DwConv2d => "DWCONV2D",
            LayerType::Add => "ADD",
        }
    }
}

/// `tm_act_type_t` values TinyMaix's int8 post-processing applies (`TM_ACT_RELU`,
/// `TM_ACT_RELU6`); others are ignored by its kernels.
pub const ACT_NONE: u16 = 0;
pub const ACT_RELU: u16 = 1;
pub const ACT_RELU6: u16 = 3;

pub fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// A decoded model header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub mdl_type: u8,
    pub out_deq: u8,
    pub input_cnt: u16,
    pub output_cnt: u16,
    pub layer_cnt: u16,
    pub buf_size: u32,
    pub sub_size: u32,
    pub in_dims: [u16; 4],
    pub out_dims: [u16; 4],
}

/// Convolution parameters of a CONV2D / DWCONV2D layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvParams {
    pub kernel_w: u8,
    pub kernel_h: u8,
    pub stride_w: u8,
    pub stride_h: u8,
    pub dilation_w: u8,
    pub dilation_h: u8,
    pub act: u16,
    /// top, bottom, left, right
    pub pad: [u8; 4],
    pub depth_mul: u32,
    pub weight_scales: Vec<f32>,
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
}

/// A decoded layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerView {
    /// Byte offset of the layer in the file.
    pub offset: usize,
    pub ty: LayerType,
    pub is_out: bool,
    pub size: u32,
    pub in_oft: u32,
    pub out_oft: u32,
    pub in_dims: [u16; 4],
    pub out_dims: [u16; 4],
    pub in_s: f32,
    pub in_zp: i32,
    pub out_s: f32,
    pub out_zp: i32,
    /// CONV2D / DWCONV2D only.
    pub conv: Option<ConvParams>,
    /// FC only: (weight scales, weights, bias).
    pub fc: Option<(Vec<f32>, Vec<i8>, Vec<i32>)>,
    /// ADD only: (in_oft1, in_s1, in_zp1).
    pub add: Option<(u32, f32, i32)>,
}

/// A decoded `.tmdl` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelView {
    pub header: Header,
    pub layers: Vec<LayerView>,
}

/// Elements of a `[rank, d0, d1, d2]` dims record.
pub fn dims_len(d: &[u16; 4]) -> usize {
    d[1] as usize * d[2] as usize * d[3] as usize
}

struct Rd<'a> {
    b: &'a [u8],
}

impl Rd<'_> {
    fn bytes(&self, at: usize, n: usize, what: &str) -> Result<&[u8], String> {
        self.b
            .get(at..at.checked_add(n).ok_or_else(|| format!("{what}: offset overflow"))?)
            .ok_or_else(|| format!("{what}: {n} bytes at {at} run past the end ({} bytes)", self.b.len()))
    }
    fn u8(&self, at: usize, what: &str) -> Result<u8, String> {
        Ok(self.bytes(at, 1, what)?[0])
    }
    fn u16(&self, at: usize, what: &str) -> Result<u16, String> {
        let s = self.bytes(at, 2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&self, at: usize, what: &str) -> Result<u32, String> {
        let s = self.bytes(at, 4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i32(&self, at: usize, what: &str) -> Result<i32, String> {
        Ok(self.u32(at, what)? as i32)
    }
    fn f32(&self, at: usize, what: &str) -> Result<f32, String> {
        Ok(f32::from_bits(self.u32(at, what)?))
    }
    fn dims(&self, at: usize, what: &str) -> Result<[u16; 4], String> {
        Ok([self.u16(at, what)?, self.u16(at + 2, what)?, self.u16(at + 4, what)?, self.u16(at + 6, what)?])
    }
    fn f32s(&self, at: usize, n: usize, what: &str) -> Result<Vec<f32>, String> {
        (0..n).map(|i| self.f32(at + 4 * i, what)).collect()
    }
    fn i32s(&self, at: usize, n: usize, what: &str) -> Result<Vec<i32>, String> {
        (0..n).map(|i| self.i32(at + 4 * i, what)).collect()
    }
    fn i8s(&self, at: usize, n: usize, what: &str) -> Result<Vec<i8>, String> {
        Ok(self.bytes(at, n, what)?.iter().map(|&b| b as i8).collect())
    }
}

/// Decodes a `.tmdl` file (int8 models), checking that every layer lies inside the file and
/// every buffer offset inside `buf_size`.
pub fn parse(bytes: &[u8]) -> Result<ModelView, String> {
    let r = Rd { b: bytes };
    if r.bytes(0, 4, "magic")? != b"MAIX" {
        return Err("not a TinyMaix model: the file does not start with \"MAIX\"".into());
    }
    let header = Header {
        mdl_type: r.u8(4, "mdl_type")?,
        out_deq: r.u8(5, "out_deq")?,
        input_cnt: r.u16(6, "input_cnt")?,
        output_cnt: r.u16(8, "output_cnt")?,
        layer_cnt: r.u16(10, "layer_cnt")?,
        buf_size: r.u32(12, "buf_size")?,
        sub_size: r.u32(16, "sub_size")?,
        in_dims: r.dims(20, "in_dims")?,
        out_dims: r.dims(28, "out_dims")?,
    };
    if header.mdl_type != MDL_INT8 {
        return Err(format!("mdl_type {} (only int8 = 0 is read here)", header.mdl_type));
    }
    let mut layers = Vec::new();
    let mut at = MODEL_HEADER_BYTES;
    for i in 0..header.layer_cnt {
        let what = format!("layer {i}");
        let w = what.as_str();
        let ty_raw = r.u16(at, w)?;
        let ty = LayerType::from_u16(ty_raw).ok_or_else(|| format!("{w}: unknown layer type {ty_raw}"))?;
        let size = r.u32(at + 4, w)?;
        if (size as usize) < LAYER_HEADER_BYTES || size % 8 != 0 {
            return Err(format!("{w}: size {size} is not a multiple of 8 of at least {LAYER_HEADER_BYTES}"));
        }
        r.bytes(at, size as usize, w)?;
        let in_dims = r.dims(at + 16, w)?;
        let out_dims = r.dims(at + 24, w)?;
        let mut l = LayerView {
            offset: at,
            ty,
            is_out: r.u16(at + 2, w)? != 0,
            size,
            in_oft: r.u32(at + 8, w)?,
            out_oft: r.u32(at + 12, w)?,
            in_dims,
            out_dims,
            in_s: r.f32(at + 32, w)?,
            in_zp: r.i32(at + 36, w)?,
            out_s: r.f32(at + 40, w)?,
            out_zp: r.i32(at + 44, w)?,
            conv: None,
            fc: None,
            add: None,
        };
        let b = at + LAYER_HEADER_BYTES;
        let cho = out_dims[3] as usize;
        match ty {
            LayerType::Conv2d | LayerType::DwConv2d => {
                let kw = r.u8(b, w)?;
                let kh = r.u8(b + 1, w)?;
                let dmul = r.u32(b + 12, w)?;
                let chi = if dmul == 0 { in_dims[3] as usize } else { 1 };
                let (ws_oft, w_oft, b_oft) =
                    (r.u32(b + 20, w)? as usize, r.u32(b + 24, w)? as usize, r.u32(b + 28, w)? as usize);
                let nw = cho * chi * kw as usize * kh as usize;
                l.conv = Some(ConvParams {
                    kernel_w: kw,
                    kernel_h: kh,
                    stride_w: r.u8(b + 2, w)?,
                    stride_h: r.u8(b + 3, w)?,
                    dilation_w: r.u8(b + 4, w)?,
                    dilation_h: r.u8(b + 5, w)?,
                    act: r.u16(b + 6, w)?,
                    pad: [r.u8(b + 8, w)?, r.u8(b + 9, w)?, r.u8(b + 10, w)?, r.u8(b + 11, w)?],
                    depth_mul: dmul,
                    weight_scales: r.f32s(at + ws_oft, cho, w)?,
                    weights: r.i8s(at + w_oft, nw, w)?,
                    bias: r.i32s(at + b_oft, cho, w)?,
                });
                if b_oft + 4 * cho > size as usize {
                    return Err(format!("{w}: bias runs past the layer's size"));
                }
            }
            LayerType::Fc => {
                let chi = in_dims[3] as usize;
                let (ws_oft, w_oft, b_oft) =
                    (r.u32(b, w)? as usize, r.u32(b + 4, w)? as usize, r.u32(b + 8, w)? as usize);
                l.fc = Some((r.f32s(at + ws_oft, 1, w)?, r.i8s(at + w_oft, cho * chi, w)?, r.i32s(at + b_oft, cho, w)?));
                if b_oft + 4 * cho > size as usize {
                    return Err(format!("{w}: bias runs past the layer's size"));
                }
            }
            LayerType::Add => {
                l.add = Some((r.u32(b, w)?, r.f32(b + 4, w)?, r.i32(b + 8, w)?));
            }
            LayerType::Gap | LayerType::Softmax | LayerType::Reshape => {}
        }
        let in_bytes = dims_len(&l.in_dims);
        let out_bytes = if ty == LayerType::Softmax { 4 * dims_len(&l.out_dims) } else { dims_len(&l.out_dims) };
        let fits = |oft: u32, n: usize| oft as usize + n <= header.buf_size as usize;
        if !fits(l.in_oft, in_bytes) || !fits(l.out_oft, out_bytes) {
            return Err(format!("{w}: input or output lies outside the {}-byte main buffer", header.buf_size));
        }
        if let Some((o1, _, _)) = l.add {
            if !fits(o1, in_bytes) {
                return Err(format!("{w}: second input lies outside the main buffer"));
            }
        }
        at += size as usize;
        layers.push(l);
    }
    Ok(ModelView { header, layers })
}

/// Little-endian byte writer.
#[derive(Default)]
pub(crate) struct Wr {
    pub b: Vec<u8>,
}

impl Wr {
    pub fn u8(&mut self, v: u8) {
        self.b.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f32(&mut self, v: f32) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    pub fn dims(&mut self, d: [u16; 4]) {
        for v in d {
            self.u16(v);
        }
    }
    pub fn pad8(&mut self) {
        while self.b.len() % 8 != 0 {
            self.b.push(0);
        }
    }
}
