//! Peripheral drivers shared by board modules.
#![allow(dead_code)]
pub mod cmsdk_uart;
pub mod mmio;
pub mod nrf_uart;
pub mod pl011;
pub mod stm32_gpio;
pub mod stm32_rcc;
pub mod stm32_usart;
