//! Console output: strings, integers, hex and a small fixed-point float formatter (3 decimals,
//! like printf's `%0.3f`), so that core::fmt's float machinery never gets linked in.

use crate::boards::Console;
use crate::console::Port as Serial;

pub struct Out {
    pub serial: Serial,
}

impl Out {
    pub fn new(serial: Serial) -> Self {
        Self { serial }
    }

    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.put(b);
    }

    #[inline(always)]
    fn put(&mut self, b: u8) {
        #[cfg(feature = "test-fault-noisy-uart")]
        let Some(b) = noisy_uart(b) else { return };
        self.serial.write_byte(b);
    }

    #[inline(never)]
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    #[inline(never)]
    pub fn bytes(&mut self, s: &[u8]) {
        for &b in s {
            self.put(b);
        }
    }

    #[inline(never)]
    pub fn eol(&mut self) {
        self.bytes(b"\r\n");
    }

    /// `s` followed by `\r\n`.
    #[inline(never)]
    pub fn line(&mut self, s: &str) {
        self.str(s);
        self.eol();
    }

    #[inline(never)]
    pub fn u64(&mut self, mut v: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.bytes(&buf[i..]);
    }

    #[inline(never)]
    pub fn i64(&mut self, v: i64) {
        if v < 0 {
            self.byte(b'-');
        }
        self.u64(v.unsigned_abs());
    }

    #[inline(never)]
    pub fn hex_byte(&mut self, b: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.byte(HEX[(b >> 4) as usize]);
        self.byte(HEX[(b & 15) as usize]);
    }

    /// Like C's `printf("%0.3f", v)`: sign for negative values (also when they round to zero),
    /// round half to even on exact ties, `nan` / `inf` / `-inf`.
    #[inline(never)]
    #[cfg_attr(feature = "no-model", allow(dead_code))]
    pub fn f3(&mut self, v: f32) {
        if v.is_nan() {
            self.str("nan");
            return;
        }
        if v.is_sign_negative() {
            self.byte(b'-');
        }
        if v.is_infinite() {
            self.str("inf");
            return;
        }
        let (int, frac) = fixed3(v);
        self.u64(int);
        self.byte(b'.');
        self.byte(b'0' + (frac / 100) as u8);
        self.byte(b'0' + (frac / 10 % 10) as u8);
        self.byte(b'0' + (frac % 10) as u8);
    }
}

/// |v| rounded to 3 decimals, as (integer part, thousandths). Computed in f64: the product
/// |v| * 1000 of an f32 is then exact or within half an f64 ulp, so ties are detected exactly.
#[cfg_attr(feature = "no-model", allow(dead_code))]
pub fn fixed3(v: f32) -> (u64, u32) {
    let s = (v as f64).abs() * 1000.0;
    if s >= 1.8e19 {
        // Beyond u64: print the saturated value (never happens for scores).
        return (u64::MAX / 1000, 999);
    }
    let mut t = s as u64; // truncates toward zero
    let rem = s - t as f64;
    if rem > 0.5 || (rem == 0.5 && t & 1 == 1) {
        t += 1;
    }
    (t / 1000, (t % 1000) as u32)
}

impl core::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.str(s);
        Ok(())
    }
}

/// `test-fault-noisy-uart`: bytes written since boot (the boot banner and the `profile` reply
/// get through clean, so the noise hits the measurement).
#[cfg(feature = "test-fault-noisy-uart")]
static mut NOISY_UART_BYTES: u32 = 0;

/// `test-fault-noisy-uart`: a bad serial link after the first 1 KiB: every 97th byte arrives
/// with bit 7 set (not UTF-8: a garbage line), every 251st is lost.
#[cfg(feature = "test-fault-noisy-uart")]
fn noisy_uart(b: u8) -> Option<u8> {
    // SAFETY: single-threaded firmware; only the console writes through here.
    let n = unsafe {
        let c = &mut *core::ptr::addr_of_mut!(NOISY_UART_BYTES);
        *c = c.wrapping_add(1);
        *c
    };
    if n <= 1024 {
        Some(b)
    } else if n % 251 == 0 {
        None
    } else if n % 97 == 0 {
        Some(b | 0x80)
    } else {
        Some(b)
    }
}
