/* Host tool (part of mcubench, not of CMSIS-NN): the scratch buffer each operator of a model
 * needs on the target, computed with CMSIS-NN's own *_get_buffer_size functions in their
 * "for compilation on host" variants (_dsp, _mve) or the plain ones (pure C).
 *
 * usage: scratch_size mve|dsp|c  < ops
 * Each input line: kind n ih iw ic fn fh fw fc on oh ow oc stride_w stride_h pad_w pad_h
 *                  dil_w dil_h ch_mult
 * kind: 1 CONV_2D, 2 DEPTHWISE_CONV_2D, 3 AVERAGE_POOL_2D. Filter dims as CMSIS-NN takes them.
 * Output: one line per input line, the bytes needed. */
#include <stdio.h>
#include <string.h>

#include "arm_nnfunctions.h"

enum { MVE, DSP, PLAIN };

int main(int argc, char **argv)
{
    if (argc != 2)
    {
        fprintf(stderr, "usage: %s mve|dsp|c < ops\n", argv[0]);
        return 2;
    }
    int variant = strcmp(argv[1], "mve") == 0 ? MVE : strcmp(argv[1], "dsp") == 0 ? DSP : PLAIN;
    int v[20];
    for (;;)
    {
        int got = 0;
        for (int i = 0; i < 20; i++)
        {
            if (scanf("%d", &v[i]) != 1)
                break;
            got++;
        }
        if (got == 0)
            return 0;
        if (got != 20)
        {
            fprintf(stderr, "scratch_size: malformed input line\n");
            return 2;
        }
        const cmsis_nn_dims in = {v[1], v[2], v[3], v[4]};
        const cmsis_nn_dims filter = {v[5], v[6], v[7], v[8]};
        const cmsis_nn_dims out = {v[9], v[10], v[11], v[12]};
        const cmsis_nn_tile stride = {v[13], v[14]};
        const cmsis_nn_tile padding = {v[15], v[16]};
        const cmsis_nn_tile dilation = {v[17], v[18]};
        const cmsis_nn_activation act = {-128, 127};
        int32_t size = 0;
        switch (v[0])
        {
        case 1: {
            const cmsis_nn_conv_params p = {0, 0, stride, padding, dilation, act};
            size = variant == MVE   ? arm_convolve_wrapper_s8_get_buffer_size_mve(&p, &in, &filter, &out)
                : variant == DSP ? arm_convolve_wrapper_s8_get_buffer_size_dsp(&p, &in, &filter, &out)
                                 : arm_convolve_wrapper_s8_get_buffer_size(&p, &in, &filter, &out);
            break;
        }
        case 2: {
            const cmsis_nn_dw_conv_params p = {0, 0, v[19], stride, padding, dilation, act};
            size = variant == MVE   ? arm_depthwise_conv_wrapper_s8_get_buffer_size_mve(&p, &in, &filter, &out)
                : variant == DSP ? arm_depthwise_conv_wrapper_s8_get_buffer_size_dsp(&p, &in, &filter, &out)
                                 : arm_depthwise_conv_wrapper_s8_get_buffer_size(&p, &in, &filter, &out);
            break;
        }
        case 3:
            size = variant == MVE   ? arm_avgpool_s8_get_buffer_size_mve(out.w, in.c)
                : variant == DSP ? arm_avgpool_s8_get_buffer_size_dsp(out.w, in.c)
                                 : arm_avgpool_s8_get_buffer_size(out.w, in.c);
            break;
        default:
            fprintf(stderr, "scratch_size: unknown kind %d\n", v[0]);
            return 2;
        }
        printf("%d\n", (int)size);
    }
}
