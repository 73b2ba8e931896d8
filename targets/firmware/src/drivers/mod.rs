//! Peripheral drivers shared by board modules.
pub mod cmsdk_uart;
