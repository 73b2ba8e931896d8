//! The MLPerf Tiny DUT protocol (performance mode), as the reference `internally_implemented.cpp`
//! of mlcommons/tiny defines it, plus mcubench's extra `m-mcubench-*` lines. See
//! docs/protocol.md for the full description.

use core::sync::atomic::{compiler_fence, Ordering};

use crate::boards::Console;
use crate::out::Out;
use crate::{stack, timer};

/// Command buffer size of the reference (`EE_CMD_SIZE`): longer commands are truncated.
pub const CMD_SIZE: usize = 80;
pub const CMD_TERMINATOR: u8 = b'%';
pub const FW_VERSION: &str = "ULPMark for tinyML Firmware V0.0.1";
pub const VENDOR_NAME: &str = "mcubench";

/// How `th_timestamp` marks the window: `m-lap-us` lines (performance mode) or a pulse on the
/// timestamp pin for an energy monitor (`energy-mode`, MLPerf Tiny's `EE_CFG_ENERGY_MODE`).
#[cfg(not(feature = "energy-mode"))]
const TIMESTAMP_MODE: &str = "m-timestamp-mode-performance";
#[cfg(feature = "energy-mode")]
const TIMESTAMP_MODE: &str = "m-timestamp-mode-energy";

/// How long the timestamp pin is held low: 1 ms, well above the monitors' detection (the PPK2
/// wants 100 us at 100 kHz; the LPM01A's event input is edge triggered), and about as long as
/// MLPerf Tiny's reference pulse.
#[cfg(feature = "energy-mode")]
const PULSE_US: u64 = 1000;

/// One falling edge on the timestamp pin (pulled low for [`PULSE_US`], then released).
#[cfg(feature = "energy-mode")]
#[inline(never)]
fn energy_pulse() {
    let hold = PULSE_US * crate::config::SYSTICK_HZ / 1_000_000;
    use crate::boards::{TimestampPin, TIMESTAMP_PIN};
    TIMESTAMP_PIN.set(false);
    let start = timer::ticks();
    while timer::ticks().wrapping_sub(start) < hold {}
    TIMESTAMP_PIN.set(true);
}

/// What the benchmark behind the protocol provides (the reference's `th_*` hooks).
pub trait Dut {
    type Error: core::fmt::Display;
    /// Rest of `th_final_initialize`: report set-up errors (as `e-` lines) at boot.
    fn final_init(&mut self, out: &mut Out);
    /// `th_load_tensor`: db buffer -> input tensor. `loaded` is how many bytes `db` commands
    /// have written. Prints its own `e-` lines; `Err` aborts the `infer` command.
    fn load_tensor(&mut self, out: &mut Out, db: &[u8], loaded: usize) -> Result<(), ()>;
    /// Writes the prepared input into the input tensor. Called before every inference,
    /// outside the counted window: the runtime reuses the input tensor's bytes for
    /// intermediates, so each inference needs it written again.
    fn prepare_input(&mut self) {}
    /// `th_infer`: one inference. Runs inside the timed window: no printing.
    fn infer_once(&mut self) -> Result<(), Self::Error>;
    /// `th_results`: prints `m-results-[...]` (or an `e-` line).
    fn results(&mut self, out: &mut Out, db: &[u8], after_infer: bool);
    /// Extra `m-mcubench-*` lines after an inference (arena, output tensor).
    fn infer_extensions(&mut self, out: &mut Out);
    /// Extra `m-mcubench-*` lines at boot and in `profile`.
    fn info(&mut self, out: &mut Out);
}

pub struct Protocol<D: Dut> {
    pub out: Out,
    db: &'static mut [u8],
    /// `g_buff_size`: bytes announced by `db load N`.
    db_size: usize,
    /// `g_buff_pos`: bytes written since `db load`.
    db_pos: usize,
    cmd: [u8; CMD_SIZE],
    cmd_len: usize,
    pub dut: D,
}

/// C `atoi`: leading white space, optional sign, decimal digits; wraps like 32-bit int.
#[inline(never)]
fn atoi(s: &[u8]) -> i32 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut v: i32 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.wrapping_mul(10).wrapping_add((s[i] - b'0') as i32);
        i += 1;
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `strtok(.., " ")`: tokens separated by runs of spaces.
struct Tokens<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&c| c != b' ')?;
        let rest = &self.rest[start..];
        let end = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(&rest[..end])
    }
}

/// The timed window: N inferences, each between its own `dbg #1` / `dbg #2` markers, which
/// the QEMU instruction-counting plugin reports as one window each (N windows per `infer`).
/// Writing the input before each inference stays outside the markers, so the count holds
/// only inference. Returns the SysTick ticks inside the markers, summed. Kept out of line,
/// with compiler fences, so no setup work moves inside.
///
/// On boards with a DWT cycle counter (`boards::CYCLES == Cycles::Dwt`) CYCCNT is also reset
/// right after the first SysTick reading and read right before the second; the second value
/// returned is the cycles summed over the N inferences (0 on other boards, where this code is
/// compiled out: QEMU builds are unchanged).
#[inline(never)]
fn timed_window<D: Dut>(dut: &mut D, n: u32) -> (u64, u64, Result<(), D::Error>) {
    let mut ticks = 0u64;
    let mut cycles = 0u64;
    let mut i = 0;
    while i < n {
        dut.prepare_input();
        timer::align_phase();
        let start = timer::ticks();
        if DWT {
            crate::cycles::reset();
        }
        compiler_fence(Ordering::SeqCst);
        window_start_marker();
        compiler_fence(Ordering::SeqCst);
        let result = dut.infer_once();
        compiler_fence(Ordering::SeqCst);
        window_end_marker();
        compiler_fence(Ordering::SeqCst);
        let cyccnt = if DWT { crate::cycles::read() } else { 0 };
        let t = timer::ticks().wrapping_sub(start);
        ticks += t;
        if DWT {
            cycles += crate::cycles::unwrap(cyccnt, t);
        }
        if let Err(e) = result {
            return (ticks, cycles, Err(e));
        }
        i += 1;
    }
    (ticks, cycles, Ok(()))
}

/// The board counts cycles with the DWT (a constant: the code is compiled out elsewhere).
const DWT: bool = matches!(crate::boards::CYCLES, crate::boards::Cycles::Dwt);

#[inline(always)]
pub(crate) fn window_start_marker() {
    // SAFETY: DBG is a hint instruction (a no-op without a debugger that uses it). No `nomem`:
    // the compiler must treat it as touching memory, so loads/stores are not moved across.
    // ARMv6-M has no DBG (and no counting plugin runs there): a compiler-level barrier only.
    #[cfg(not(mcubench_armv6m))]
    unsafe {
        core::arch::asm!("dbg #1", options(nostack, preserves_flags));
    }
    #[cfg(mcubench_armv6m)]
    compiler_fence(Ordering::SeqCst);
}

#[inline(always)]
pub(crate) fn window_end_marker() {
    // SAFETY: see window_start_marker.
    #[cfg(not(mcubench_armv6m))]
    unsafe {
        core::arch::asm!("dbg #2", options(nostack, preserves_flags));
    }
    #[cfg(mcubench_armv6m)]
    compiler_fence(Ordering::SeqCst);
}

impl<D: Dut> Protocol<D> {
    pub fn new(out: Out, db: &'static mut [u8], dut: D) -> Self {
        Self { out, db, db_size: 0, db_pos: 0, cmd: [0; CMD_SIZE], cmd_len: 0, dut }
    }

    /// Boot messages of `ee_benchmark_initialize`: `th_timestamp_initialize` prints the mode and
    /// takes one timestamp. The caller then runs `Dut::final_init` and `boot_done`.
    #[inline(never)]
    pub fn boot_banner(&mut self) {
        #[cfg(feature = "energy-mode")]
        crate::boards::TimestampPin::init(&crate::boards::TIMESTAMP_PIN);
        self.out.line(TIMESTAMP_MODE);
        self.timestamp();
    }

    #[inline(never)]
    pub fn boot_done(&mut self) {
        self.dut.info(&mut self.out);
        self.out.line("m-init-done");
        self.out.line("m-ready");
    }

    /// Polls the console forever, dispatching each `%`-terminated command.
    pub fn run(&mut self) -> ! {
        loop {
            if let Some(c) = self.out.serial.read_byte() {
                self.feed(c);
            }
        }
    }

    /// `ee_serial_callback`: the first 80 characters of a command are kept, the rest dropped.
    pub fn feed(&mut self, c: u8) {
        if c == CMD_TERMINATOR {
            let cmd = self.cmd;
            let len = self.cmd_len;
            self.cmd_len = 0;
            // The reference NUL-terminates: a NUL inside the command ends it.
            let len = cmd[..len].iter().position(|&b| b == 0).unwrap_or(len);
            self.command(&cmd[..len]);
        } else if self.cmd_len < CMD_SIZE {
            self.cmd[self.cmd_len] = c;
            self.cmd_len += 1;
        }
    }

    /// `th_timestamp` in performance mode: `m-lap-us-<u32 microseconds>`.
    #[inline(never)]
    fn timestamp(&mut self) {
        #[cfg(feature = "energy-mode")]
        energy_pulse();
        #[cfg(not(feature = "energy-mode"))]
        {
            let t = timer::ticks();
            self.lap(t);
        }
    }

    #[cfg_attr(feature = "energy-mode", allow(dead_code))]
    #[inline(never)]
    fn lap(&mut self, ticks: u64) {
        self.out.str("m-lap-us-");
        self.out.u64(timer::ticks_to_us(ticks) as u32 as u64);
        self.out.eol();
    }

    /// `ee_serial_command_parser_callback`.
    #[inline(never)]
    fn command(&mut self, cmd: &[u8]) {
        let mut toks = Tokens { rest: cmd };
        let tok = toks.next().unwrap_or(b"");
        match tok {
            b"name" => {
                self.out.str("m-name-dut-[");
                self.out.str(VENDOR_NAME);
                self.out.line("]");
            }
            b"timestamp" => self.timestamp(),
            b"profile" => {
                self.out.str("m-profile-[");
                self.out.str(FW_VERSION);
                self.out.line("]");
                self.out.str("m-model-[");
                self.out.str(crate::config::WORKLOAD);
                self.out.line("]");
                // Also here, not only at boot: a board reached without a reset (kind: serial)
                // tells the harness how its window is timed.
                self.out.line(TIMESTAMP_MODE);
                self.dut.info(&mut self.out);
            }
            b"help" => self.help(),
            b"db" => self.db(&mut toks),
            b"infer" => self.infer_command(&mut toks),
            b"results" => {
                let db = &*self.db;
                self.dut.results(&mut self.out, db, false);
            }
            _ => {
                self.out.str("e-[Unknown command: ");
                self.out.bytes(tok);
                self.out.line("]");
            }
        }
        self.out.line("m-ready");
    }

    #[inline(never)]
    fn help(&mut self) {
        let o = &mut self.out;
        o.line(FW_VERSION);
        o.eol();
        o.line("help         : Print this information");
        o.line("name         : Print the name of the device");
        o.line("timestamp    : Print a timestamp (m-lap-us-N)");
        o.line("db SUBCMD    : Manipulate a generic byte buffer");
        o.line("  load N     : Allocate N bytes and set load counter");
        o.line("  db HH[HH]* : Load 8-bit hex byte(s) until N bytes");
        o.line("  print      : Print the N loaded bytes as hex");
        o.line("infer N [W=10]: Load input, execute N inferences after W warmup loops");
        o.line("results      : Return the result fp32 vector");
    }

    /// `ee_buffer_parse`.
    #[inline(never)]
    fn db(&mut self, toks: &mut Tokens<'_>) {
        let Some(sub) = toks.next() else {
            self.out.line("e-[Command 'db' requires a subcommand]");
            return;
        };
        match sub {
            b"load" => {
                let Some(arg) = toks.next() else {
                    self.out.line("e-[Command 'db load' requires the # of bytes]");
                    return;
                };
                let n = atoi(arg);
                // (size_t)atoi(..) on a 32-bit target
                self.db_size = n as u32 as usize;
                if self.db_size == 0 {
                    self.out.line("e-[Command 'db load' must be >0 bytes]");
                    return;
                }
                self.db_pos = 0;
                if self.db_size > self.db.len() {
                    // The reference's wording (it has no m-/e- prefix). Bytes beyond the buffer
                    // are counted but dropped.
                    self.out.str("Supplied buffer size ");
                    self.out.i64(n as i64);
                    self.out.str(" exceeds maximum of ");
                    self.out.u64(self.db.len() as u64);
                    self.out.eol();
                } else {
                    self.out.str("m-[Expecting ");
                    self.out.i64(n as i64);
                    self.out.line(" bytes]");
                }
            }
            b"print" => {
                let n = self.db_size.min(self.db.len());
                let mut i = 0;
                while i < n {
                    if i % 8 == 0 {
                        self.out.str("m-buffer-");
                    }
                    self.out.hex_byte(self.db[i]);
                    if (i + 1) % 8 == 0 || i + 1 == n {
                        self.out.eol();
                    } else {
                        self.out.byte(b'-');
                    }
                    i += 1;
                }
            }
            hex => {
                if hex.len() % 2 != 0 {
                    self.out.line("e-[Insufficent number of hex digits]");
                    return;
                }
                for pair in hex.chunks_exact(2) {
                    let (Some(h), Some(l)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
                        self.out.str("e-[Invalid hex digit '");
                        self.out.bytes(pair);
                        self.out.line("']");
                        return;
                    };
                    if self.db_pos < self.db.len() {
                        self.db[self.db_pos] = (h << 4) | l;
                    }
                    self.db_pos += 1;
                    if self.db_pos == self.db_size {
                        self.out.line("m-load-done");
                        // The rest of the digits is ignored.
                        return;
                    }
                }
            }
        }
    }

    /// The `infer` branch of `ee_profile_parse`: N defaults to 1 and W to 10.
    #[inline(never)]
    fn infer_command(&mut self, toks: &mut Tokens<'_>) {
        let mut n: u32 = 1;
        let mut w: u32 = 10;
        if let Some(arg) = toks.next() {
            let i = atoi(arg);
            if i <= 0 {
                self.out.line("e-[Inference iterations must be >0]");
                return;
            }
            n = i as u32;
            if let Some(arg) = toks.next() {
                let i = atoi(arg);
                if i < 0 {
                    self.out.line("e-[Inference warmup must be >=0]");
                    return;
                }
                w = i as u32;
            }
        }
        self.infer(n, w);
    }

    /// `m-mcubench-cycles-[..]` of the timed window (real boards only; QEMU boards print none).
    #[inline(never)]
    fn cycles_line(&mut self, cycles: u64) {
        use crate::boards::{Cycles, CYCLES};
        match CYCLES {
            Cycles::Off => {}
            Cycles::Dwt if crate::cycles::running() => {
                self.out.str("m-mcubench-cycles-[");
                self.out.u64(cycles);
                self.out.line("]");
            }
            Cycles::Dwt => self.out.line("m-mcubench-cycles-[n/a: DWT CYCCNT does not count]"),
            Cycles::NotAvailable(why) => {
                self.out.str("m-mcubench-cycles-[n/a: ");
                self.out.str(why);
                self.out.line("]");
            }
        }
    }

    /// `ee_infer`.
    #[inline(never)]
    fn infer(&mut self, n: u32, w: u32) {
        // Stack high-water mark of this command: paint afresh, measure at the end.
        stack::paint();
        {
            let db = &*self.db;
            if self.dut.load_tensor(&mut self.out, db, self.db_pos).is_err() {
                return;
            }
        }
        self.out.str("m-warmup-start-");
        self.out.u64(w as u64);
        self.out.eol();
        for _ in 0..w {
            self.dut.prepare_input();
            if let Err(e) = self.dut.infer_once() {
                let _ = core::fmt::write(&mut self.out, format_args!("e-[inference failed: {e}]\r\n"));
                return;
            }
        }
        self.out.line("m-warmup-done");
        self.out.str("m-infer-start-");
        self.out.u64(n as u64);
        self.out.eol();
        self.timestamp();
        let (ticks, cycles, result) = timed_window(&mut self.dut, n);
        self.timestamp();
        self.out.line("m-infer-done");
        if let Err(e) = result {
            let _ = core::fmt::write(&mut self.out, format_args!("e-[inference failed: {e}]\r\n"));
            return;
        }
        {
            let db = &*self.db;
            self.dut.results(&mut self.out, db, true);
        }
        self.out.str("m-mcubench-ticks-[");
        self.out.u64(ticks);
        self.out.line("]");
        self.cycles_line(cycles);
        let (peak, painted) = stack::measure();
        self.out.str("m-mcubench-stack-[");
        self.out.u64(peak as u64);
        self.out.byte(b'/');
        self.out.u64(painted as u64);
        self.out.line("]");
        self.dut.infer_extensions(&mut self.out);
    }
}
