//! NUCLEO-H743ZI / NUCLEO-H743ZI2: STM32H743ZI (Cortex-M7, 16 KiB I-cache + 16 KiB D-cache),
//! from TinyEngine's tables.
//!
//! * Supply: LDO (PWR_CR3 = LDOEN, the Nucleo's configuration; written once after reset).
//! * Clock: 400 MHz, which both silicon revisions (Y: max 400 MHz; V: 480 MHz only in VOS0)
//!   run at in VOS1. PLL1 input 8 MHz: HSE 8 MHz in bypass (the ST-LINK's MCO, the Nucleo's
//!   default) with DIVM1 = 1, or if that does not start HSI 64 MHz with DIVM1 = 8; DIVN1 = 100
//!   -> VCO 800 MHz (wide range), DIVP1 = 2 -> 400 MHz sys_ck = CPU clock (D1CPRE /1),
//!   HCLK/AXI 200 MHz (HPRE /2), APB1..4 100 MHz (/2).
//! * Flash: 2 wait states with WRHIGHFREQ = 2 (RM0433, VOS1, AXI clock 185-210 MHz).
//! * L1 caches: I-cache and D-cache on (no DMA in this firmware).
//! * Console: USART3 on PD8 (TX) / PD9 (RX), AF7, wired to the ST-LINK virtual COM port;
//!   clocked from PCLK1 (100 MHz); 16-byte FIFOs on.
//! * Memory: 2 MiB flash at 0x0800_0000; RAM = AXI SRAM 512 KiB at 0x2400_0000 (on by
//!   default). The 128 KiB DTCM at 0x2000_0000 is faster but small: link there with
//!   MCUBENCH_RAM_ORIGIN=0x20000000 MCUBENCH_RAM_SIZE=0x20000 when the model fits.
//!
//! Registers: RM0433 (STM32H742/743/750/753 reference manual).

use super::{Cycles, Halt};
use crate::drivers::mmio::{field, modify, rd, wait, wait_forever, wr};
use crate::drivers::stm32_gpio;
use crate::drivers::stm32_rcc::{hpre_div, ppre_div};
use crate::drivers::stm32_usart::{usart_brr, Stm32Usart};
use crate::out::Out;

pub const NAME: &str = "board-nucleo-h743zi";
pub const CYCLES: Cycles = Cycles::Dwt;
pub const HALT: Halt = Halt::Spin;

pub const SYSCLK_HZ: u32 = 400_000_000;
const BAUD: u32 = 115_200;
const FLASH_WS: u32 = 2;
const FLASH_WRHIGHFREQ: u32 = 2;
const HSE_HZ: u32 = 8_000_000;
const HSI_HZ: u32 = 64_000_000;
const CSI_HZ: u32 = 4_000_000;

const RCC: usize = 0x5802_4400;
const RCC_CR: usize = RCC + 0x00;
const RCC_CFGR: usize = RCC + 0x10;
const RCC_D1CFGR: usize = RCC + 0x18;
const RCC_D2CFGR: usize = RCC + 0x1C;
const RCC_D3CFGR: usize = RCC + 0x20;
const RCC_PLLCKSELR: usize = RCC + 0x28;
const RCC_PLLCFGR: usize = RCC + 0x2C;
const RCC_PLL1DIVR: usize = RCC + 0x30;
const RCC_D2CCIP2R: usize = RCC + 0x54;
const RCC_AHB4ENR: usize = RCC + 0xE0;
const RCC_APB1LENR: usize = RCC + 0xE8;

const PWR: usize = 0x5802_4800;
const PWR_CSR1: usize = PWR + 0x04;
const PWR_CR3: usize = PWR + 0x0C;
const PWR_D3CR: usize = PWR + 0x18;

const FLASH_ACR: usize = 0x5200_2000;
const GPIOD: usize = 0x5802_0C00;
const USART3: usize = 0x4000_4800;
/// DBGMCU_IDC: REV_ID [31:16] (0x1003 = rev Y, 0x2003 = rev V).
const DBGMCU_IDC: usize = 0x5C00_1000;

const CR_HSION: u32 = 1 << 0;
const CR_HSIRDY: u32 = 1 << 2;
const CR_HSIDIV_SHIFT: u32 = 3;
const CR_HSEON: u32 = 1 << 16;
const CR_HSERDY: u32 = 1 << 17;
const CR_HSEBYP: u32 = 1 << 18;
const CR_PLL1ON: u32 = 1 << 24;
const CR_PLL1RDY: u32 = 1 << 25;
const CFGR_SW_MASK: u32 = 0b111;
const CFGR_SW_PLL1: u32 = 0b011;
const CFGR_SWS_SHIFT: u32 = 3;
// PLLCKSELR: PLLSRC [1:0] (00 HSI, 01 CSI, 10 HSE), DIVM1 [9:4]
const PLLSRC_HSE: u32 = 0b10;
const DIVM1_SHIFT: u32 = 4;
// PLLCFGR: PLL1FRACEN bit 0, PLL1VCOSEL bit 1 (0 = wide), PLL1RGE [3:2], DIVP1EN..DIVR1EN 16..18
const PLL1RGE_4_8MHZ: u32 = 0b10 << 2;
const DIVP1EN: u32 = 1 << 16;
const DIVQ1EN: u32 = 1 << 17;
const DIVR1EN: u32 = 1 << 18;
const PLL1_N: u32 = 100;
const PLL1_P: u32 = 2;
const PLL1_Q: u32 = 4;
const PLL1_R: u32 = 2;

const AHB4ENR_GPIODEN: u32 = 1 << 3;
const APB1LENR_USART3EN: u32 = 1 << 18;
const D2CCIP2R_USART234578SEL_MASK: u32 = 0b111; // 000 = PCLK1

const CR3_BYPASS: u32 = 1 << 0;
const CR3_LDOEN: u32 = 1 << 1;
const CR3_SCUEN: u32 = 1 << 2;
const CSR1_ACTVOSRDY: u32 = 1 << 13;
const D3CR_VOS_MASK: u32 = 0b11 << 14;
const D3CR_VOS1: u32 = 0b11 << 14;
const D3CR_VOSRDY: u32 = 1 << 13;

const ACR_LATENCY_MASK: u32 = 0xF;
const ACR_WRHIGHFREQ_SHIFT: u32 = 4;

pub type Serial = Stm32Usart;

fn clocks() {
    // Supply configuration: LDO (written once after reset; later writes are ignored).
    modify(PWR_CR3, CR3_BYPASS | CR3_SCUEN | CR3_LDOEN, CR3_LDOEN);
    wait_forever(PWR_CSR1, CSR1_ACTVOSRDY, CSR1_ACTVOSRDY);
    // VOS1 (the reset value is VOS3).
    modify(PWR_D3CR, D3CR_VOS_MASK, D3CR_VOS1);
    wait_forever(PWR_D3CR, D3CR_VOSRDY, D3CR_VOSRDY);

    // Run from the HSI (the reset clock; a reset that kept the clock tree may have left PLL1
    // selected, which could then not be reconfigured).
    modify(RCC_CR, 0, CR_HSION);
    wait_forever(RCC_CR, CR_HSIRDY, CR_HSIRDY);
    modify(RCC_CFGR, CFGR_SW_MASK, 0);
    wait_forever(RCC_CFGR, 0b111 << CFGR_SWS_SHIFT, 0);

    // HSE 8 MHz in bypass (ST-LINK MCO); fall back to HSI 64 MHz.
    modify(RCC_CR, 0, CR_HSEBYP | CR_HSEON);
    let hse = wait(RCC_CR, CR_HSERDY, CR_HSERDY, 500_000);
    if !hse {
        modify(RCC_CR, CR_HSEON, 0);
        modify(RCC_CR, CR_HSEBYP, 0);
    }
    let (src, divm) = if hse { (PLLSRC_HSE, 1) } else { (0, HSI_HZ / HSE_HZ) };

    modify(RCC_CR, CR_PLL1ON, 0);
    wait_forever(RCC_CR, CR_PLL1RDY, 0);
    modify(RCC_PLLCKSELR, (0x3F << DIVM1_SHIFT) | 0b11, (divm << DIVM1_SHIFT) | src);
    modify(RCC_PLLCFGR, 0b1111 | DIVP1EN | DIVQ1EN | DIVR1EN, PLL1RGE_4_8MHZ | DIVP1EN | DIVQ1EN | DIVR1EN);
    wr(
        RCC_PLL1DIVR,
        (PLL1_N - 1) | ((PLL1_P - 1) << 9) | ((PLL1_Q - 1) << 16) | ((PLL1_R - 1) << 24),
    );
    modify(RCC_CR, 0, CR_PLL1ON);
    wait_forever(RCC_CR, CR_PLL1RDY, CR_PLL1RDY);

    // Flash wait states before the clock goes up.
    // If they do not read back (never on silicon; e.g. an emulator without the flash
    // interface), stay on the HSI: the board line shows the clock used, with expected_hz.
    wr(FLASH_ACR, FLASH_WS | (FLASH_WRHIGHFREQ << ACR_WRHIGHFREQ_SHIFT));
    if !wait(FLASH_ACR, ACR_LATENCY_MASK, FLASH_WS, 1000) {
        return;
    }

    // D1CPRE /1, HPRE /2, D1PPRE /2; D2PPRE1/2 /2; D3PPRE /2.
    wr(RCC_D1CFGR, (0b1000 << 0) | (0b100 << 4));
    wr(RCC_D2CFGR, (0b100 << 4) | (0b100 << 8));
    wr(RCC_D3CFGR, 0b100 << 4);
    modify(RCC_CFGR, CFGR_SW_MASK, CFGR_SW_PLL1);
    wait_forever(RCC_CFGR, 0b111 << CFGR_SWS_SHIFT, CFGR_SW_PLL1 << CFGR_SWS_SHIFT);
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
    modify(RCC_AHB4ENR, 0, AHB4ENR_GPIODEN);
    let _ = rd(RCC_AHB4ENR);
    stm32_gpio::alternate(GPIOD, 8, 7, false);
    stm32_gpio::alternate(GPIOD, 9, 7, true);
    modify(RCC_D2CCIP2R, D2CCIP2R_USART234578SEL_MASK, 0);
    modify(RCC_APB1LENR, 0, APB1LENR_USART3EN);
    let _ = rd(RCC_APB1LENR);
    // SAFETY: called once at boot; nothing else owns USART3.
    let mut uart = unsafe { Stm32Usart::new(USART3) };
    uart.init(usart_brr(pclk1_hz(), BAUD), true);
    uart
}

pub fn steal() -> Serial {
    // SAFETY: only used on the way to halting.
    unsafe { Stm32Usart::new(USART3) }
}

fn hsi_hz() -> u32 {
    HSI_HZ >> field(RCC_CR, CR_HSIDIV_SHIFT, 0b11)
}

/// PLL1 P output read back from RCC.
fn pll1_p_hz() -> u32 {
    let sel = rd(RCC_PLLCKSELR);
    let src = match sel & 0b11 {
        0 => hsi_hz(),
        1 => CSI_HZ,
        2 => HSE_HZ,
        _ => 0,
    } as u64;
    let m = ((sel >> DIVM1_SHIFT) & 0x3F) as u64;
    if m == 0 {
        return 0; // prescaler disabled
    }
    let d = rd(RCC_PLL1DIVR);
    let n = (d & 0x1FF) as u64 + 1;
    let p = ((d >> 9) & 0x7F) as u64 + 1;
    (src * n / m / p) as u32
}

/// The CPU clock (sys_ck / D1CPRE) read back from RCC.
pub fn sysclk_hz() -> u32 {
    let sys = match field(RCC_CFGR, CFGR_SWS_SHIFT, 0b111) {
        0 => hsi_hz(),
        1 => CSI_HZ,
        2 => HSE_HZ,
        3 => pll1_p_hz(),
        _ => 0,
    };
    sys / hpre_div(field(RCC_D1CFGR, 8, 0xF))
}

fn hclk_hz() -> u32 {
    sysclk_hz() / hpre_div(field(RCC_D1CFGR, 0, 0xF))
}

fn pclk1_hz() -> u32 {
    hclk_hz() / ppre_div(field(RCC_D2CFGR, 4, 0b111))
}

/// ` sysclk_hz=.. hclk_hz=.. src=.. flash_ws=.. vos=.. rev_id=.. cache=..` for the board line.
pub fn clock_facts(out: &mut Out) {
    out.str(" sysclk_hz=");
    out.u64(sysclk_hz() as u64);
    out.str(" hclk_hz=");
    out.u64(hclk_hz() as u64);
    out.str(if rd(RCC_PLLCKSELR) & 0b11 == PLLSRC_HSE { " src=hse" } else { " src=hsi" });
    out.str(" flash_ws=");
    out.u64(field(FLASH_ACR, 0, ACR_LATENCY_MASK) as u64);
    out.str(" vos=");
    // D3CR.VOS: 11 = VOS1, 10 = VOS2, 01 = VOS3.
    out.u64(match field(PWR_D3CR, 14, 0b11) {
        0b11 => 1,
        0b10 => 2,
        _ => 3,
    });
    out.str(" rev_id=0x");
    let rev = field(DBGMCU_IDC, 16, 0xFFFF);
    for shift in [12, 8, 4, 0] {
        out.byte(b"0123456789abcdef"[((rev >> shift) & 0xF) as usize]);
    }
    out.str(" cache=");
    out.str(if cortex_m::peripheral::SCB::icache_enabled() { "i" } else { "-" });
    out.str(if cortex_m::peripheral::SCB::dcache_enabled() { "d" } else { "-" });
    super::clock_check(out, sysclk_hz(), SYSCLK_HZ);
}

/// MLPerf Tiny energy mode's timestamp pin: PF13 (ST Zio connector CN10) (docs/boards.md).
#[cfg(feature = "energy-mode")]
pub const TIMESTAMP_PIN: stm32_gpio::OpenDrainPin = stm32_gpio::OpenDrainPin { port: 0x5802_1400, pin: 13, clock: (RCC_AHB4ENR, 1 << 5) };
