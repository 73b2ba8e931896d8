//! Target memory through a GDB remote stub (QEMU's `-gdb tcp::PORT`): what the emulated farm
//! uses to reach an RTT console, as a probe reaches it on silicon.
//!
//! QEMU's stub answers memory packets only while the machine is stopped, and stops it when the
//! connection opens; so a poll stops it (`0x03`), reads and writes, and lets it go (`c`). With
//! `-icount` the virtual clock stands still while stopped, so polling changes no figure.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::rtt::TargetMemory;

/// The most bytes one `m`/`M` packet carries (QEMU's packet buffer is 4 KiB of hex).
const MAX_CHUNK: usize = 1024;

pub struct GdbMemory {
    stream: TcpStream,
    running: bool,
    /// Bytes read past the last packet.
    buffered: std::collections::VecDeque<u8>,
}

impl GdbMemory {
    /// Connects to the stub at `address` (retrying until `timeout`: QEMU may still be starting),
    /// and leaves the machine stopped, as the connection leaves it.
    pub fn connect(address: &str, timeout: Duration) -> Result<GdbMemory, String> {
        let started = Instant::now();
        let stream = loop {
            match TcpStream::connect(address) {
                Ok(s) => break s,
                Err(e) if started.elapsed() >= timeout => return Err(format!("cannot connect to the gdbstub at {address}: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let _ = stream.set_nodelay(true);
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        let mut gdb = GdbMemory { stream, running: false, buffered: std::collections::VecDeque::new() };
        // The stop reason: also tells that the stub talks.
        let reply = gdb.request("?")?;
        if !reply.starts_with('T') && !reply.starts_with('S') {
            return Err(format!("the gdbstub at {address} answered '?' with '{reply}'"));
        }
        Ok(gdb)
    }

    fn send(&mut self, payload: &str) -> Result<(), String> {
        let sum = payload.bytes().fold(0u8, |s, b| s.wrapping_add(b));
        let packet = format!("${payload}#{sum:02x}");
        self.stream.write_all(packet.as_bytes()).map_err(|e| format!("gdbstub: {e}"))?;
        // The stub acknowledges each packet with '+'.
        match self.next_byte()? {
            b'+' => Ok(()),
            other => Err(format!("gdbstub: expected '+' after {payload:.20}, got {:?}", other as char)),
        }
    }

    fn next_byte(&mut self) -> Result<u8, String> {
        if self.buffered.is_empty() {
            let mut buf = [0u8; 4096];
            let n = self.stream.read(&mut buf).map_err(|e| format!("gdbstub: {e}"))?;
            if n == 0 {
                return Err("gdbstub: the connection closed (did QEMU exit?)".to_string());
            }
            self.buffered.extend(&buf[..n]);
        }
        Ok(self.buffered.pop_front().expect("refilled above"))
    }

    /// The next packet's payload (acknowledged).
    fn receive(&mut self) -> Result<String, String> {
        while self.next_byte()? != b'$' {}
        let mut payload = Vec::new();
        loop {
            match self.next_byte()? {
                b'#' => break,
                b => payload.push(b),
            }
        }
        let (hi, lo) = (self.next_byte()?, self.next_byte()?);
        let sum = payload.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        let want = u8::from_str_radix(std::str::from_utf8(&[hi, lo]).unwrap_or(""), 16).map_err(|_| "gdbstub: bad checksum digits".to_string())?;
        if sum != want {
            return Err(format!("gdbstub: checksum {sum:02x} != {want:02x}"));
        }
        self.stream.write_all(b"+").map_err(|e| format!("gdbstub: {e}"))?;
        String::from_utf8(payload).map_err(|_| "gdbstub: a reply that is not text".to_string())
    }

    fn request(&mut self, payload: &str) -> Result<String, String> {
        self.send(payload)?;
        self.receive()
    }

    fn halt(&mut self) -> Result<(), String> {
        if self.running {
            self.stream.write_all(&[0x03]).map_err(|e| format!("gdbstub: {e}"))?;
            let reply = self.receive()?;
            if !reply.starts_with('T') && !reply.starts_with('S') {
                return Err(format!("gdbstub: expected a stop reply, got '{reply}'"));
            }
            self.running = false;
        }
        Ok(())
    }

    fn resume(&mut self) -> Result<(), String> {
        if !self.running {
            // No reply until the machine stops again.
            self.send("c")?;
            self.running = true;
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TargetMemory for GdbMemory {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<(), String> {
        let was_running = self.running;
        self.halt()?;
        for (i, chunk) in buf.chunks_mut(MAX_CHUNK).enumerate() {
            let at = address + (i * MAX_CHUNK) as u64;
            let reply = self.request(&format!("m{at:x},{:x}", chunk.len()))?;
            if reply.len() != chunk.len() * 2 {
                return Err(format!("reading {} bytes at {at:#x}: the stub answered '{reply:.40}'", chunk.len()));
            }
            for (j, b) in chunk.iter_mut().enumerate() {
                *b = u8::from_str_radix(&reply[2 * j..2 * j + 2], 16).map_err(|_| format!("reading at {at:#x}: not hex: '{reply:.40}'"))?;
            }
        }
        if was_running {
            self.resume()?;
        }
        Ok(())
    }

    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), String> {
        let was_running = self.running;
        self.halt()?;
        for (i, chunk) in data.chunks(MAX_CHUNK).enumerate() {
            let at = address + (i * MAX_CHUNK) as u64;
            let reply = self.request(&format!("M{at:x},{:x}:{}", chunk.len(), hex(chunk)))?;
            if reply != "OK" {
                return Err(format!("writing {} bytes at {at:#x}: the stub answered '{reply}'", chunk.len()));
            }
        }
        if was_running {
            self.resume()?;
        }
        Ok(())
    }

    fn begin_poll(&mut self) -> Result<(), String> {
        self.halt()
    }

    fn end_poll(&mut self) -> Result<(), String> {
        self.resume()
    }
}
