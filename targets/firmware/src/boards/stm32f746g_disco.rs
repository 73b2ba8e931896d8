//! STM32F746G-DISCO: STM32F746NG (Cortex-M7, 4 KiB I-cache + 4 KiB D-cache), the board of
//! MCUNet / TinyEngine.
//!
//! * Clock: HSE 25 MHz crystal (X2) -> PLL (M = 25, N = 432, P = 2, Q = 9) -> 216 MHz SYSCLK,
//!   HCLK 216 MHz, APB1 54 MHz (/4), APB2 108 MHz (/2). 216 MHz needs voltage scale 1 and
//!   over-drive (PWR_CR1 ODEN, then ODSWEN). Flash: 7 wait states (2.7-3.6 V, 210-216 MHz),
//!   ART accelerator and prefetch on. If the HSE does not start, the PLL runs from the 16 MHz
//!   HSI (M = 8, same VCO) and the board line says `src=hsi`.
//! * L1 caches: I-cache and D-cache on (no DMA in this firmware, so no coherency concerns).
//! * Console: USART1 on PA9 (TX) / PB7 (RX), AF7, wired to the ST-LINK virtual COM port;
//!   clocked from PCLK2 (108 MHz).
//! * Memory: 1 MiB flash at 0x0800_0000 (AXIM); DTCM 64 KiB + SRAM1 240 KiB + SRAM2 16 KiB =
//!   320 KiB contiguous at 0x2000_0000.
//!
//! Registers: RM0385 (STM32F75xxx/F74xxx reference manual).

use super::{Cycles, Halt};
use crate::drivers::mmio::{field, modify, rd, wait, wait_forever, wr};
use crate::drivers::stm32_gpio;
use crate::drivers::stm32_rcc::{hpre_div, ppre_div};
use crate::drivers::stm32_usart::{usart_brr, Stm32Usart};
use crate::out::Out;

pub const NAME: &str = "board-stm32f746g-disco";
pub const CYCLES: Cycles = Cycles::Dwt;
pub const HALT: Halt = Halt::Spin;

pub const SYSCLK_HZ: u32 = 216_000_000;
const BAUD: u32 = 115_200;
const FLASH_WS: u32 = 7;
const HSE_HZ: u32 = 25_000_000;
const HSI_HZ: u32 = 16_000_000;

const RCC: usize = 0x4002_3800;
const RCC_CR: usize = RCC + 0x00;
const RCC_PLLCFGR: usize = RCC + 0x04;
const RCC_CFGR: usize = RCC + 0x08;
const RCC_AHB1ENR: usize = RCC + 0x30;
const RCC_APB1ENR: usize = RCC + 0x40;
const RCC_APB2ENR: usize = RCC + 0x44;
const RCC_DCKCFGR2: usize = RCC + 0x90;

const PWR_CR1: usize = 0x4000_7000;
const PWR_CSR1: usize = 0x4000_7004;
const FLASH_ACR: usize = 0x4002_3C00;
const GPIOA: usize = 0x4002_0000;
const GPIOB: usize = 0x4002_0400;
const USART1: usize = 0x4001_1000;

const CR_HSION: u32 = 1 << 0;
const CR_HSIRDY: u32 = 1 << 1;
const CR_HSEON: u32 = 1 << 16;
const CR_HSERDY: u32 = 1 << 17;
const CR_PLLON: u32 = 1 << 24;
const CR_PLLRDY: u32 = 1 << 25;
const PLLCFGR_SRC_HSE: u32 = 1 << 22;
const CFGR_SW_MASK: u32 = 0b11;
const CFGR_SW_PLL: u32 = 0b10;
const CFGR_SWS_SHIFT: u32 = 2;
const CFGR_HPRE_SHIFT: u32 = 4;
const CFGR_PPRE1_SHIFT: u32 = 10;
const CFGR_PPRE2_SHIFT: u32 = 13;
const AHB1ENR_GPIOAEN: u32 = 1 << 0;
const AHB1ENR_GPIOBEN: u32 = 1 << 1;
const APB1ENR_PWREN: u32 = 1 << 28;
const APB2ENR_USART1EN: u32 = 1 << 4;
const DCKCFGR2_USART1SEL_MASK: u32 = 0b11; // 00 = PCLK2

const PWR_CR1_VOS_SCALE1: u32 = 0b11 << 14;
const PWR_CR1_ODEN: u32 = 1 << 16;
const PWR_CR1_ODSWEN: u32 = 1 << 17;
const PWR_CSR1_ODRDY: u32 = 1 << 16;
const PWR_CSR1_ODSWRDY: u32 = 1 << 17;

const ACR_LATENCY_MASK: u32 = 0xF;
const ACR_PRFTEN: u32 = 1 << 8;
const ACR_ARTEN: u32 = 1 << 9;

pub type Serial = Stm32Usart;

fn clocks() {
    // Run from the HSI (the reset clock; a reset that kept the clock tree may have left the
    // PLL selected) with the PLL off: VOS and the PLL can only be changed then.
    modify(RCC_CR, 0, CR_HSION);
    wait_forever(RCC_CR, CR_HSIRDY, CR_HSIRDY);
    modify(RCC_CFGR, CFGR_SW_MASK, 0);
    wait_forever(RCC_CFGR, 0b11 << CFGR_SWS_SHIFT, 0);
    modify(RCC_CR, CR_PLLON, 0);
    wait_forever(RCC_CR, CR_PLLRDY, 0);

    modify(RCC_APB1ENR, 0, APB1ENR_PWREN);
    let _ = rd(RCC_APB1ENR);
    modify(PWR_CR1, 0b11 << 14, PWR_CR1_VOS_SCALE1);

    // HSE (25 MHz crystal); fall back to HSI if it does not start.
    modify(RCC_CR, 0, CR_HSEON);
    let hse = wait(RCC_CR, CR_HSERDY, CR_HSERDY, 500_000);
    if !hse {
        modify(RCC_CR, CR_HSEON, 0);
    }
    let (src, m) = if hse { (PLLCFGR_SRC_HSE, HSE_HZ / 1_000_000) } else { (0, HSI_HZ / 2_000_000) };
    // VCO input 1 MHz (HSE / 25) or 2 MHz (HSI / 8); HSE: x432 = 432 MHz; HSI: x216 = 432 MHz.
    let n = 432_000_000 / ((if hse { HSE_HZ } else { HSI_HZ }) / m);
    let (p_bits, q) = (0b00, 9); // P = 2 -> 216 MHz; Q = 9 -> 48 MHz
    modify(RCC_CR, CR_PLLON, 0);
    wait_forever(RCC_CR, CR_PLLRDY, 0);
    wr(RCC_PLLCFGR, m | (n << 6) | (p_bits << 16) | src | (q << 24));
    modify(RCC_CR, 0, CR_PLLON);
    wait_forever(RCC_CR, CR_PLLRDY, CR_PLLRDY);

    // Over-drive for 216 MHz (RM0385 "Entering Over-drive mode").
    modify(PWR_CR1, 0, PWR_CR1_ODEN);
    wait_forever(PWR_CSR1, PWR_CSR1_ODRDY, PWR_CSR1_ODRDY);
    modify(PWR_CR1, 0, PWR_CR1_ODSWEN);
    wait_forever(PWR_CSR1, PWR_CSR1_ODSWRDY, PWR_CSR1_ODSWRDY);

    // If the wait states do not read back (never on silicon; e.g. an emulator without the
    // flash interface), stay on the HSI: the board line shows the clock used, with expected_hz.
    wr(FLASH_ACR, FLASH_WS | ACR_PRFTEN | ACR_ARTEN);
    if !wait(FLASH_ACR, ACR_LATENCY_MASK, FLASH_WS, 1000) {
        return;
    }

    // HCLK /1, APB1 /4 (54 MHz max), APB2 /2 (108 MHz max); then switch to the PLL.
    modify(
        RCC_CFGR,
        (0xF << CFGR_HPRE_SHIFT) | (0b111 << CFGR_PPRE1_SHIFT) | (0b111 << CFGR_PPRE2_SHIFT),
        (0b101 << CFGR_PPRE1_SHIFT) | (0b100 << CFGR_PPRE2_SHIFT),
    );
    modify(RCC_CFGR, CFGR_SW_MASK, CFGR_SW_PLL);
    wait_forever(RCC_CFGR, 0b11 << CFGR_SWS_SHIFT, CFGR_SW_PLL << CFGR_SWS_SHIFT);
}

fn caches() {
    // SAFETY: boot, single-threaded; nothing else uses the SCB.
    let mut p = unsafe { cortex_m::Peripherals::steal() };
    p.SCB.enable_icache();
    p.SCB.enable_dcache(&mut p.CPUID);
}

pub fn init() -> Serial {
    clocks();
    caches();
    modify(RCC_AHB1ENR, 0, AHB1ENR_GPIOAEN | AHB1ENR_GPIOBEN);
    let _ = rd(RCC_AHB1ENR);
    stm32_gpio::alternate(GPIOA, 9, 7, false);
    stm32_gpio::alternate(GPIOB, 7, 7, true);
    modify(RCC_DCKCFGR2, DCKCFGR2_USART1SEL_MASK, 0);
    modify(RCC_APB2ENR, 0, APB2ENR_USART1EN);
    let _ = rd(RCC_APB2ENR);
    // SAFETY: called once at boot; nothing else owns USART1.
    let mut uart = unsafe { Stm32Usart::new(USART1) };
    uart.init(usart_brr(pclk2_hz(), BAUD), false);
    uart
}

pub fn steal() -> Serial {
    // SAFETY: only used on the way to halting.
    unsafe { Stm32Usart::new(USART1) }
}

fn hse_selected() -> bool {
    rd(RCC_PLLCFGR) & PLLCFGR_SRC_HSE != 0
}

/// SYSCLK read back from RCC.
pub fn sysclk_hz() -> u32 {
    match field(RCC_CFGR, CFGR_SWS_SHIFT, 0b11) {
        0 => HSI_HZ,
        1 => HSE_HZ,
        _ => {
            let cfg = rd(RCC_PLLCFGR);
            let src = if hse_selected() { HSE_HZ } else { HSI_HZ } as u64;
            let m = (cfg & 0x3F).max(1) as u64;
            let n = ((cfg >> 6) & 0x1FF) as u64;
            let p = 2 * (((cfg >> 16) & 0b11) as u64 + 1);
            (src * n / m / p) as u32
        }
    }
}

fn hclk_hz() -> u32 {
    sysclk_hz() / hpre_div(field(RCC_CFGR, CFGR_HPRE_SHIFT, 0xF))
}

fn pclk2_hz() -> u32 {
    hclk_hz() / ppre_div(field(RCC_CFGR, CFGR_PPRE2_SHIFT, 0b111))
}

/// ` sysclk_hz=.. src=.. flash_ws=.. overdrive=.. cache=..` for the board line.
pub fn clock_facts(out: &mut Out) {
    out.str(" sysclk_hz=");
    out.u64(sysclk_hz() as u64);
    out.str(if hse_selected() { " src=hse" } else { " src=hsi" });
    out.str(" flash_ws=");
    out.u64(field(FLASH_ACR, 0, ACR_LATENCY_MASK) as u64);
    out.str(" overdrive=");
    out.str(if rd(PWR_CSR1) & PWR_CSR1_ODSWRDY != 0 { "on" } else { "off" });
    out.str(" cache=");
    out.str(if cortex_m::peripheral::SCB::icache_enabled() { "i" } else { "-" });
    out.str(if cortex_m::peripheral::SCB::dcache_enabled() { "d" } else { "-" });
    super::clock_check(out, sysclk_hz(), SYSCLK_HZ);
}

/// MLPerf Tiny energy mode's timestamp pin: PI3 (Arduino D7 of CN4) (docs/boards.md).
#[cfg(feature = "energy-mode")]
pub const TIMESTAMP_PIN: stm32_gpio::OpenDrainPin = stm32_gpio::OpenDrainPin { port: 0x4002_2000, pin: 3, clock: (RCC_AHB1ENR, 1 << 8) };
