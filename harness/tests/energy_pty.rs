//! The energy-monitor drivers over a real pseudo-terminal and a TCP socket, the two kinds of
//! stream a farm uses (a local USB serial port; a remote one through ser2net). The simulator
//! holds the pty's master side; the driver opens the slave by path, as it would /dev/ttyACM0.

#![cfg(unix)]

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use mcubench::energy::lpm01a::{Lpm01a, Lpm01aConfig};
use mcubench::energy::ppk2::{Ppk2, Ppk2Config};
use mcubench::energy::sim::{self, Faults, Profile};
use mcubench::energy::{AnyMonitor, EnergyError, EnergyMonitor, WindowSpec};

/// A non-blocking file descriptor (pty side) as a tokio byte stream.
struct FdStream(AsyncFd<OwnedFd>);

impl FdStream {
    fn new(fd: OwnedFd) -> io::Result<FdStream> {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: OwnedFd keeps the descriptor open, and it is the same one, for as long as the
        // AsyncFd that owns it lives.
        Ok(FdStream(unsafe { AsyncFd::register(fd) }?))
    }
}

impl AsyncRead for FdStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let res = guard.try_io(|fd| {
                // SAFETY: reading into an initialised buffer of the given length.
                let n = unsafe { libc::read(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len()) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    // A pty master reads EIO once the slave is closed: that is end of stream.
                    if e.raw_os_error() == Some(libc::EIO) {
                        return Ok(0);
                    }
                    return Err(e);
                }
                Ok(n as usize)
            });
            match res {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            // SAFETY: writing from a valid slice.
            match guard.try_io(|fd| {
                let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A raw-mode pty: (master, slave path). Raw mode matters: a cooked pty would echo the host's
/// commands back, turn `\n` into `\r\n` and hold input until a newline, none of which a USB
/// serial port does.
fn raw_pty() -> (OwnedFd, String) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty fills two descriptors; termios calls on the slave we just opened.
    unsafe {
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::openpty(&mut master, &mut slave, name.as_mut_ptr(), std::ptr::null(), std::ptr::null()),
            0,
            "openpty: {}",
            io::Error::last_os_error()
        );
        let mut tio: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(slave, &mut tio), 0);
        libc::cfmakeraw(&mut tio);
        assert_eq!(libc::tcsetattr(slave, libc::TCSANOW, &tio), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        // The test opens the slave again by path, like a serial port; this descriptor is leaked
        // on purpose (a test process) so the master never sees a hang-up in between.
        std::mem::forget(OwnedFd::from_raw_fd(slave));
        (OwnedFd::from_raw_fd(master), path)
    }
}

fn open_port(path: &str) -> FdStream {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    FdStream::new(OwnedFd::from(f)).unwrap()
}

fn profile() -> Profile {
    Profile::mlperf(0.8e-3, 4.5e-3, 20, 0.040, 0.010)
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f).await.expect("hung for 30 s")
}

#[tokio::test]
async fn lpm01a_over_a_pty() {
    bounded(async {
        let (master, path) = raw_pty();
        let sim = sim::spawn_lpm01a(
            FdStream::new(master).unwrap(),
            profile(),
            Faults { noise_rel: 0.01, seed: 3, ..Faults::default() },
        );
        let mut mon = Lpm01a::new(open_port(&path), path.clone(), Lpm01aConfig::default());
        mon.configure().await.unwrap();
        mon.set_dut_power(true).await.unwrap();
        mon.start().await.unwrap();
        sim.profile_sent.await.unwrap();
        let w = mon.stop_window(&WindowSpec { expected_events: Some(3), ..WindowSpec::mlperf(20) }).await.unwrap();
        let want = profile().window_uj(1.8);
        assert!((w.total_uj - want).abs() / want < 0.005, "{w} vs {want}");
        assert_eq!(w.port, path);
        // The driver is idle again and can run a second window on the same port.
        mon.set_dut_power(false).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn ppk2_over_a_pty_and_a_stall_names_the_pty() {
    bounded(async {
        let (master, path) = raw_pty();
        let faults = Faults { stall_after_samples: Some(60_000), ..Faults::default() };
        let sim = sim::spawn_ppk2(FdStream::new(master).unwrap(), profile(), faults, 0, true);
        let cfg = Ppk2Config { data_timeout: Duration::from_millis(300), ..Ppk2Config::default() };
        let mut mon = Ppk2::new(open_port(&path), path.clone(), cfg);
        mon.configure().await.unwrap();
        assert_eq!(mon.calibration(), Some(&sim::test_calibration()));
        mon.start().await.unwrap();
        sim.stalled.await.unwrap();
        mon.acquisition_ended().await;
        let err = mon.stop().await.unwrap_err();
        assert!(matches!(err, EnergyError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains(&format!("PPK2 on {path}: no sample data after 60000 samples")), "{err}");
    })
    .await;
}

/// A monitor reached through ser2net: the simulator listens on TCP, the driver connects.
#[tokio::test]
async fn lpm01a_over_tcp() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            sim::spawn_lpm01a(sock, profile(), Faults::default())
        });
        let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let sim = accept.await.unwrap();
        let port = format!("tcp://{addr}");
        // Through the enum a runner would build from configuration.
        let mut mon = AnyMonitor::Lpm01a(Lpm01a::new(sock, port.clone(), Lpm01aConfig::default()));
        assert_eq!((mon.device(), mon.port()), ("LPM01A", port.as_str()));
        mon.configure().await.unwrap();
        mon.start().await.unwrap();
        sim.profile_sent.await.unwrap();
        let w = mon.stop_window(&WindowSpec::mlperf(20)).await.unwrap();
        let want = profile().window_uj(1.8);
        assert!((w.total_uj - want).abs() / want < 1e-3, "{w} vs {want}");
        assert!(w.to_string().contains(&port));
    })
    .await;
}
