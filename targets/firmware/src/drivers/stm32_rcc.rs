//! STM32 RCC prescaler encodings shared by the L4+, F7 and H7 (HPRE: 0xxx = /1, 1000 = /2 ..
//! 1111 = /512, no /32; PPRE: 0xx = /1, 100 = /2 .. 111 = /16).

pub fn hpre_div(hpre: u32) -> u32 {
    const DIV: [u32; 8] = [2, 4, 8, 16, 64, 128, 256, 512];
    if hpre & 0b1000 == 0 {
        1
    } else {
        DIV[(hpre & 0b111) as usize]
    }
}

pub fn ppre_div(ppre: u32) -> u32 {
    if ppre & 0b100 == 0 {
        1
    } else {
        2 << (ppre & 0b11)
    }
}
