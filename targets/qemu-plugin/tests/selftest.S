@ Self-test firmware for the mcubench QEMU plugin (see ../selftest.sh).
@ Bare-metal Thumb-2 for ARMv7-M and later (mps2-an386 / mps3-an547):
@ vector table at 0x0, stack in RAM at 0x2000_0000, exits via semihosting.
@ The instruction counts in the comments are what the plugin must report.

    .syntax unified
    .thumb

    .text                       @ one section, linked at 0x0: vector table first
    .word   0x20001000          @ initial SP
    .word   reset               @ Reset (Thumb bit set by .thumb_func)
    .word   fail                @ NMI
    .word   fail                @ HardFault
    .word   fail                @ MemManage
    .word   fail                @ BusFault
    .word   fail                @ UsageFault

    .thumb_func
    .global reset
reset:
    ldr     r4, =0xE000ED00     @ (1) SCB->CPUID: an MMIO read inside window 0
    movs    r0, #0              @ (2)
    movw    r1, #1000           @ (3)

    @ window 0: 1000 iterations x 4 instructions = 4000
    dbg     #1                  @ (4)
1:  adds    r0, r0, #1
    ldr     r3, [r4]
    subs    r1, r1, #1
    bne     1b                  @ (4004)
    dbg     #2                  @ (4005)

    @ window 1: bl + 4 in func + nop = 6; the dbg #1 sits mid-block
    dbg     #1                  @ (4006)
    bl      func                @ (4011 after func)
    nop                         @ (4012)
    dbg     #2                  @ (4013)

    @ window 2: dbg #2 without dbg #1 -> "window 2 unmatched"
    dbg     #2                  @ (4014)

    @ window 3: a second dbg #1 restarts the window -> 3
    dbg     #1
    nop
    nop
    dbg     #1
    nop
    nop
    nop
    dbg     #2                  @ (4022)

    @ window 4: empty -> 0
    dbg     #1
    dbg     #2                  @ (4024)

    @ semihosting SYS_EXIT(ADP_Stopped_ApplicationExit): QEMU exits with 0
    movs    r0, #0x18
    ldr     r1, =0x20026
    bkpt    0xab                @ (4027) -> "total 4027"

    .thumb_func
func:
    adds    r0, r0, #1
    adds    r0, r0, #2
    adds    r0, r0, #3
    bx      lr

    @ any fault: SYS_EXIT(ADP_Stopped_RunTimeErrorUnknown): QEMU exits with 1
    .thumb_func
fail:
    movs    r0, #0x18
    ldr     r1, =0x20023
    bkpt    0xab
    b       fail

    .ltorg
