//! The console the protocol runs on: the board's UART, or RTT with the `console-rtt` feature.
#[cfg(not(feature = "console-rtt"))]
pub use crate::boards::{steal, Serial as Port};
#[cfg(feature = "console-rtt")]
pub use crate::rtt::{steal, RttConsole as Port};

/// Brings up the board (clocks, UART) and returns the protocol's console.
pub fn init() -> Port {
    let serial = crate::boards::init();
    #[cfg(feature = "console-rtt")]
    {
        let _ = serial;
        crate::rtt::init()
    }
    #[cfg(not(feature = "console-rtt"))]
    serial
}
