//! TinyMaix's C runtime (int8 models) for the mcubench firmware: FFI declarations of
//! `tm_load` / `tm_run` and the build facts. See build.rs for how it is compiled and where
//! the sources come from.
#![no_std]

use core::ffi::c_void;

/// TinyMaix's version (upstream commit), flags and configuration, for the results.
pub const BUILD_INFO: &str = env!("TINYMAIX_BUILD_INFO");
/// Settings, compiler and flags (BUILD_INFO without the version).
pub const BUILD: &str = env!("TINYMAIX_BUILD");
/// Upstream commit of the sources compiled.
pub const VERSION: &str = env!("TINYMAIX_VERSION");
/// `CPU`, `ARM_SIMD` or `ARM_MVEI`.
pub const ARCH: &str = env!("TINYMAIX_ARCH");

/// `tm_mat_t`: dims, h, w, c and the data pointer (HWC int8).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TmMat {
    pub dims: u16,
    pub h: u16,
    pub w: u16,
    pub c: u16,
    pub data: *mut i8,
}

impl TmMat {
    pub const fn empty() -> TmMat {
        TmMat { dims: 0, h: 0, w: 0, c: 0, data: core::ptr::null_mut() }
    }
}

/// `tm_mdl_t`: the runtime's handle of a loaded model.
#[repr(C)]
#[derive(Debug)]
pub struct TmMdl {
    pub b: *const u8,
    pub cb: *const c_void,
    pub buf: *mut u8,
    pub subbuf: *mut u8,
    pub main_alloc: u16,
    pub layer_i: u16,
    pub layer_body: *mut u8,
}

impl TmMdl {
    pub const fn empty() -> TmMdl {
        TmMdl {
            b: core::ptr::null(),
            cb: core::ptr::null(),
            buf: core::ptr::null_mut(),
            subbuf: core::ptr::null_mut(),
            main_alloc: 0,
            layer_i: 0,
            layer_body: core::ptr::null_mut(),
        }
    }
}

/// `tm_err_t` values.
pub fn err_name(code: i32) -> &'static str {
    match code {
        0 => "TM_OK",
        1 => "TM_ERR",
        2 => "TM_ERR_MAGIC",
        3 => "TM_ERR_UNSUPPORT",
        4 => "TM_ERR_OOM",
        5 => "TM_ERR_LAYERTYPE",
        6 => "TM_ERR_DIMS",
        7 => "TM_ERR_TODO",
        8 => "TM_ERR_MDLTYPE",
        9 => "TM_ERR_KSIZE",
        _ => "unknown tm_err_t",
    }
}

pub type TmLayerCb = unsafe extern "C" fn(mdl: *mut TmMdl, lh: *mut c_void) -> i32;

extern "C" {
    /// Loads a model: `bin` must stay valid and 8-byte aligned, `buf` holds `buf_size` bytes.
    pub fn tm_load(mdl: *mut TmMdl, bin: *const u8, buf: *mut u8, cb: Option<TmLayerCb>, input: *mut TmMat) -> i32;
    /// Runs every layer; `out` receives the output matrix.
    pub fn tm_run(mdl: *mut TmMdl, input: *mut TmMat, out: *mut TmMat) -> i32;
}

/// TinyMaix's softmax calls the C library's `exp` (TM_LOCAL_MATH = 0); the firmware links no
/// C library, so it is provided here (musl's algorithm, from the `libm` crate).
#[no_mangle]
pub extern "C" fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// In case the compiler narrows `(float)exp((double)x)`.
#[no_mangle]
pub extern "C" fn expf(x: f32) -> f32 {
    libm::expf(x)
}
