//! Structure-aware fuzzing of the `.tflite` importer (issue 9, reliability).
//!
//! `robustness.rs` already covers truncation on a byte grid, byte flips on a grid, random bytes
//! and random patches of ad01, and one huge vector length. This file adds what a byte grid rarely
//! hits: it walks the flatbuffer of each real MLPerf Tiny model (the TFLite schema for the tables
//! the importer reads) and overwrites every structural site with hostile values:
//! - the root offset, every table's vtable offset, every vtable's sizes and field entries, every
//!   offset to a table/vector/string (0, 1, misaligned, just past the end, 2^31, 2^32 - 1,
//!   backwards into other objects), every vector length (0, one more, 2^30, 2^31, 2^32 - 1);
//! - every tensor dimension (0, -1, 2^28, 2^28 + 1, 2^30, i32::MAX, i32::MIN), tensor type and
//!   buffer index, operator opcode index, quantization scale (NaN, inf, 0, negative, denormal)
//!   and zero point (i64::MIN, 128, -129);
//! - truncation exactly at, and just after, every site.
//! Cases: one import per (site, value) and per cut; sites of the larger models are sampled with a
//! fixed seed to at most `MAX_CASES_PER_MODEL` (about 24,000 hostile values and 19,000 cuts over the four models).
//!
//! Properties: no panic; an error or a model whose blob validates (and, for ad01, runs); each import finishes within
//! 2 s and its peak heap use (measured by a counting allocator, per thread) stays under
//! `4 * file size + 16 MiB`, so no claimed size is ever allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use mcubench_runtime::{Interpreter, Model};
use mcubench_workloads::{all, import_tflite};

// ---- A per-thread counting allocator: tests in this binary run on parallel threads. ----

struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        track(l.size() as isize);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        track(l.size() as isize);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        track(-(l.size() as isize));
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        track(new as isize - l.size() as isize);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, returning its result and the peak heap growth on this thread while it ran.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - base).max(0) as usize)
}

// ---- Walking the flatbuffer ----

fn u16_at(b: &[u8], p: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(p..p + 2)?.try_into().ok()?) as usize)
}
fn u32_at(b: &[u8], p: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?) as usize)
}
fn i32_at(b: &[u8], p: usize) -> Option<i64> {
    Some(i32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?) as i64)
}

/// What is stored at a site, which decides the hostile values written there.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A `uoffset` (u32, relative to its own position).
    Offset,
    /// A table's `soffset` to its vtable (i32, subtracted from the table position).
    VtableOffset,
    /// A vtable's byte size or the table's inline size (u16).
    VtableSize,
    /// A field entry in a vtable (u16 offset into the table).
    VtableEntry,
    /// A vector's element count (u32).
    VectorLen,
    /// A tensor dimension (i32).
    Dim,
    /// A tensor type (i8).
    TensorType,
    /// A u32 index (tensor buffer, opcode index).
    Index,
    /// An i32 tensor index in operator/subgraph inputs and outputs.
    TensorRef,
    /// A quantization scale (f32).
    Scale,
    /// A quantization zero point (i64).
    ZeroPoint,
}

#[derive(Debug, Clone)]
struct Site {
    pos: usize,
    kind: Kind,
    what: String,
}

/// The parts of the TFLite schema the importer reads: (slot, name, shape of the field).
#[derive(Clone, Copy)]
enum F {
    Tables(&'static str),
    Table(&'static str),
    Vector(usize, Kind),
    Str,
    Scalar(Kind),
}

fn schema(table: &str) -> &'static [(usize, &'static str, F)] {
    match table {
        "Model" => &[
            (1, "operator_codes", F::Tables("OperatorCode")),
            (2, "subgraphs", F::Tables("SubGraph")),
            (3, "description", F::Str),
            (4, "buffers", F::Tables("Buffer")),
        ],
        "OperatorCode" => &[(1, "custom_code", F::Str)],
        "SubGraph" => &[
            (0, "tensors", F::Tables("Tensor")),
            (1, "inputs", F::Vector(4, Kind::TensorRef)),
            (2, "outputs", F::Vector(4, Kind::TensorRef)),
            (3, "operators", F::Tables("Operator")),
            (4, "name", F::Str),
        ],
        "Tensor" => &[
            (0, "shape", F::Vector(4, Kind::Dim)),
            (1, "type", F::Scalar(Kind::TensorType)),
            (2, "buffer", F::Scalar(Kind::Index)),
            (3, "name", F::Str),
            (4, "quantization", F::Table("Quantization")),
        ],
        "Quantization" => &[(2, "scale", F::Vector(4, Kind::Scale)), (3, "zero_point", F::Vector(8, Kind::ZeroPoint))],
        "Operator" => &[
            (0, "opcode_index", F::Scalar(Kind::Index)),
            (1, "inputs", F::Vector(4, Kind::TensorRef)),
            (2, "outputs", F::Vector(4, Kind::TensorRef)),
            (4, "builtin_options", F::Table("Options")),
        ],
        "Buffer" => &[(0, "data", F::Vector(1, Kind::Index))],
        _ => &[],
    }
}

struct Walker<'a> {
    b: &'a [u8],
    sites: Vec<Site>,
}

impl Walker<'_> {
    fn site(&mut self, pos: usize, kind: Kind, what: String) {
        self.sites.push(Site { pos, kind, what });
    }

    fn table(&mut self, pos: usize, ty: &'static str, what: &str) -> Option<()> {
        let b = self.b;
        self.site(pos, Kind::VtableOffset, format!("{what} (vtable offset)"));
        let vt = (pos as i64 - i32_at(b, pos)?) as usize;
        let vt_len = u16_at(b, vt)?;
        self.site(vt, Kind::VtableSize, format!("{what} (vtable size)"));
        self.site(vt + 2, Kind::VtableSize, format!("{what} (table size)"));
        for &(slot, name, f) in schema(ty) {
            let entry = vt + 4 + 2 * slot;
            if entry + 2 > vt + vt_len {
                continue;
            }
            let fo = u16_at(b, entry)?;
            if fo == 0 {
                continue;
            }
            let fw = format!("{what}.{name}");
            self.site(entry, Kind::VtableEntry, format!("{fw} (vtable entry)"));
            let fp = pos + fo;
            match f {
                F::Scalar(k) => self.site(fp, k, fw),
                F::Table(t) => {
                    self.site(fp, Kind::Offset, format!("{fw} (offset)"));
                    let target = fp + u32_at(b, fp)?;
                    if t != "Options" {
                        self.table(target, t, &fw);
                    } else {
                        // Options tables differ per operator; only their vtable offset.
                        self.site(target, Kind::VtableOffset, format!("{fw} (vtable offset)"));
                    }
                }
                F::Str | F::Vector(..) | F::Tables(_) => {
                    self.site(fp, Kind::Offset, format!("{fw} (offset)"));
                    let v = fp + u32_at(b, fp)?;
                    let n = u32_at(b, v)?;
                    self.site(v, Kind::VectorLen, format!("{fw} (length)"));
                    match f {
                        F::Vector(esize, k) if k != Kind::Index => {
                            for i in 0..n.min(16) {
                                self.site(v + 4 + i * esize, k, format!("{fw}[{i}]"));
                            }
                        }
                        F::Tables(t) => {
                            for i in 0..n {
                                let e = v + 4 + 4 * i;
                                self.site(e, Kind::Offset, format!("{fw}[{i}] (offset)"));
                                let target = e + u32_at(b, e)?;
                                self.table(target, t, &format!("{fw}[{i}]"));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Some(())
    }
}

fn sites(bytes: &[u8]) -> Vec<Site> {
    let mut w = Walker { b: bytes, sites: vec![Site { pos: 0, kind: Kind::Offset, what: "root offset".into() }] };
    let root = u32_at(bytes, 0).unwrap();
    w.table(root, "Model", "Model").expect("the real model walks");
    w.sites
}

/// Hostile values for a site, as (bytes to write, label).
fn values(site: &Site, bytes: &[u8]) -> Vec<Vec<u8>> {
    let p = site.pos;
    let len = bytes.len();
    let u32s = |v: &[u64]| v.iter().map(|&x| (x as u32).to_le_bytes().to_vec()).collect::<Vec<_>>();
    let i32s = |v: &[i64]| v.iter().map(|&x| (x as i32).to_le_bytes().to_vec()).collect::<Vec<_>>();
    let u16s = |v: &[usize]| v.iter().map(|&x| (x as u16).to_le_bytes().to_vec()).collect::<Vec<_>>();
    match site.kind {
        Kind::Offset => {
            let cur = u32_at(bytes, p).unwrap_or(0) as u64;
            let to_end = (len - p) as u64;
            u32s(&[0, 1, 2, cur + 1, cur.wrapping_sub(8), to_end, to_end - 1, to_end - 4, 0x7fff_fffc, 0x8000_0000, 0xffff_fffc, 0xffff_ffff])
        }
        Kind::VtableOffset => {
            let cur = i32_at(bytes, p).unwrap_or(0);
            i32s(&[0, 2, cur + 2, cur - 2, p as i64 + 4, -(len as i64), i32::MIN as i64, i32::MAX as i64, -4])
        }
        Kind::VtableSize => u16s(&[0, 1, 2, 3, 4, 5, 0xfffe, 0xffff, u16_at(bytes, p).unwrap_or(0) + 2]),
        Kind::VtableEntry => u16s(&[1, 2, 3, 0x7fff, 0xfffe, 0xffff]),
        Kind::VectorLen => {
            let cur = u32_at(bytes, p).unwrap_or(0) as u64;
            u32s(&[0, cur + 1, ((len - p) / 4) as u64, (len - p) as u64, 1 << 28, 1 << 30, 1 << 31, 0xffff_ffff])
        }
        Kind::Dim => i32s(&[0, -1, 1 << 16, (1 << 28) + 1, 1 << 28, 1 << 30, i32::MAX as i64, i32::MIN as i64]),
        Kind::TensorType => [-1i8, 0, 1, 2, 4, 7, 9, 10, 16, 17, 127, -128].iter().map(|&t| vec![t as u8]).collect(),
        Kind::Index => u32s(&[1, 0xffff, 0x7fff_ffff, 0xffff_ffff]),
        Kind::TensorRef => i32s(&[-1, -2, 0, 0xffff, i32::MAX as i64, i32::MIN as i64]),
        Kind::Scale => [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -1.0, 1e-45, f32::MAX]
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect(),
        Kind::ZeroPoint => [i64::MIN, i64::MAX, 128, -129, 1 << 40].iter().map(|v| v.to_le_bytes().to_vec()).collect(),
    }
}

/// Imports `bytes` and checks the properties; returns whether it was accepted. With `run`, an
/// accepted model is also run once by the reference interpreter.
fn check(bytes: &[u8], what: &str) -> bool {
    check_and_run(bytes, what, false)
}

fn check_and_run(bytes: &[u8], what: &str, run: bool) -> bool {
    let t = Instant::now();
    let (r, peak) = measured(|| import_tflite(bytes));
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "{what}: import took {took:?}");
    let limit = 4 * bytes.len() + (16 << 20);
    assert!(peak <= limit, "{what}: import allocated {peak} bytes at peak (limit {limit})");
    match r {
        Ok(im) => {
            let m = Model::from_bytes(&im.blob).unwrap_or_else(|e| panic!("{what}: accepted, but the blob does not validate: {e:?}"));
            if run && m.arena_bytes() < 16 << 20 {
                let mut arena = vec![0u8; m.arena_bytes()];
                let mut it = Interpreter::new(&m, &mut arena).unwrap_or_else(|e| panic!("{what}: {e:?}"));
                it.invoke().unwrap_or_else(|e| panic!("{what}: accepted, but does not run: {e:?}"));
            }
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "{what}: empty error message");
            false
        }
    }
}

/// Cap on imports per model (sites of the larger models are sampled).
const MAX_CASES_PER_MODEL: usize = 6_000;

/// A small deterministic generator (xorshift64*), for sampling sites with a fixed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn model(id: &str) -> Option<Vec<u8>> {
    let w = mcubench_workloads::by_id(id).unwrap();
    match std::fs::read(w.model_path()) {
        Ok(b) => Some(b),
        Err(_) => {
            println!("SKIP: model file {} not found", w.model_path().display());
            None
        }
    }
}

/// Every (site, value) case of one model, sampled down to the cap with a fixed seed.
fn cases(bytes: &[u8], seed: u64) -> (Vec<Site>, Vec<(usize, Vec<u8>)>) {
    let sites = sites(bytes);
    let mut all: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, s) in sites.iter().enumerate() {
        for v in values(s, bytes) {
            all.push((i, v));
        }
    }
    let mut rng = Rng(seed);
    while all.len() > MAX_CASES_PER_MODEL {
        let k = (rng.next() % all.len() as u64) as usize;
        all.swap_remove(k);
    }
    (sites, all)
}

fn fuzz_model(id: &str, seed: u64) {
    let Some(bytes) = model(id) else { return };
    let t = Instant::now();
    assert!(check(&bytes, id), "{id}: the unmodified model must import");
    let (sites, cases) = cases(&bytes, seed);
    let mut b = bytes.clone();
    let mut accepted = 0;
    for (i, v) in &cases {
        let s = &sites[*i];
        let end = (s.pos + v.len()).min(b.len());
        let old = b[s.pos..end].to_vec();
        b[s.pos..end].copy_from_slice(&v[..end - s.pos]);
        // The small model is also run when accepted: a blob that validates must run.
        accepted += usize::from(check_and_run(&b, &format!("{id}: {} at byte {} = {v:02x?}", s.what, s.pos), id == "ad01"));
        b[s.pos..end].copy_from_slice(&old);
    }
    // Truncation exactly at and just after every site.
    let mut cuts: Vec<usize> = sites.iter().flat_map(|s| [s.pos, s.pos + 1, s.pos + 4]).filter(|&c| c < bytes.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    for &c in &cuts {
        assert!(!check(&bytes[..c], &format!("{id}: truncated at {c}")), "{id}: truncated at {c} of {} was accepted", bytes.len());
    }
    println!(
        "{id}: {} sites, {} hostile values ({accepted} still accepted and valid), {} truncations rejected, {:?}",
        sites.len(),
        cases.len(),
        cuts.len(),
        t.elapsed()
    );
}

#[test]
fn hostile_structure_ad01() {
    fuzz_model("ad01", 1);
}

#[test]
fn hostile_structure_kws01() {
    fuzz_model("kws01", 2);
}

#[test]
fn hostile_structure_vww01() {
    fuzz_model("vww01", 3);
}

#[test]
fn hostile_structure_ic01() {
    fuzz_model("ic01", 4);
}

#[test]
fn every_workload_is_covered() {
    let ids: Vec<&str> = all().iter().map(|w| w.id).collect();
    for id in &ids {
        assert!(["ad01", "kws01", "vww01", "ic01"].contains(id), "no hostile_structure test for {id}");
    }
}

/// A tensor that claims 2^31 - 1 (or 2^30) elements must be refused without allocating anything
/// near that size. Tensors the importer never reads (the shape operand of RESHAPE) may keep any
/// shape, but then the claimed size must not reach the imported model.
#[test]
fn huge_claimed_tensor_is_refused_cheaply() {
    let Some(bytes) = model("kws01") else { return };
    let dims: Vec<Site> = sites(&bytes).into_iter().filter(|s| s.kind == Kind::Dim).collect();
    assert!(dims.len() > 8);
    let (mut refused, mut ignored) = (0, 0);
    for s in &dims {
        let mut b = bytes.clone();
        for v in [i32::MAX, 1 << 30] {
            b[s.pos..s.pos + 4].copy_from_slice(&v.to_le_bytes());
            let (r, peak) = measured(|| import_tflite(&b));
            assert!(peak < 4 * bytes.len() + (16 << 20), "{}: {peak} bytes allocated for a claimed huge tensor", s.what);
            match r {
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    refused += 1;
                }
                Ok(im) => {
                    assert!(im.arena_bytes < 1 << 24 && im.blob.len() < 2 * bytes.len(), "{}: dimension {v} reached the model", s.what);
                    ignored += 1;
                }
            }
        }
    }
    println!("kws01 dimensions set to 2^31 - 1 and 2^30: {refused} refused, {ignored} on tensors the importer does not read");
    assert!(refused > ignored);
}

/// The memory bound above is only as good as the counter: it must see a real allocation.
#[test]
fn the_allocation_counter_counts() {
    let (v, peak) = measured(|| vec![1u8; 8 << 20]);
    assert!(peak >= 8 << 20, "{peak}");
    drop(v);
    let Some(bytes) = model("ad01") else { return };
    let (r, peak) = measured(|| import_tflite(&bytes));
    assert!(r.is_ok());
    assert!(peak >= bytes.len() / 2, "importing {} bytes peaked at {peak}", bytes.len());
    println!("ad01: {} bytes of .tflite, import peak heap {peak} bytes", bytes.len());
}
