//! Board sessions: bring a board up with a firmware and hand back a byte stream to its
//! UART. QEMU boards today; probe-rs and already-flashed serial boards plug in here.
pub mod cap;
pub mod qemu;
