//! FFI declarations of the Arm CMSIS-NN int8 functions the mcubench adapter calls, as declared
//! in CMSIS-NN's `Include/arm_nnfunctions.h` and `Include/arm_nn_types.h`. The library is
//! compiled from a CMSIS-NN checkout by `build.rs` (see there for the settings); the struct
//! layouts are checked against the C headers at build time (`csrc/layout_check.c`).
#![no_std]
#![allow(non_camel_case_types)]

use core::ffi::c_void;

/// `<API revision from arm_nnfunctions.h> (<commit>)`, or the `MCUBENCH_CMSIS_NN_VERSION` setting.
pub const VERSION: &str = env!("MCUBENCH_CMSIS_NN_VERSION");
/// Kernel variant, compiler and flags the library was built with.
pub const BUILD: &str = env!("MCUBENCH_CMSIS_NN_BUILD");
/// `<commit> (<variant>, <compiler> <flags>)`: the version string mcubench records.
pub const VERSION_AND_BUILD: &str =
    concat!(env!("MCUBENCH_CMSIS_NN_VERSION"), " (", env!("MCUBENCH_CMSIS_NN_BUILD"), ")");
/// `mve`, `dsp` or `c`: which CMSIS-NN code paths the flags selected.
pub const VARIANT: &str = env!("MCUBENCH_CMSIS_NN_VARIANT");

/// `arm_cmsis_nn_status`. arm-none-eabi uses short enums, so the C type is one signed byte.
pub type arm_cmsis_nn_status = i8;
pub const ARM_CMSIS_NN_SUCCESS: arm_cmsis_nn_status = 0;
pub const ARM_CMSIS_NN_ARG_ERROR: arm_cmsis_nn_status = -1;
pub const ARM_CMSIS_NN_NO_IMPL_ERROR: arm_cmsis_nn_status = -2;
pub const ARM_CMSIS_NN_FAILURE: arm_cmsis_nn_status = -3;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cmsis_nn_context {
    pub buf: *mut c_void,
    pub size: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_tile {
    pub w: i32,
    pub h: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_dims {
    pub n: i32,
    pub h: i32,
    pub w: i32,
    pub c: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_activation {
    pub min: i32,
    pub max: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cmsis_nn_per_channel_quant_params {
    pub multiplier: *mut i32,
    pub shift: *mut i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_per_tensor_quant_params {
    pub multiplier: i32,
    pub shift: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_conv_params {
    pub input_offset: i32,
    pub output_offset: i32,
    pub stride: cmsis_nn_tile,
    pub padding: cmsis_nn_tile,
    pub dilation: cmsis_nn_tile,
    pub activation: cmsis_nn_activation,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_dw_conv_params {
    pub input_offset: i32,
    pub output_offset: i32,
    pub ch_mult: i32,
    pub stride: cmsis_nn_tile,
    pub padding: cmsis_nn_tile,
    pub dilation: cmsis_nn_tile,
    pub activation: cmsis_nn_activation,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_pool_params {
    pub stride: cmsis_nn_tile,
    pub padding: cmsis_nn_tile,
    pub activation: cmsis_nn_activation,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cmsis_nn_fc_params {
    pub input_offset: i32,
    pub filter_offset: i32,
    pub output_offset: i32,
    pub activation: cmsis_nn_activation,
}

extern "C" {
    pub fn arm_convolve_wrapper_s8(
        ctx: *const cmsis_nn_context,
        conv_params: *const cmsis_nn_conv_params,
        quant_params: *const cmsis_nn_per_channel_quant_params,
        input_dims: *const cmsis_nn_dims,
        input_data: *const i8,
        filter_dims: *const cmsis_nn_dims,
        filter_data: *const i8,
        bias_dims: *const cmsis_nn_dims,
        bias_data: *const i32,
        output_dims: *const cmsis_nn_dims,
        output_data: *mut i8,
    ) -> arm_cmsis_nn_status;

    pub fn arm_convolve_wrapper_s8_get_buffer_size(
        conv_params: *const cmsis_nn_conv_params,
        input_dims: *const cmsis_nn_dims,
        filter_dims: *const cmsis_nn_dims,
        output_dims: *const cmsis_nn_dims,
    ) -> i32;

    pub fn arm_depthwise_conv_wrapper_s8(
        ctx: *const cmsis_nn_context,
        dw_conv_params: *const cmsis_nn_dw_conv_params,
        quant_params: *const cmsis_nn_per_channel_quant_params,
        input_dims: *const cmsis_nn_dims,
        input_data: *const i8,
        filter_dims: *const cmsis_nn_dims,
        filter_data: *const i8,
        bias_dims: *const cmsis_nn_dims,
        bias_data: *const i32,
        output_dims: *const cmsis_nn_dims,
        output_data: *mut i8,
    ) -> arm_cmsis_nn_status;

    pub fn arm_depthwise_conv_wrapper_s8_get_buffer_size(
        dw_conv_params: *const cmsis_nn_dw_conv_params,
        input_dims: *const cmsis_nn_dims,
        filter_dims: *const cmsis_nn_dims,
        output_dims: *const cmsis_nn_dims,
    ) -> i32;

    pub fn arm_fully_connected_s8(
        ctx: *const cmsis_nn_context,
        fc_params: *const cmsis_nn_fc_params,
        quant_params: *const cmsis_nn_per_tensor_quant_params,
        input_dims: *const cmsis_nn_dims,
        input_data: *const i8,
        filter_dims: *const cmsis_nn_dims,
        filter_data: *const i8,
        bias_dims: *const cmsis_nn_dims,
        bias_data: *const i32,
        output_dims: *const cmsis_nn_dims,
        output_data: *mut i8,
    ) -> arm_cmsis_nn_status;

    pub fn arm_fully_connected_per_channel_s8(
        ctx: *const cmsis_nn_context,
        fc_params: *const cmsis_nn_fc_params,
        quant_params: *const cmsis_nn_per_channel_quant_params,
        input_dims: *const cmsis_nn_dims,
        input_data: *const i8,
        filter_dims: *const cmsis_nn_dims,
        filter_data: *const i8,
        bias_dims: *const cmsis_nn_dims,
        bias_data: *const i32,
        output_dims: *const cmsis_nn_dims,
        output_data: *mut i8,
    ) -> arm_cmsis_nn_status;

    /// Bytes of `ctx` buffer `arm_fully_connected_s8` needs (on MVE: the kernel sums made by
    /// [`arm_vector_sum_s8`]).
    pub fn arm_fully_connected_s8_get_buffer_size(filter_dims: *const cmsis_nn_dims) -> i32;

    pub fn arm_vector_sum_s8(
        vector_sum_buf: *mut i32,
        vector_cols: i32,
        vector_rows: i32,
        vector_data: *const i8,
        lhs_offset: i32,
        rhs_offset: i32,
        bias_data: *const i32,
    ) -> arm_cmsis_nn_status;

    pub fn arm_avgpool_s8(
        ctx: *const cmsis_nn_context,
        pool_params: *const cmsis_nn_pool_params,
        input_dims: *const cmsis_nn_dims,
        input_data: *const i8,
        filter_dims: *const cmsis_nn_dims,
        output_dims: *const cmsis_nn_dims,
        output_data: *mut i8,
    ) -> arm_cmsis_nn_status;

    pub fn arm_avgpool_s8_get_buffer_size(dim_dst_width: i32, ch_src: i32) -> i32;

    pub fn arm_max_pool_s8(
        ctx: *const cmsis_nn_context,
        pool_params: *const cmsis_nn_pool_params,
        input_dims: *const cmsis_nn_dims,
        input_data: *const i8,
        filter_dims: *const cmsis_nn_dims,
        output_dims: *const cmsis_nn_dims,
        output_data: *mut i8,
    ) -> arm_cmsis_nn_status;

    pub fn arm_elementwise_add_s8(
        input_1_vect: *const i8,
        input_2_vect: *const i8,
        input_1_offset: i32,
        input_1_mult: i32,
        input_1_shift: i32,
        input_2_offset: i32,
        input_2_mult: i32,
        input_2_shift: i32,
        left_shift: i32,
        output: *mut i8,
        out_offset: i32,
        out_mult: i32,
        out_shift: i32,
        out_activation_min: i32,
        out_activation_max: i32,
        block_size: i32,
    ) -> arm_cmsis_nn_status;

    pub fn arm_softmax_s8(
        input: *const i8,
        num_rows: i32,
        row_size: i32,
        mult: i32,
        shift: i32,
        diff_min: i32,
        output: *mut i8,
    );
}
