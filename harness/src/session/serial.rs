//! An already-flashed board on a serial line: a local device (`/dev/ttyACM0`), a raw TCP
//! port (`tcp://host:port`, as ser2net's raw mode serves it) or an RFC 2217 port
//! (`rfc2217://host:port`, ser2net's telnet mode). Nothing is flashed or reset here.
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::BoardStream;
use crate::config::Board;

/// Where a serial board's UART is, from `serial.port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialAddress {
    Local(PathBuf),
    /// `host:port`, raw bytes.
    Tcp(String),
    /// `host:port`, telnet with COM-PORT-OPTION.
    Rfc2217(String),
}

impl SerialAddress {
    pub fn parse(port: &str) -> Result<SerialAddress, String> {
        let host_port = |rest: &str, scheme: &str| -> Result<String, String> {
            let (host, p) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("'{port}': write {scheme}://HOST:PORT"))?;
            if host.is_empty() || host.contains('/') {
                return Err(format!("'{port}': no host before the port; write {scheme}://HOST:PORT"));
            }
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(rest.to_string()),
                _ => Err(format!("'{port}': '{p}' is not a TCP port number (1-65535)")),
            }
        };
        if let Some(rest) = port.strip_prefix("tcp://") {
            Ok(SerialAddress::Tcp(host_port(rest, "tcp")?))
        } else if let Some(rest) = port.strip_prefix("rfc2217://") {
            Ok(SerialAddress::Rfc2217(host_port(rest, "rfc2217")?))
        } else if port.contains("://") {
            Err(format!("'{port}': unknown scheme; use a device path, tcp://HOST:PORT or rfc2217://HOST:PORT"))
        } else if port.is_empty() {
            Err("empty port; use a device path, tcp://HOST:PORT or rfc2217://HOST:PORT".into())
        } else {
            Ok(SerialAddress::Local(PathBuf::from(port)))
        }
    }
}

impl fmt::Display for SerialAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerialAddress::Local(p) => write!(f, "{}", p.display()),
            SerialAddress::Tcp(a) => write!(f, "tcp://{a}"),
            SerialAddress::Rfc2217(a) => write!(f, "rfc2217://{a}"),
        }
    }
}

/// A connection to a board's serial line could not be made.
#[derive(Debug, thiserror::Error)]
#[error("board {board}: serial port {address}: {message}")]
pub struct SerialError {
    pub board: String,
    pub address: String,
    pub message: String,
}

/// A serial board in use.
#[derive(Debug)]
pub struct SerialSession {
    pub address: SerialAddress,
}

/// Opens the board's serial line. `timeout` bounds the TCP connect and each step of the
/// RFC 2217 negotiation.
pub async fn connect(board: &Board, timeout: Duration) -> Result<(SerialSession, BoardStream), SerialError> {
    let port = board.serial.port.as_deref().unwrap_or("");
    let (address, stream) = open_port(port, board.serial.baud, timeout)
        .await
        .map_err(|(address, message)| SerialError { board: board.name.clone(), address, message })?;
    Ok((SerialSession { address }, stream))
}

/// Opens any serial port (a board's UART, an energy monitor): the error is the address as
/// shown and what went wrong.
pub async fn open_port(port: &str, baud: u32, timeout: Duration) -> Result<(SerialAddress, BoardStream), (String, String)> {
    let address = SerialAddress::parse(port).map_err(|m| (port.to_string(), m))?;
    let shown = address.to_string();
    let fail = |m: String| (shown.clone(), m);
    let stream: BoardStream = match &address {
        SerialAddress::Tcp(a) => Box::new(tcp(a, timeout).await.map_err(fail)?),
        SerialAddress::Rfc2217(a) => {
            let socket = tcp(a, timeout).await.map_err(fail)?;
            let s = super::rfc2217::negotiate(socket, baud, timeout).await.map_err(|e| fail(e.to_string()))?;
            Box::new(s)
        }
        SerialAddress::Local(path) => Box::new(local(path.clone(), baud).await.map_err(fail)?),
    };
    Ok((address, stream))
}

async fn tcp(host_port: &str, timeout: Duration) -> Result<TcpStream, String> {
    let s = match tokio::time::timeout(timeout, TcpStream::connect(host_port)).await {
        Err(_) => return Err(format!("no TCP connection within {timeout:?}")),
        Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
        Ok(Ok(s)) => s,
    };
    // Protocol commands are small and each waits for its reply: do not hold them back.
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A local serial device, bridged to async: one thread reads the port into an in-memory
/// pipe, another writes what the harness sends. Both end when the harness drops its end.
async fn local(path: PathBuf, baud: u32) -> Result<tokio::io::DuplexStream, String> {
    let shown = path.display().to_string();
    let port = tokio::task::spawn_blocking(move || {
        serialport::new(shown, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            // The read timeout is how often the reader looks whether the harness is gone.
            .timeout(Duration::from_millis(100))
            .open()
    })
    .await
    .map_err(|e| format!("cannot open: {e}"))?
    .map_err(|e| format!("cannot open at {baud} baud: {e}"))?;
    let mut reader = port.try_clone().map_err(|e| format!("cannot share the port between reader and writer: {e}"))?;
    let mut writer = port;
    let (near, far) = tokio::io::duplex(64 * 1024);
    let (mut far_read, mut far_write) = tokio::io::split(far);
    let handle = tokio::runtime::Handle::current();
    let harness_gone = Arc::new(AtomicBool::new(false));

    let (h, gone) = (handle.clone(), harness_gone.clone());
    std::thread::Builder::new()
        .name("serial-read".into())
        .spawn(move || {
            let mut buf = [0u8; 1024];
            while !gone.load(Ordering::SeqCst) {
                match reader.read(&mut buf) {
                    Ok(0) => {}
                    Ok(n) => {
                        if h.block_on(far_write.write_all(&buf[..n])).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::Interrupted => {}
                    // The device went away: the harness sees the stream end.
                    Err(_) => break,
                }
            }
            let _ = h.block_on(far_write.shutdown());
        })
        .map_err(|e| format!("cannot start the serial reader thread: {e}"))?;
    std::thread::Builder::new()
        .name("serial-write".into())
        .spawn(move || {
            let mut buf = [0u8; 1024];
            loop {
                match handle.block_on(far_read.read(&mut buf)) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if writer.write_all(&buf[..n]).and_then(|()| writer.flush()).is_err() {
                            break;
                        }
                    }
                }
            }
            harness_gone.store(true, Ordering::SeqCst);
        })
        .map_err(|e| format!("cannot start the serial writer thread: {e}"))?;
    Ok(near)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_into_local_tcp_and_rfc2217() {
        assert_eq!(SerialAddress::parse("/dev/ttyACM0"), Ok(SerialAddress::Local("/dev/ttyACM0".into())));
        assert_eq!(SerialAddress::parse("tcp://lab-pi:3001"), Ok(SerialAddress::Tcp("lab-pi:3001".into())));
        assert_eq!(SerialAddress::parse("rfc2217://[::1]:2217"), Ok(SerialAddress::Rfc2217("[::1]:2217".into())));
        assert_eq!(SerialAddress::parse("rfc2217://10.0.0.2:2217").unwrap().to_string(), "rfc2217://10.0.0.2:2217");
        assert!(SerialAddress::parse("tcp://lab-pi").unwrap_err().contains("tcp://HOST:PORT"));
        assert!(SerialAddress::parse("tcp://lab-pi:99999").unwrap_err().contains("'99999' is not a TCP port number"));
        assert!(SerialAddress::parse("tcp://:3001").unwrap_err().contains("no host"));
        assert!(SerialAddress::parse("telnet://x:1").unwrap_err().contains("unknown scheme"));
        assert!(SerialAddress::parse("").is_err());
    }
}
