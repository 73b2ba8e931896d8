//! The .tflite -> TinyMaix converter on the MLPerf Tiny reference models: structure of the
//! produced .tmdl (layer mapping, header, weight layout, fused biases, padding, scales),
//! a main-buffer plan that never overwrites a live tensor, and clear errors.
use mcubench_workloads::tflite::flatbuffer::Fb;
use mcubench_workloads::tflite::{TfliteModel, Tensor};
use mcubench_workloads::tinymaix::format::{self, LayerType, LayerView, ModelView};
use mcubench_workloads::tinymaix::{convert_tflite, ConvertError, Converted};
use mcubench_workloads::{by_id, import_tflite};

fn model_bytes(id: &str) -> Option<Vec<u8>> {
    let w = by_id(id).unwrap();
    match std::fs::read(w.model_path()) {
        Ok(b) => Some(b),
        Err(_) => {
            println!("SKIP: {} not found (set MCUBENCH_MODELS_DIR)", w.model_path().display());
            None
        }
    }
}

fn convert(id: &str) -> Option<(Vec<u8>, Converted, ModelView)> {
    let bytes = model_bytes(id)?;
    let c = convert_tflite(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
    let v = format::parse(&c.bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
    Some((bytes, c, v))
}

fn types(v: &ModelView) -> Vec<LayerType> {
    v.layers.iter().map(|l| l.ty).collect()
}

fn out_bytes(l: &LayerView) -> usize {
    format::dims_len(&l.out_dims)
}

/// Walks the layers with a byte-ownership map of the main buffer: every input a layer reads
/// must be exactly the region one earlier layer (or the model input) wrote, untouched since;
/// no layer writes over its own inputs (RESHAPE excepted: in place).
fn check_plan(v: &ModelView) {
    const INPUT: i32 = -1;
    const NONE: i32 = -2;
    let mut owner = vec![NONE; v.header.buf_size as usize];
    let in_len = format::dims_len(&v.header.in_dims);
    owner[..in_len].fill(INPUT);
    // (start, len) written by each layer (the model input as layer -1).
    let mut written: Vec<(usize, usize)> = Vec::new();
    let region_of = |w: i32, written: &Vec<(usize, usize)>| if w == INPUT { (0, in_len) } else { written[w as usize] };
    for (i, l) in v.layers.iter().enumerate() {
        let n = format::dims_len(&l.in_dims);
        let mut reads = vec![l.in_oft as usize];
        if let Some((o1, _, _)) = l.add {
            reads.push(o1 as usize);
        }
        for r in reads {
            let w = owner[r];
            assert!(w != NONE, "layer {i} ({:?}) reads {r} which nothing wrote", l.ty);
            assert!(owner[r..r + n].iter().all(|&o| o == w), "layer {i} ({:?}): input at {r} partly overwritten", l.ty);
            assert_eq!(region_of(w, &written).0, r, "layer {i} reads from the middle of a tensor");
            if l.ty != LayerType::Reshape {
                let (o, m) = (l.out_oft as usize, if l.ty == LayerType::Softmax { 4 * out_bytes(l) } else { out_bytes(l) });
                assert!(o + m <= r || r + n <= o, "layer {i} ({:?}) writes over its own input", l.ty);
            }
        }
        if l.ty == LayerType::Reshape {
            assert_eq!(l.in_oft, l.out_oft, "RESHAPE is in place");
            written.push(region_of(owner[l.in_oft as usize], &written));
            let w = owner[l.in_oft as usize];
            let (s, m) = region_of(w, &written);
            owner[s..s + m].fill(i as i32);
            continue;
        }
        let m = if l.ty == LayerType::Softmax { 4 * out_bytes(l) } else { out_bytes(l) };
        let o = l.out_oft as usize;
        assert!(o % 8 == 0, "layer {i}: output offset {o} not 8-byte aligned");
        owner[o..o + m].fill(i as i32);
        written.push((o, out_bytes(l)));
    }
    let last = v.layers.last().unwrap();
    assert!(last.is_out && v.layers.iter().filter(|l| l.is_out).count() == 1);
}

#[test]
fn kws01_structure() {
    let Some((bytes, c, v)) = convert("kws01") else { return };
    use LayerType::*;
    assert_eq!(
        types(&v),
        [Conv2d, DwConv2d, Conv2d, DwConv2d, Conv2d, DwConv2d, Conv2d, DwConv2d, Conv2d, Gap, Reshape, Fc, Softmax]
    );
    let h = &v.header;
    assert_eq!(&c.bytes[0..4], b"MAIX");
    assert_eq!((h.mdl_type, h.out_deq, h.input_cnt, h.output_cnt, h.sub_size), (0, 0, 1, 1, 0));
    assert_eq!(h.in_dims, [3, 49, 10, 1]);
    assert_eq!(h.out_dims, [1, 1, 1, 12]);
    assert_eq!(h.buf_size as usize, c.buf_size);
    assert_eq!(v.layers[0].in_oft, 0, "the input is where tm_load puts it");
    assert_eq!((c.input.len, c.output.len), (490, 12));
    assert_eq!((c.output.scale, c.output.zero_point), (1.0 / 256.0, -128));
    // TinyMaix's scratch for this model: the 10x4 first kernel is above its default 5x5.
    assert_eq!((c.scratch.max_csize, c.scratch.max_ksize, c.scratch.max_kcsize), (64, 40, 576));
    // Main buffer: TinyMaix's ping-pong plan, the largest layer's input + output.
    assert_eq!(c.buf_size, 2 * 25 * 5 * 64, "the largest layer's input + output");

    // Layer 0 against the .tflite: weights [co][kh][kw][ci] -> [co][ci][kh][kw], per-channel
    // scales kept, bias + (-in_zp) * sum(w), SAME padding (T,B,L,R).
    let m = TfliteModel::parse(&bytes).unwrap();
    let sg = &m.subgraphs[0];
    let op = &sg.operators[0];
    let t = |i: i32| -> &Tensor { &sg.tensors[i as usize] };
    let wt = t(op.inputs[1]);
    let raw = m.buffers[wt.buffer as usize];
    let bias: Vec<i32> = m.buffers[t(op.inputs[2]).buffer as usize]
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let in_zp = t(op.inputs[0]).zero_point() as i32;
    let conv = v.layers[0].conv.as_ref().unwrap();
    assert_eq!((conv.kernel_h, conv.kernel_w, conv.stride_h, conv.stride_w, conv.act), (10, 4, 2, 2, 1));
    assert_eq!(conv.pad, [4, 5, 1, 1]);
    assert_eq!(conv.depth_mul, 0);
    assert_eq!(conv.weight_scales, wt.quantization.as_ref().unwrap().scale);
    let (co, kh, kw, ci) = (64, 10, 4, 1);
    for o in [0, 17, 63] {
        for y in 0..kh {
            for x in 0..kw {
                assert_eq!(conv.weights[((o * ci) * kh + y) * kw + x], raw[((o * kh + y) * kw + x) * ci] as i8);
            }
        }
        let s: i32 = conv.weights[o * kh * kw..(o + 1) * kh * kw].iter().map(|&w| w as i32).sum();
        assert_eq!(conv.bias[o], bias[o] - in_zp * s);
    }
    assert_eq!(conv.weights.len(), co * kh * kw);
    // Layer 1 (depthwise): [1][kh][kw][c] -> [c][kh][kw], depth multiplier 1.
    let dw = v.layers[1].conv.as_ref().unwrap();
    let raw1 = m.buffers[t(sg.operators[1].inputs[1]).buffer as usize];
    assert_eq!(dw.depth_mul, 1);
    assert_eq!(dw.pad, [1, 1, 1, 1]);
    for c in [0usize, 5, 63] {
        for k in 0..9 {
            assert_eq!(dw.weights[c * 9 + k], raw1[k * 64 + c] as i8);
        }
    }
    // The final FC keeps TinyMaix's FC layer (no activation, per-tensor weights).
    let fc = v.layers[11].fc.as_ref().unwrap();
    assert_eq!((v.layers[11].in_dims, v.layers[11].out_dims), ([1, 1, 1, 64], [1, 1, 1, 12]));
    assert_eq!(fc.1.len(), 12 * 64);
    // Softmax output reserves float32 room in the main buffer.
    assert!(v.layers[12].out_oft as usize + 4 * 12 <= c.buf_size);
    check_plan(&v);
    assert!(c.approximations.iter().any(|a| a.contains("SOFTMAX")), "{:#?}", c.approximations);
    assert!(c.approximations.iter().any(|a| a.contains("GAP")), "{:#?}", c.approximations);
    assert_eq!(c.macs, import_tflite(&bytes).unwrap().macs);
}

#[test]
fn ad01_fc_with_relu_becomes_pointwise_conv() {
    let Some((bytes, c, v)) = convert("ad01") else { return };
    use LayerType::*;
    let mut want = vec![Conv2d; 9];
    want.push(Fc);
    assert_eq!(types(&v), want);
    for l in &v.layers[..9] {
        let conv = l.conv.as_ref().unwrap();
        assert_eq!((conv.kernel_w, conv.kernel_h, conv.act, conv.pad, conv.depth_mul), (1, 1, 1, [0; 4], 0));
        assert_eq!((l.in_dims[1], l.in_dims[2]), (1, 1));
    }
    assert_eq!(v.header.in_dims, [1, 1, 1, 640]);
    assert_eq!(v.header.out_dims, [1, 1, 1, 640]);
    assert_eq!(c.buf_size, 768, "640-byte input and a 128-byte intermediate");
    check_plan(&v);
    assert!(c.approximations.iter().any(|a| a.contains("FULLY_CONNECTED") && a.contains("1x1 CONV2D")));
    assert_eq!(c.macs, import_tflite(&bytes).unwrap().macs);
}

#[test]
fn ic01_add_with_relu_gets_identity_conv() {
    let Some((bytes, c, v)) = convert("ic01") else { return };
    use LayerType::*;
    assert_eq!(
        types(&v),
        [
            Conv2d, Conv2d, Conv2d, Add, Conv2d, // block 1 (ADD + identity RELU conv)
            Conv2d, Conv2d, Conv2d, Add, Conv2d, // block 2
            Conv2d, Conv2d, Conv2d, Add, Conv2d, // block 3
            Gap, Reshape, Fc, Softmax
        ]
    );
    for k in [3usize, 8, 13] {
        let (add, id) = (&v.layers[k], &v.layers[k + 1]);
        let (_, s1, _) = add.add.unwrap();
        assert!(s1 > 0.0);
        // The identity conv reads the ADD's intermediate and applies RELU.
        assert_eq!(id.in_oft, add.out_oft);
        assert_eq!((id.in_s, id.in_zp), (add.out_s, add.out_zp));
        let conv = id.conv.as_ref().unwrap();
        let ch = id.out_dims[3] as usize;
        assert_eq!(conv.act, 1);
        assert!(conv.weight_scales.iter().all(|&s| s == 1.0));
        for o in 0..ch {
            for i in 0..ch {
                assert_eq!(conv.weights[o * ch + i], (o == i) as i8);
            }
            assert_eq!(conv.bias[o], -add.out_zp);
        }
        // The intermediate holds every possible sum without wrapping.
        let a = (add.in_s as f64, add.in_zp as f64);
        let b = (add.add.unwrap().1 as f64, add.add.unwrap().2 as f64);
        for (qa, qb) in [(-128.0, -128.0), (127.0, 127.0)] {
            let sum = a.0 * (qa - a.1) + b.0 * (qb - b.1);
            let q = sum / add.out_s as f64 + add.out_zp as f64;
            assert!(q > -129.0 && q < 128.0, "layer {k}: {q}");
        }
    }
    check_plan(&v);
    let extra: u64 = 32 * 32 * 16 * 16 + 16 * 16 * 32 * 32 + 8 * 8 * 64 * 64;
    assert_eq!(c.macs, import_tflite(&bytes).unwrap().macs + extra);
    assert!(c.approximations.iter().any(|a| a.contains("ADD with fused Relu")), "{:#?}", c.approximations);
}

#[test]
fn vww01_converts_within_ping_pong_bound() {
    let Some((_, c, v)) = convert("vww01") else { return };
    assert_eq!(v.layers.len(), 31);
    assert_eq!(v.header.in_dims, [3, 96, 96, 3]);
    // TinyMaix's ping-pong plan needs max(in + out) = 48*48*16 + 48*48*8 bytes.
    assert!(c.buf_size <= 55_296, "{}", c.buf_size);
    assert_eq!((c.scratch.max_csize, c.scratch.max_kcsize), (256, 2304));
    check_plan(&v);
}

/// Rewrites every operator code that is `from` to builtin `to`.
fn retarget_opcode(bytes: &mut [u8], from: i32, to: i32) {
    let patches: Vec<(Option<usize>, Option<usize>)> = {
        let fb = Fb::new(bytes);
        let root = fb.root("Model").unwrap();
        root.tables(1, "operator_codes")
            .unwrap()
            .iter()
            .filter(|t| t.i8(0, "d", 0).unwrap() as i32 == from || t.i32(3, "b", 0).unwrap() == from)
            .map(|t| (t.field_position(0), t.field_position(3)))
            .collect()
    };
    assert!(!patches.is_empty());
    for (dep, code) in patches {
        if let Some(p) = dep {
            bytes[p] = to.min(127) as u8;
        }
        if let Some(p) = code {
            bytes[p..p + 4].copy_from_slice(&to.to_le_bytes());
        }
    }
}

#[test]
fn operators_without_a_tinymaix_layer_are_listed() {
    let Some(mut bytes) = model_bytes("kws01") else { return };
    retarget_opcode(&mut bytes, 1, 17); // AVERAGE_POOL_2D -> MAX_POOL_2D
    let err = convert_tflite(&bytes).unwrap_err();
    assert_eq!(err, ConvertError::UnsupportedOps { ops: vec![(9, "MAX_POOL_2D".into())] });
    assert_eq!(err.short(), "unsupported: MAX_POOL_2D");
    assert!(err.to_string().contains("#9 MAX_POOL_2D"), "{err}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(matches!(convert_tflite(b"not a model"), Err(ConvertError::Parse(_))));
    assert!(format::parse(b"MAIX").is_err());
    let Some((_, c, _)) = convert("kws01") else { return };
    for cut in [10, 64, 100, c.bytes.len() - 1] {
        assert!(format::parse(&c.bytes[..cut]).is_err(), "cut at {cut}");
    }
}
