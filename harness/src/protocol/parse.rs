//! Parsers for individual reply lines. Pure functions, so they are unit-tested without a stream.

use std::fmt::Write as _;

/// Prefix of mcubench's own extension lines: `m-mcubench-<key>-[<value>]`. The official runner
/// ignores unknown `m-` lines, so firmware can report extra measurements without breaking it.
pub const EXTENSION_PREFIX: &str = "m-mcubench-";

/// `m-<tag>-[<value>]` -> `<value>`. `None` if the line does not have that shape.
pub(crate) fn bracketed<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    line.strip_prefix("m-")?
        .strip_prefix(tag)?
        .strip_prefix("-[")?
        .strip_suffix(']')
}

/// `m-mcubench-<key>-[<value>]` -> `Some(Ok((key, value)))`; a line with the prefix but not the
/// shape -> `Some(Err(reason))`; any other line -> `None`.
pub(crate) fn extension(line: &str) -> Option<Result<(String, String), String>> {
    let rest = line.strip_prefix(EXTENSION_PREFIX)?;
    let Some(open) = rest.find("-[") else {
        return Some(Err("expected `m-mcubench-<key>-[<value>]`".into()));
    };
    let key = &rest[..open];
    let Some(value) = rest[open + 2..].strip_suffix(']') else {
        return Some(Err("extension value is not closed by `]`".into()));
    };
    if key.is_empty() {
        return Some(Err("empty extension key".into()));
    }
    Some(Ok((key.to_string(), value.to_string())))
}

/// `a,b,c` floats of `m-results-[...]`. The reference firmware prints `%0.3f`-style values; some
/// printf's print `0.ddd` by hand, which parses the same.
pub(crate) fn results(inner: &str) -> Result<Vec<f32>, String> {
    if inner.trim().is_empty() {
        return Err("empty result vector".into());
    }
    inner
        .split(',')
        .enumerate()
        .map(|(i, v)| {
            v.trim()
                .parse::<f32>()
                .map_err(|_| format!("result #{i} `{}` is not a number", v.trim()))
        })
        .collect()
}

/// Hex string (2 digits per byte, any case) -> int8 values, as in `m-mcubench-output-[...]`.
pub(crate) fn hex_i8(s: &str) -> Result<Vec<i8>, String> {
    Ok(hex_bytes(s)?.into_iter().map(|b| b as i8).collect())
}

pub(crate) fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.len() & 1 != 0 {
        return Err(format!("odd number of hex digits ({})", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("invalid hex digits at offset {i}"))
        })
        .collect()
}

/// Lower-case hex, the payload of a `db` command.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `used/total` (bytes) -> `(used, total)`.
pub(crate) fn mem_usage(s: &str) -> Result<(u64, u64), String> {
    let (used, total) = s.split_once('/').ok_or("expected `used/total`")?;
    let used = used.trim().parse().map_err(|_| format!("`{}` is not a byte count", used.trim()))?;
    let total = total.trim().parse().map_err(|_| format!("`{}` is not a byte count", total.trim()))?;
    Ok((used, total))
}

/// Microseconds between two readings of the DUT's free-running 32-bit µs counter. Wrapping
/// subtraction gives the right answer across one wrap (the counter wraps every ~71.6 min, so a
/// measurement window can contain at most one wrap in practice); the official runner does not
/// handle the wrap and reports a negative time.
pub fn lap_elapsed_us(first: u32, second: u32) -> u32 {
    second.wrapping_sub(first)
}

/// `m-lap-us-<u32>` -> the counter value.
pub(crate) fn lap(line: &str) -> Option<Result<u32, String>> {
    let v = line.strip_prefix("m-lap-us-")?;
    Some(v.trim().parse::<u32>().map_err(|_| format!("`{v}` is not a 32-bit microsecond counter value")))
}

/// `m-<tag>-<integer>` (e.g. `m-warmup-start-10`) -> the integer.
pub(crate) fn tagged_count(line: &str, tag: &str) -> Option<Result<u64, String>> {
    let v = line.strip_prefix("m-")?.strip_prefix(tag)?.strip_prefix('-')?;
    Some(v.trim().parse::<u64>().map_err(|_| format!("`{v}` is not a count")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_lines() {
        assert_eq!(bracketed("m-name-dut-[acme]", "name-dut"), Some("acme"));
        assert_eq!(bracketed("m-model-[kws01]", "model"), Some("kws01"));
        assert_eq!(bracketed("m-model-[kws01", "model"), None);
        assert_eq!(bracketed("m-models-[kws01]", "model"), None);
        assert_eq!(bracketed("m-results-[]", "results"), Some(""));
    }

    #[test]
    fn extension_lines() {
        assert_eq!(extension("m-ready"), None);
        assert_eq!(extension("m-mcubench-ticks-[123]"), Some(Ok(("ticks".into(), "123".into()))));
        assert_eq!(
            extension("m-mcubench-build-id-[a-[b]]"),
            Some(Ok(("build-id".into(), "a-[b]".into())))
        );
        assert!(matches!(extension("m-mcubench-ticks"), Some(Err(_))));
        assert!(matches!(extension("m-mcubench-ticks-[1"), Some(Err(_))));
        assert!(matches!(extension("m-mcubench--[1]"), Some(Err(_))));
    }

    #[test]
    fn result_vectors() {
        assert_eq!(results("0.125,0.875").unwrap(), vec![0.125, 0.875]);
        assert_eq!(results(" 1.5 ").unwrap(), vec![1.5]);
        assert_eq!(results("-1e-3,0.000").unwrap(), vec![-0.001, 0.0]);
        assert!(results("").is_err());
        assert!(results("0.1,,0.2").unwrap_err().contains("#1"));
        assert!(results("0.1,abc").unwrap_err().contains("abc"));
    }

    #[test]
    fn hex_round_trip_and_int8() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_bytes("00ABff").unwrap(), vec![0x00, 0xab, 0xff]);
        assert_eq!(hex_i8("7f80ff00").unwrap(), vec![127, -128, -1, 0]);
        assert!(hex_bytes("abc").is_err());
        assert!(hex_bytes("zz").is_err());
        assert!(hex_bytes("é0").is_err());
    }

    #[test]
    fn mem_usage_pairs() {
        assert_eq!(mem_usage("1024/4096").unwrap(), (1024, 4096));
        assert!(mem_usage("1024").is_err());
        assert!(mem_usage("x/1").is_err());
    }

    #[test]
    fn laps_and_wrap() {
        assert_eq!(lap("m-lap-us-42"), Some(Ok(42)));
        assert_eq!(lap("m-lap-us-4294967295"), Some(Ok(u32::MAX)));
        assert!(matches!(lap("m-lap-us-4294967296"), Some(Err(_))));
        assert!(matches!(lap("m-lap-us--1"), Some(Err(_))));
        assert_eq!(lap("m-lapus-1"), None);
        assert_eq!(lap_elapsed_us(100, 350), 250);
        assert_eq!(lap_elapsed_us(u32::MAX - 99, 150), 250);
    }

    #[test]
    fn tagged_counts() {
        assert_eq!(tagged_count("m-warmup-start-10", "warmup-start"), Some(Ok(10)));
        assert_eq!(tagged_count("m-warmup-done", "warmup-start"), None);
        assert!(matches!(tagged_count("m-infer-start-x", "infer-start"), Some(Err(_))));
    }
}
