//! The host end of an RTT console (the firmware's `console-rtt`): find the control block in the
//! target's RAM, read the up channel, write the down channel. It works on anything that can
//! read and write target memory ([`TargetMemory`]): a debug probe on silicon, or QEMU's gdbstub
//! on the emulated farm, so the code a real board uses is the code the tests run.
//!
//! Layout (SEGGER's, as every RTT tool reads it): a 16-byte id `SEGGER RTT`, the numbers of up
//! and down channels, then 24-byte channel descriptors (name, buffer, size, write, read,
//! flags; 32-bit words). The device writes the up channel's `write` and the down channel's
//! `read`; the host the other two.
use std::ops::Range;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::BoardStream;

/// Memory access to a running target. Addresses and sizes are the target's (32-bit here).
pub trait TargetMemory: Send {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<(), String>;
    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), String>;
    /// Brackets one poll: a backend that must stop the target to reach its memory (QEMU's
    /// gdbstub) stops it here and lets it go in [`TargetMemory::end_poll`].
    fn begin_poll(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn end_poll(&mut self) -> Result<(), String> {
        Ok(())
    }
}

const ID: &[u8; 10] = b"SEGGER RTT";
const DESCRIPTOR_BYTES: u64 = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RttError {
    #[error("no RTT control block in {:#x}..{:#x} (is the firmware built with `console-rtt`, and running?)", .0.start, .0.end)]
    NotFound(Range<u64>),
    #[error("the RTT control block at {address:#x} is not valid: {why}")]
    Invalid { address: u64, why: String },
    #[error("target memory: {0}")]
    Memory(String),
}

/// One ring buffer of the control block, as found at attach time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ring {
    /// Address of the descriptor.
    descriptor: u64,
    buffer: u64,
    size: u32,
}

impl Ring {
    fn write_offset(&self) -> u64 {
        self.descriptor + 12
    }
    fn read_offset(&self) -> u64 {
        self.descriptor + 16
    }
}

/// An attached RTT console: up channel 0 and down channel 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RttConsole {
    pub control_block: u64,
    up: Ring,
    down: Ring,
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

impl RttConsole {
    /// Attaches to the control block at `address` (the firmware's `_SEGGER_RTT` symbol), or
    /// looks for it in `ram` when there is no address. The id is checked either way.
    pub fn attach(mem: &mut dyn TargetMemory, address: Option<u64>, ram: Range<u64>) -> Result<RttConsole, RttError> {
        let address = match address {
            Some(a) => a,
            None => scan(mem, ram.clone())?.ok_or(RttError::NotFound(ram.clone()))?,
        };
        let mut header = [0u8; 24 + 2 * DESCRIPTOR_BYTES as usize];
        mem.read(address, &mut header).map_err(RttError::Memory)?;
        if &header[..ID.len()] != ID {
            return Err(RttError::NotFound(address..address + 16));
        }
        let invalid = |why: String| RttError::Invalid { address, why };
        let (max_up, max_down) = (word(&header, 16), word(&header, 20));
        if max_up == 0 || max_down == 0 || max_up > 16 || max_down > 16 {
            return Err(invalid(format!("{max_up} up and {max_down} down channels (needs at least one of each)")));
        }
        let ring = |descriptor: u64, bytes: &[u8]| -> Result<Ring, RttError> {
            let (buffer, size) = (word(bytes, 4), word(bytes, 8));
            if buffer == 0 || size < 2 {
                return Err(invalid(format!("channel at {descriptor:#x} has buffer {buffer:#x} of {size} bytes")));
            }
            Ok(Ring { descriptor, buffer: buffer as u64, size })
        };
        let up_at = address + 24;
        let up = ring(up_at, &header[24..48])?;
        // Down channels follow all the up channels.
        let down_at = address + 24 + max_up as u64 * DESCRIPTOR_BYTES;
        let mut down_bytes = [0u8; DESCRIPTOR_BYTES as usize];
        mem.read(down_at, &mut down_bytes).map_err(RttError::Memory)?;
        let down = ring(down_at, &down_bytes)?;
        Ok(RttConsole { control_block: address, up, down })
    }

    /// The bytes the device wrote since the last call (marks them read).
    pub fn read_up(&self, mem: &mut dyn TargetMemory) -> Result<Vec<u8>, RttError> {
        let mut offsets = [0u8; 8];
        mem.read(self.up.write_offset(), &mut offsets).map_err(RttError::Memory)?;
        let (write, read) = (word(&offsets, 0), word(&offsets, 4));
        let size = self.up.size;
        if write >= size || read >= size {
            return Err(RttError::Invalid { address: self.control_block, why: format!("up offsets write {write}, read {read} past the size {size}") });
        }
        let mut out = Vec::new();
        let mut at = read;
        // At most two pieces: to the end of the buffer, then from its start.
        while at != write {
            let end = if write > at { write } else { size };
            let mut piece = vec![0u8; (end - at) as usize];
            mem.read(self.up.buffer + at as u64, &mut piece).map_err(RttError::Memory)?;
            out.extend_from_slice(&piece);
            at = if end == size { 0 } else { end };
        }
        if !out.is_empty() {
            mem.write(self.up.read_offset(), &write.to_le_bytes()).map_err(RttError::Memory)?;
        }
        Ok(out)
    }

    /// Writes as much of `data` as the down buffer has room for; how much was written.
    pub fn write_down(&self, mem: &mut dyn TargetMemory, data: &[u8]) -> Result<usize, RttError> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut offsets = [0u8; 8];
        mem.read(self.down.write_offset(), &mut offsets).map_err(RttError::Memory)?;
        let (write, read) = (word(&offsets, 0), word(&offsets, 4));
        let size = self.down.size;
        if write >= size || read >= size {
            return Err(RttError::Invalid { address: self.control_block, why: format!("down offsets write {write}, read {read} past the size {size}") });
        }
        // One slot stays empty, so a full ring is told from an empty one.
        let free = (read + size - write - 1) % size;
        let n = (data.len() as u32).min(free);
        let mut at = write;
        let mut done = 0u32;
        while done < n {
            let chunk = (n - done).min(size - at);
            mem.write(self.down.buffer + at as u64, &data[done as usize..(done + chunk) as usize]).map_err(RttError::Memory)?;
            done += chunk;
            at = (at + chunk) % size;
        }
        if n > 0 {
            mem.write(self.down.write_offset(), &at.to_le_bytes()).map_err(RttError::Memory)?;
        }
        Ok(n as usize)
    }
}

/// Looks for the id in `ram`, 4 KiB at a time (the id is word aligned).
fn scan(mem: &mut dyn TargetMemory, ram: Range<u64>) -> Result<Option<u64>, RttError> {
    const CHUNK: u64 = 4096;
    let mut at = ram.start;
    let mut buf = vec![0u8; CHUNK as usize + ID.len()];
    while at < ram.end {
        let len = ((ram.end - at).min(CHUNK) as usize + ID.len()).min((ram.end - at) as usize);
        mem.read(at, &mut buf[..len]).map_err(RttError::Memory)?;
        if let Some(i) = buf[..len].windows(ID.len()).step_by(4).position(|w| w == ID) {
            return Ok(Some(at + i as u64 * 4));
        }
        at += CHUNK;
    }
    Ok(None)
}

/// Attaches once the firmware has set the block up: at the ELF's `_SEGGER_RTT` when it has
/// that symbol, else anywhere in `ram`; tried again until `timeout` (the firmware does it a
/// moment after reset). Blocking.
pub fn attach_when_ready(
    mut mem: Box<dyn TargetMemory>,
    elf: &std::path::Path,
    ram: Range<u64>,
    timeout: Duration,
) -> Result<(Box<dyn TargetMemory>, RttConsole), String> {
    let address = crate::build::elf::symbol_address(elf, "_SEGGER_RTT").map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    loop {
        mem.begin_poll()?;
        let attached = RttConsole::attach(mem.as_mut(), address, ram.clone());
        mem.end_poll()?;
        match attached {
            Ok(console) => return Ok((mem, console)),
            Err(RttError::NotFound(_)) if started.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{e} (waited {:?})", started.elapsed())),
        }
    }
}

/// How often an idle console is polled.
const IDLE_POLL: Duration = Duration::from_millis(2);
/// How soon it is polled again after bytes moved either way.
const BUSY_POLL: Duration = Duration::from_micros(250);
/// Host-to-device bytes held here at most; beyond that the stream's own buffer holds them.
const MAX_PENDING: usize = 4096;

/// The console as the byte stream the protocol client reads and writes, like a UART. A task
/// polls the target: what the device wrote comes out of the stream, what is written into the
/// stream goes down as the device makes room. It ends when the stream is dropped, or with an
/// error line in the stream's place when the target's memory cannot be reached.
pub fn stream(mem: Box<dyn TargetMemory>, console: RttConsole) -> BoardStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut from_client, mut to_client) = tokio::io::split(theirs);
    tokio::spawn(async move {
        let mut mem = Some(mem);
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 4096];
        // Right after bytes moved, a reply is likely on its way: look again soon.
        let mut wait = IDLE_POLL;
        loop {
            // Take what the client wrote, waiting at most `wait` for it; while the device has a
            // backlog to read, leave the rest in the pipe (it pushes back on the writer).
            if pending.len() < MAX_PENDING {
                if let Ok(read) = tokio::time::timeout(wait, from_client.read(&mut buf)).await {
                    match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            } else {
                tokio::time::sleep(IDLE_POLL).await;
            }
            let Some(m) = mem.take() else { return };
            let console = console.clone();
            let down = std::mem::take(&mut pending);
            // Memory access blocks (USB, a socket): off the runtime's workers.
            let polled = tokio::task::spawn_blocking(move || {
                let mut m = m;
                let result = (|| -> Result<(Vec<u8>, usize), String> {
                    m.begin_poll()?;
                    let up = console.read_up(m.as_mut()).map_err(|e| e.to_string());
                    let written = up.as_ref().ok().map(|_| console.write_down(m.as_mut(), &down).map_err(|e| e.to_string()));
                    m.end_poll()?;
                    let up = up?;
                    let written = written.unwrap_or(Ok(0))?;
                    Ok((up, written))
                })();
                (m, down, result)
            })
            .await;
            let Ok((m, down, result)) = polled else { return };
            mem = Some(m);
            match result {
                Ok((up, written)) => {
                    wait = if up.is_empty() && written == 0 { IDLE_POLL } else { BUSY_POLL };
                    pending = down[written..].to_vec();
                    if !up.is_empty() && to_client.write_all(&up).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // The protocol client shows the last line it saw: make it say what broke.
                    let _ = to_client.write_all(format!("\r\ne-[host: RTT console lost: {e}]\r\n").as_bytes()).await;
                    return;
                }
            }
        }
    });
    Box::new(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target's RAM as a byte vector at `base`.
    struct Ram {
        base: u64,
        bytes: Vec<u8>,
    }

    impl TargetMemory for Ram {
        fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<(), String> {
            let at = address.checked_sub(self.base).ok_or("below RAM")? as usize;
            let src = self.bytes.get(at..at + buf.len()).ok_or_else(|| format!("{address:#x}+{} past RAM", buf.len()))?;
            buf.copy_from_slice(src);
            Ok(())
        }
        fn write(&mut self, address: u64, data: &[u8]) -> Result<(), String> {
            let at = (address - self.base) as usize;
            self.bytes[at..at + data.len()].copy_from_slice(data);
            Ok(())
        }
    }

    const BASE: u64 = 0x2000_0000;
    const CB: u64 = BASE + 0x1100;
    const UP: u64 = BASE + 0x200;
    const DOWN: u64 = BASE + 0x100;

    fn put(ram: &mut Ram, address: u64, value: u32) {
        ram.write(address, &value.to_le_bytes()).unwrap();
    }

    fn get(ram: &mut Ram, address: u64) -> u32 {
        let mut b = [0u8; 4];
        ram.read(address, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    /// RAM with a control block as the firmware lays it out: up 16 bytes, down 8 bytes.
    fn ram() -> Ram {
        let mut ram = Ram { base: BASE, bytes: vec![0; 0x2000] };
        ram.write(CB, b"SEGGER RTT\0\0\0\0\0\0").unwrap();
        put(&mut ram, CB + 16, 1);
        put(&mut ram, CB + 20, 1);
        put(&mut ram, CB + 24 + 4, UP as u32);
        put(&mut ram, CB + 24 + 8, 16);
        put(&mut ram, CB + 48 + 4, DOWN as u32);
        put(&mut ram, CB + 48 + 8, 8);
        ram
    }

    /// The device's side of the up ring, as src/rtt.rs writes it.
    fn device_writes(ram: &mut Ram, bytes: &[u8]) {
        for &b in bytes {
            let w = get(ram, CB + 24 + 12);
            ram.write(UP + w as u64, &[b]).unwrap();
            put(ram, CB + 24 + 12, (w + 1) % 16);
        }
    }

    /// The device's side of the down ring.
    fn device_reads(ram: &mut Ram) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let (r, w) = (get(ram, CB + 48 + 16), get(ram, CB + 48 + 12));
            if r == w {
                return out;
            }
            let mut b = [0u8];
            ram.read(DOWN + r as u64, &mut b).unwrap();
            out.push(b[0]);
            put(ram, CB + 48 + 16, (r + 1) % 8);
        }
    }

    #[test]
    fn the_block_is_found_by_scanning_or_by_address() {
        let mut ram = ram();
        let found = RttConsole::attach(&mut ram, None, BASE..BASE + 0x2000).unwrap();
        assert_eq!(found.control_block, CB);
        assert_eq!(RttConsole::attach(&mut ram, Some(CB), 0..0).unwrap(), found);
        let mut empty = Ram { base: BASE, bytes: vec![0; 0x2000] };
        assert_eq!(RttConsole::attach(&mut empty, None, BASE..BASE + 0x2000), Err(RttError::NotFound(BASE..BASE + 0x2000)));
        put(&mut ram, CB + 48 + 8, 0);
        let e = RttConsole::attach(&mut ram, Some(CB), 0..0).unwrap_err().to_string();
        assert!(e.contains("has buffer 0x20000100 of 0 bytes"), "{e}");
    }

    #[test]
    fn up_bytes_come_out_in_order_across_the_wrap() {
        let mut ram = ram();
        let rtt = RttConsole::attach(&mut ram, Some(CB), 0..0).unwrap();
        assert_eq!(rtt.read_up(&mut ram).unwrap(), b"");
        device_writes(&mut ram, b"m-ready\r\n");
        assert_eq!(rtt.read_up(&mut ram).unwrap(), b"m-ready\r\n");
        // 9 + 12 > 16: this one wraps around the end of the buffer.
        device_writes(&mut ram, b"m-lap-us-42\n");
        assert_eq!(rtt.read_up(&mut ram).unwrap(), b"m-lap-us-42\n");
        assert_eq!(get(&mut ram, CB + 24 + 16), (9 + 12) % 16, "read offset handed back");
    }

    #[test]
    fn down_writes_stop_at_a_full_ring_and_resume() {
        let mut ram = ram();
        let rtt = RttConsole::attach(&mut ram, Some(CB), 0..0).unwrap();
        // 8-byte ring: 7 fit.
        assert_eq!(rtt.write_down(&mut ram, b"infer 10 1%").unwrap(), 7);
        assert_eq!(rtt.write_down(&mut ram, b"0 1%").unwrap(), 0, "full");
        assert_eq!(device_reads(&mut ram), b"infer 1");
        assert_eq!(rtt.write_down(&mut ram, b"0 1%").unwrap(), 4);
        assert_eq!(device_reads(&mut ram), b"0 1%", "wrapped");
        put(&mut ram, CB + 48 + 12, 99);
        assert!(rtt.write_down(&mut ram, b"x").unwrap_err().to_string().contains("down offsets write 99"));
    }
}
