//! mcubench: plan a suite of boards x frameworks x workloads, build and flash firmware,
//! measure over the MLPerf Tiny serial protocol, and store every result as it arrives.
//!
//! The layers, from the outside in (see `docs/architecture.md`):
//! [`config`] (boards.yaml) -> [`plan`] (jobs) -> [`build`] (model import, firmware, ELF sizes)
//! -> [`session`] (QEMU; probe-rs sessions, detection and board locks built but not run yet)
//! -> [`protocol`] (the DUT client)
//! -> [`runner`] (one tokio task per board, emitting [`events`]) -> reporters: console
//! progress and the [`store`].
pub mod build;
pub mod config;
pub mod energy;
pub mod events;
pub mod plan;
pub mod protocol;
pub mod resume;
pub mod results;
pub mod runner;
pub mod session;
pub mod store;
