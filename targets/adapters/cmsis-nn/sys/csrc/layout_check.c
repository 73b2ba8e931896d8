/* Compile-time checks that the #[repr(C)] declarations in src/lib.rs match CMSIS-NN's
 * headers (sizes and field offsets on the target). Part of mcubench, not of CMSIS-NN. */
#include <stddef.h>
#include "arm_nnfunctions.h"

#define CHECK(cond) _Static_assert(cond, #cond)

CHECK(sizeof(cmsis_nn_context) == 8);
CHECK(offsetof(cmsis_nn_context, size) == 4);
CHECK(sizeof(cmsis_nn_tile) == 8 && offsetof(cmsis_nn_tile, h) == 4);
CHECK(sizeof(cmsis_nn_dims) == 16);
CHECK(offsetof(cmsis_nn_dims, n) == 0 && offsetof(cmsis_nn_dims, h) == 4);
CHECK(offsetof(cmsis_nn_dims, w) == 8 && offsetof(cmsis_nn_dims, c) == 12);
CHECK(sizeof(cmsis_nn_activation) == 8 && offsetof(cmsis_nn_activation, max) == 4);
CHECK(sizeof(cmsis_nn_per_channel_quant_params) == 8);
CHECK(offsetof(cmsis_nn_per_channel_quant_params, shift) == 4);
CHECK(sizeof(cmsis_nn_per_tensor_quant_params) == 8);
CHECK(offsetof(cmsis_nn_per_tensor_quant_params, shift) == 4);
CHECK(sizeof(cmsis_nn_conv_params) == 40);
CHECK(offsetof(cmsis_nn_conv_params, output_offset) == 4);
CHECK(offsetof(cmsis_nn_conv_params, stride) == 8);
CHECK(offsetof(cmsis_nn_conv_params, padding) == 16);
CHECK(offsetof(cmsis_nn_conv_params, dilation) == 24);
CHECK(offsetof(cmsis_nn_conv_params, activation) == 32);
CHECK(sizeof(cmsis_nn_dw_conv_params) == 44);
CHECK(offsetof(cmsis_nn_dw_conv_params, ch_mult) == 8);
CHECK(offsetof(cmsis_nn_dw_conv_params, stride) == 12);
CHECK(offsetof(cmsis_nn_dw_conv_params, padding) == 20);
CHECK(offsetof(cmsis_nn_dw_conv_params, dilation) == 28);
CHECK(offsetof(cmsis_nn_dw_conv_params, activation) == 36);
CHECK(sizeof(cmsis_nn_pool_params) == 24);
CHECK(offsetof(cmsis_nn_pool_params, padding) == 8);
CHECK(offsetof(cmsis_nn_pool_params, activation) == 16);
CHECK(sizeof(cmsis_nn_fc_params) == 20);
CHECK(offsetof(cmsis_nn_fc_params, filter_offset) == 4);
CHECK(offsetof(cmsis_nn_fc_params, output_offset) == 8);
CHECK(offsetof(cmsis_nn_fc_params, activation) == 12);
/* arm-none-eabi uses short enums: the status is one (signed) byte. */
CHECK(sizeof(arm_cmsis_nn_status) == 1);
