//! Text mutations shared by the fuzz tests of line-oriented files (YAML, CSV).
#![allow(dead_code)]

use proptest::prelude::*;

#[derive(Debug, Clone)]
pub enum Mutation {
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Indent(prop::sample::Index, i8),
    /// Replace the value after a `: ` (YAML) or one comma-separated field (CSV).
    ReplaceValue(prop::sample::Index, prop::sample::Index, String),
    FlipChar(prop::sample::Index, char),
    InsertChar(prop::sample::Index, char),
    DeleteChar(prop::sample::Index),
}

pub fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("NaN"), Just("nan"), Just("inf"), Just("-inf"), Just(".nan"), Just(".inf"), Just("-.inf"),
            Just("1e999"), Just("-1e999"), Just("1e-400"), Just("0"), Just("-0"), Just("-1"), Just("<"), Just("<1"),
            Just("> 2"), Just("<<1"), Just("OOM "), Just("oom"), Just(""), Just(" "), Just("\"\""), Just("\"a,b\""),
            Just("\"unterminated"), Just("a\"b"), Just("\"x\"y"), Just("18446744073709551616"),
            Just("18446744073709551615"), Just("4294967296"), Just("0x10"), Just("~"), Just("null"), Just("yes"),
            Just("&a x"), Just("*a"), Just("!!float x"), Just("{"), Just("[1,"), Just("{}"), Just("[]"),
            Just("- x"), Just("|"), Just("x: y"),
        ]
        .prop_map(str::to_string),
        any::<f64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        "[ -~]{0,24}",
    ]
}

pub fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => Just('"'),
        1 => Just(','),
        1 => Just('\r'),
        1 => Just('\n'),
        1 => Just('\0'),
        1 => Just('\t'),
        1 => Just(':'),
        1 => Just('#'),
        1 => any::<char>(),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        2 => i().prop_map(Mutation::DeleteLine),
        1 => i().prop_map(Mutation::DuplicateLine),
        1 => (i(), i()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (i(), -4i8..=4).prop_map(|(a, d)| Mutation::Indent(a, d)),
        4 => (i(), i(), odd_value()).prop_map(|(a, b, v)| Mutation::ReplaceValue(a, b, v)),
        2 => (i(), any_char()).prop_map(|(a, c)| Mutation::FlipChar(a, c)),
        1 => (i(), any_char()).prop_map(|(a, c)| Mutation::InsertChar(a, c)),
        1 => i().prop_map(Mutation::DeleteChar),
    ]
}

/// Applies `muts` to `text`; `csv` decides how a value is found on a line.
pub fn mutate(text: &str, muts: &[Mutation], csv: bool) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in muts {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i.index(n));
            }
            Mutation::DuplicateLine(i) => {
                let k = i.index(n);
                let l = lines[k].clone();
                lines.insert(k, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
            Mutation::Indent(i, d) => {
                let l = &mut lines[i.index(n)];
                if *d >= 0 {
                    l.insert_str(0, &" ".repeat(*d as usize));
                } else {
                    let strip = l.len() - l.trim_start_matches(' ').len();
                    l.drain(..strip.min(d.unsigned_abs() as usize));
                }
            }
            Mutation::ReplaceValue(i, j, v) => {
                let k = i.index(n);
                let l = &lines[k];
                // Byte ranges of the candidate values on the line.
                let spans: Vec<(usize, usize)> = if csv {
                    let mut s = Vec::new();
                    let mut start = 0;
                    for (p, c) in l.char_indices() {
                        if c == ',' {
                            s.push((start, p));
                            start = p + 1;
                        }
                    }
                    s.push((start, l.len()));
                    s
                } else {
                    l.match_indices(": ")
                        .map(|(p, _)| p + 2)
                        .map(|s| (s, l[s..].find([',', '}', '#']).map_or(l.len(), |e| s + e)))
                        .collect()
                };
                if !spans.is_empty() {
                    let (s, e) = spans[j.index(spans.len())];
                    lines[k] = format!("{}{v}{}", &l[..s], &l[e..]);
                }
            }
            Mutation::FlipChar(i, _) | Mutation::InsertChar(i, _) | Mutation::DeleteChar(i) => {
                let mut s = lines.join("\n");
                let chars: Vec<(usize, char)> = s.char_indices().collect();
                if chars.is_empty() {
                    continue;
                }
                let (p, old) = chars[i.index(chars.len())];
                match m {
                    Mutation::FlipChar(_, c) => s.replace_range(p..p + old.len_utf8(), &c.to_string()),
                    Mutation::InsertChar(_, c) => s.insert(p, *c),
                    _ => {
                        s.remove(p);
                    }
                }
                lines = s.split('\n').map(str::to_string).collect();
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

