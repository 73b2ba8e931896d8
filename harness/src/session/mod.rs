//! Board sessions: bring a board up with a firmware and hand back a byte stream to its
//! UART. QEMU boards are run today; real boards are reached through their debug probe
//! ([`probe`]), found with [`detect`], and held by one run at a time ([`lock`]).
pub mod cap;
pub mod detect;
pub mod lock;
pub mod probe;
pub mod qemu;
