//! Host-side client for the MLPerf Tiny (EEMBC EnergyRunner) DUT serial protocol.
//!
//! Speaking the official protocol, rather than a private one, lets the harness drive vendor
//! firmware and lets our firmware be checked by the official Python runner, so our numbers are
//! comparable with published ones.
//!
//! Protocol summary: the host sends `<command>%`; the DUT answers with `\r\n`-terminated lines and
//! ends every reply with `m-ready`; `e-` lines are device errors. mcubench firmware adds
//! `m-mcubench-<key>-[<value>]` lines (stack/arena high-water marks, cycle counts, raw output)
//! which the official runner ignores.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcubench::protocol::ProtocolError> {
//! use mcubench::protocol::{ClientConfig, DutClient};
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:4444").await.unwrap();
//! let mut dut = DutClient::new(tcp, ClientConfig::default());
//! let boot = dut.wait_boot().await?;
//! let profile = dut.profile().await?;
//! dut.load_input(&[0u8; 490]).await?;
//! let report = dut.infer(70, 10).await?;
//! println!("{:?} {:?} {:?}", boot.timestamp_mode, profile.model_id, report.throughput());
//! # Ok(()) }
//! ```

mod client;
mod error;
mod line;
mod parse;

pub use client::{
    BootInfo, ClientConfig, DutClient, InferReport, LoadReport, Profile, Response, TimestampMode,
    MAX_COMMAND_LEN, MAX_DB_CHUNK_BYTES, READY,
};
pub use error::{ProtocolError, BOOT};
pub use parse::{lap_elapsed_us, EXTENSION_PREFIX};
