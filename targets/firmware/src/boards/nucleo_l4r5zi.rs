//! NUCLEO-L4R5ZI: STM32L4R5ZI (Cortex-M4F), MLPerf Tiny's reference board.
//!
//! * Clock: MSI 4 MHz -> PLL (M = 1, N = 60, R = 2) -> 120 MHz SYSCLK = HCLK = PCLK1/2.
//!   Voltage range 1 in boost mode (PWR_CR5.R1MODE = 0, needed above 80 MHz), entered with the
//!   AHB prescaler at /2 as RM0432 asks. Flash: 5 wait states (range 1, 100-120 MHz), prefetch,
//!   instruction and data caches on. If the 32.768 kHz LSE (X2 on the Nucleo-144) is running,
//!   the MSI is trimmed to it (MSIPLLEN) so that the clock is crystal-accurate; on a cold board
//!   the LSE takes up to ~2 s to start, so the first boot may report `msi_lse_pll=off`.
//! * Console: LPUART1 on PG7 (TX) / PG8 (RX), AF8, wired to the ST-LINK virtual COM port.
//!   Port G pins 2..15 are on VDDIO2, which must be declared valid (PWR_CR2.IOSV).
//! * Memory: 2 MiB flash at 0x0800_0000; SRAM1 + SRAM2 + SRAM3 = 640 KiB contiguous at
//!   0x2000_0000.
//!
//! Registers: RM0432 (STM32L4+ reference manual).

use super::{Cycles, Halt};
use crate::drivers::mmio::{field, modify, rd, spin, wait, wait_forever, wr};
use crate::drivers::stm32_gpio;
use crate::drivers::stm32_rcc::hpre_div;
use crate::drivers::stm32_usart::{lpuart_brr, Stm32Usart};
use crate::out::Out;

pub const NAME: &str = "board-nucleo-l4r5zi";
pub const CYCLES: Cycles = Cycles::Dwt;
pub const HALT: Halt = Halt::Spin;

/// The clock `init` sets up (also build.rs's default `SYSTICK_HZ`).
pub const SYSCLK_HZ: u32 = 120_000_000;
const BAUD: u32 = 115_200;
const FLASH_WS: u32 = 5;

const RCC: usize = 0x4002_1000;
const RCC_CR: usize = RCC + 0x00;
const RCC_CFGR: usize = RCC + 0x08;
const RCC_PLLCFGR: usize = RCC + 0x0C;
const RCC_AHB2ENR: usize = RCC + 0x4C;
const RCC_APB1ENR1: usize = RCC + 0x58;
const RCC_APB1ENR2: usize = RCC + 0x5C;
const RCC_CCIPR: usize = RCC + 0x88;
const RCC_BDCR: usize = RCC + 0x90;
const RCC_CSR: usize = RCC + 0x94;

const PWR: usize = 0x4000_7000;
const PWR_CR1: usize = PWR + 0x00;
const PWR_CR2: usize = PWR + 0x04;
const PWR_SR2: usize = PWR + 0x14;
const PWR_CR5: usize = PWR + 0x80;

const FLASH_ACR: usize = 0x4002_2000;
const GPIOG: usize = 0x4800_1800;
const LPUART1: usize = 0x4000_8000;

// RCC_CR
const CR_MSION: u32 = 1 << 0;
const CR_MSIRDY: u32 = 1 << 1;
const CR_MSIPLLEN: u32 = 1 << 2;
const CR_MSIRGSEL: u32 = 1 << 3;
const CR_MSIRANGE_SHIFT: u32 = 4;
const CR_PLLON: u32 = 1 << 24;
const CR_PLLRDY: u32 = 1 << 25;
// RCC_CFGR
const CFGR_SW_MASK: u32 = 0b11;
const CFGR_SW_PLL: u32 = 0b11;
const CFGR_SWS_SHIFT: u32 = 2;
const CFGR_HPRE_SHIFT: u32 = 4;
const CFGR_HPRE_MASK: u32 = 0xF << CFGR_HPRE_SHIFT;
const CFGR_HPRE_DIV2: u32 = 0b1000 << CFGR_HPRE_SHIFT;
const CFGR_PPRE_MASK: u32 = (0b111 << 8) | (0b111 << 11);
// RCC_PLLCFGR: PLLSRC [1:0] (01 MSI), PLLM [7:4] (M - 1), PLLN [14:8], PLLREN bit 24, PLLR [26:25]
const PLL_SRC_MSI: u32 = 0b01;
const PLL_M: u32 = 1;
const PLL_N: u32 = 60;
const PLL_R: u32 = 2;
const PLLCFGR_PLLREN: u32 = 1 << 24;
// Enables
const AHB2ENR_GPIOGEN: u32 = 1 << 6;
const APB1ENR1_PWREN: u32 = 1 << 28;
const APB1ENR2_LPUART1EN: u32 = 1 << 0;
const CCIPR_LPUART1SEL_MASK: u32 = 0b11 << 10; // 00 = PCLK1
// Backup domain: LSE
const BDCR_LSEON: u32 = 1 << 0;
const BDCR_LSERDY: u32 = 1 << 1;
// PWR
const CR1_DBP: u32 = 1 << 8;
const CR1_VOS_MASK: u32 = 0b11 << 9;
const CR1_VOS_RANGE1: u32 = 0b01 << 9;
const CR2_IOSV: u32 = 1 << 9;
const SR2_VOSF: u32 = 1 << 10;
const CR5_R1MODE: u32 = 1 << 8;
// FLASH_ACR
const ACR_LATENCY_MASK: u32 = 0xF;
const ACR_PRFTEN: u32 = 1 << 8;
const ACR_ICEN: u32 = 1 << 9;
const ACR_DCEN: u32 = 1 << 10;

/// MSI frequencies by MSIRANGE (RM0432, RCC_CR).
const MSI_HZ: [u32; 12] = [
    100_000, 200_000, 400_000, 800_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000,
    24_000_000, 32_000_000, 48_000_000,
];

pub type Serial = Stm32Usart;

fn clocks() {
    // Run from the MSI (the reset clock; a reset that kept the clock tree, e.g. a debugger's,
    // may have left the PLL selected, which could then not be reconfigured), at 4 MHz (range 6).
    modify(RCC_CR, 0, CR_MSION);
    wait_forever(RCC_CR, CR_MSIRDY, CR_MSIRDY);
    modify(RCC_CFGR, CFGR_SW_MASK, 0);
    wait_forever(RCC_CFGR, 0b11 << CFGR_SWS_SHIFT, 0);
    modify(RCC_CR, 0xF << CR_MSIRANGE_SHIFT, (6 << CR_MSIRANGE_SHIFT) | CR_MSIRGSEL);
    wait_forever(RCC_CR, CR_MSIRDY, CR_MSIRDY);

    wr(RCC_APB1ENR1, rd(RCC_APB1ENR1) | APB1ENR1_PWREN);
    let _ = rd(RCC_APB1ENR1); // the enable takes effect before the next access
    // Range 1, then wait until the regulator is there.
    modify(PWR_CR1, CR1_VOS_MASK, CR1_VOS_RANGE1);
    wait_forever(PWR_SR2, SR2_VOSF, 0);

    // Flash latency before the clock goes up. If it does not read back (never on silicon;
    // e.g. an emulator without the flash interface), stay at 4 MHz: the board line then shows
    // the clock actually used, with `expected_hz`.
    wr(FLASH_ACR, FLASH_WS | ACR_PRFTEN | ACR_ICEN | ACR_DCEN);
    if !wait(FLASH_ACR, ACR_LATENCY_MASK, FLASH_WS, 1000) {
        return;
    }

    // LSE for the MSI's PLL mode: start it (it survives resets in the backup domain) and use it
    // if it is running within a fraction of a second.
    modify(PWR_CR1, 0, CR1_DBP);
    modify(RCC_BDCR, 0, BDCR_LSEON);
    if wait(RCC_BDCR, BDCR_LSERDY, BDCR_LSERDY, 100_000) {
        modify(RCC_CR, 0, CR_MSIPLLEN);
    }

    // Boost mode: AHB at /2 while switching (RM0432 "Range 1 boost mode").
    modify(RCC_CFGR, CFGR_HPRE_MASK | CFGR_PPRE_MASK, CFGR_HPRE_DIV2);
    modify(PWR_CR5, CR5_R1MODE, 0);

    // PLL: MSI 4 MHz / 1 * 60 = 240 MHz VCO, / 2 = 120 MHz.
    modify(RCC_CR, CR_PLLON, 0);
    wait_forever(RCC_CR, CR_PLLRDY, 0);
    wr(
        RCC_PLLCFGR,
        PLL_SRC_MSI | ((PLL_M - 1) << 4) | (PLL_N << 8) | PLLCFGR_PLLREN | ((PLL_R / 2 - 1) << 25),
    );
    modify(RCC_CR, 0, CR_PLLON);
    wait_forever(RCC_CR, CR_PLLRDY, CR_PLLRDY);
    modify(RCC_CFGR, CFGR_SW_MASK, CFGR_SW_PLL);
    wait_forever(RCC_CFGR, 0b11 << CFGR_SWS_SHIFT, CFGR_SW_PLL << CFGR_SWS_SHIFT);
    spin(200); // >= 1 us at the new clock before AHB goes to /1
    modify(RCC_CFGR, CFGR_HPRE_MASK, 0);
}

pub fn init() -> Serial {
    clocks();
    // LPUART1 on PG7/PG8 (AF8), clocked from PCLK1 = SYSCLK.
    modify(PWR_CR2, 0, CR2_IOSV);
    modify(RCC_AHB2ENR, 0, AHB2ENR_GPIOGEN);
    let _ = rd(RCC_AHB2ENR);
    stm32_gpio::alternate(GPIOG, 7, 8, false);
    stm32_gpio::alternate(GPIOG, 8, 8, true);
    modify(RCC_CCIPR, CCIPR_LPUART1SEL_MASK, 0);
    modify(RCC_APB1ENR2, 0, APB1ENR2_LPUART1EN);
    let _ = rd(RCC_APB1ENR2);
    // SAFETY: called once at boot; nothing else owns LPUART1.
    let mut uart = unsafe { Stm32Usart::new(LPUART1) };
    uart.init(lpuart_brr(sysclk_hz(), BAUD), false);
    uart
}

pub fn steal() -> Serial {
    // SAFETY: only used on the way to halting.
    unsafe { Stm32Usart::new(LPUART1) }
}

/// SYSCLK read back from RCC: the selected source and the PLL settings.
pub fn sysclk_hz() -> u32 {
    let msi = || {
        let range = if rd(RCC_CR) & CR_MSIRGSEL != 0 {
            field(RCC_CR, CR_MSIRANGE_SHIFT, 0xF)
        } else {
            field(RCC_CSR, 8, 0xF) // MSISRANGE
        };
        MSI_HZ.get(range as usize).copied().unwrap_or(0)
    };
    match field(RCC_CFGR, CFGR_SWS_SHIFT, 0b11) {
        0 => msi(),
        1 => 16_000_000,
        2 => 0, // HSE: not fitted / not used by this firmware
        _ => {
            let cfg = rd(RCC_PLLCFGR);
            let src = match cfg & 0b11 {
                1 => msi(),
                2 => 16_000_000,
                _ => 0,
            };
            let m = ((cfg >> 4) & 0xF) + 1;
            let n = (cfg >> 8) & 0x7F;
            let r = 2 * (((cfg >> 25) & 0b11) + 1);
            (src as u64 / m as u64 * n as u64 / r as u64) as u32
        }
    }
}

/// ` sysclk_hz=.. hclk_div=.. flash_ws=.. vos=.. msi_lse_pll=..` for the board line.
pub fn clock_facts(out: &mut Out) {
    out.str(" sysclk_hz=");
    out.u64(sysclk_hz() as u64);
    out.str(" hclk_div=");
    out.u64(hpre_div(field(RCC_CFGR, CFGR_HPRE_SHIFT, 0xF)) as u64);
    out.str(" flash_ws=");
    out.u64(field(FLASH_ACR, 0, ACR_LATENCY_MASK) as u64);
    out.str(" vos=");
    out.u64(field(PWR_CR1, 9, 0b11) as u64);
    out.str(if rd(PWR_CR5) & CR5_R1MODE == 0 { "-boost" } else { "" });
    out.str(" msi_lse_pll=");
    out.str(if rd(RCC_CR) & CR_MSIPLLEN != 0 { "on" } else { "off" });
    super::clock_check(out, sysclk_hz(), SYSCLK_HZ);
}

/// MLPerf Tiny energy mode's timestamp pin: PF13 (Arduino D7 of the ST Zio connector) (docs/boards.md).
#[cfg(feature = "energy-mode")]
pub const TIMESTAMP_PIN: stm32_gpio::OpenDrainPin = stm32_gpio::OpenDrainPin { port: 0x4800_1400, pin: 13, clock: (RCC_AHB2ENR, 1 << 5) };
