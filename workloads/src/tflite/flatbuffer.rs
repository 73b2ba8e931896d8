//! A minimal, bounds-checked FlatBuffers reader (just what the TFLite schema needs).
//!
//! Every read checks its offset against the buffer; vectors are checked against the bytes that
//! remain before anything is allocated; and a work budget proportional to the file size stops
//! hostile files that point many offsets at the same large object.
use std::cell::Cell;

/// A structural problem in the flatbuffer: what was being read, where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte offset {offset}: {problem}")]
pub struct FbError {
    /// Schema path of the object being read, e.g. `Model.subgraphs[0].tensors[3].shape`.
    pub what: String,
    pub offset: usize,
    pub problem: String,
}

/// The buffer plus a shared work budget (elements that may still be read).
#[derive(Debug)]
pub struct Fb<'a> {
    pub bytes: &'a [u8],
    budget: Cell<u64>,
}

impl<'a> Fb<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Fb { bytes, budget: Cell::new(16 * bytes.len() as u64 + 4096) }
    }

    pub fn err(&self, what: &str, offset: usize, problem: impl Into<String>) -> FbError {
        FbError { what: what.to_string(), offset, problem: problem.into() }
    }

    /// Charges `n` units of work; errors once the file has been read many times over.
    pub fn charge(&self, what: &str, offset: usize, n: u64) -> Result<(), FbError> {
        let b = self.budget.get();
        if n > b {
            return Err(self.err(
                what,
                offset,
                "file refers to far more data than it holds (shared or looping offsets)",
            ));
        }
        self.budget.set(b - n);
        Ok(())
    }

    pub fn slice(&self, what: &str, pos: usize, len: usize) -> Result<&'a [u8], FbError> {
        match pos.checked_add(len) {
            Some(end) if end <= self.bytes.len() => Ok(&self.bytes[pos..end]),
            _ => Err(self.err(
                what,
                pos,
                format!("{len} bytes needed but the file is {} bytes long", self.bytes.len()),
            )),
        }
    }

    pub fn u8(&self, what: &str, pos: usize) -> Result<u8, FbError> {
        Ok(self.slice(what, pos, 1)?[0])
    }

    pub fn u16(&self, what: &str, pos: usize) -> Result<u16, FbError> {
        let s = self.slice(what, pos, 2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    pub fn u32(&self, what: &str, pos: usize) -> Result<u32, FbError> {
        let s = self.slice(what, pos, 4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub fn u64(&self, what: &str, pos: usize) -> Result<u64, FbError> {
        let s = self.slice(what, pos, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// Follows a `uoffset` stored at `pos` (relative to `pos`).
    pub fn follow(&self, what: &str, pos: usize) -> Result<usize, FbError> {
        let rel = self.u32(what, pos)? as usize;
        match pos.checked_add(rel) {
            Some(t) if t < self.bytes.len() => Ok(t),
            _ => Err(self.err(what, pos, format!("offset {rel} points past the end of the file"))),
        }
    }

    /// The root table.
    pub fn root(&'a self, what: &str) -> Result<Table<'a>, FbError> {
        let pos = self.follow(what, 0)?;
        Table::at(self, pos, what)
    }
}

/// A table: its position and vtable.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    fb: &'a Fb<'a>,
    pub pos: usize,
    vt: usize,
    vt_len: usize,
    inline_len: usize,
    pub what: String,
}

/// A vector: position of its first element and its length.
#[derive(Debug, Clone)]
pub struct Vector<'a> {
    fb: &'a Fb<'a>,
    pub start: usize,
    pub len: usize,
    pub what: String,
}

impl<'a> Table<'a> {
    pub fn at(fb: &'a Fb<'a>, pos: usize, what: &str) -> Result<Table<'a>, FbError> {
        fb.charge(what, pos, 1)?;
        let soff = fb.u32(what, pos)? as i32 as i64;
        let vt = pos as i64 - soff;
        if vt < 0 || vt as usize + 4 > fb.bytes.len() {
            return Err(fb.err(what, pos, format!("vtable offset {soff} points outside the file")));
        }
        let vt = vt as usize;
        let vt_len = fb.u16(what, vt)? as usize;
        let inline_len = fb.u16(what, vt + 2)? as usize;
        if vt_len < 4 || vt_len % 2 != 0 {
            return Err(fb.err(what, vt, format!("bad vtable length {vt_len}")));
        }
        fb.slice(what, vt, vt_len)?;
        if inline_len < 4 {
            return Err(fb.err(what, vt, format!("bad table size {inline_len}")));
        }
        fb.slice(what, pos, inline_len)?;
        Ok(Table { fb, pos, vt, vt_len, inline_len, what: what.to_string() })
    }

    fn field_name(&self, slot: usize, name: &str) -> String {
        let _ = slot;
        format!("{}.{}", self.what, name)
    }

    /// Absolute position of field `slot`, or `None` if absent. Checks that `size` bytes of the
    /// field lie inside the table.
    fn field(&self, slot: usize, size: usize, name: &str) -> Result<Option<usize>, FbError> {
        let vo = 4 + 2 * slot;
        if vo + 2 > self.vt_len {
            return Ok(None);
        }
        let off = self.fb.u16(&self.what, self.vt + vo)? as usize;
        if off == 0 {
            return Ok(None);
        }
        if off + size > self.inline_len {
            return Err(self.fb.err(
                &self.field_name(slot, name),
                self.pos,
                format!("field at {off} overruns the table ({} bytes)", self.inline_len),
            ));
        }
        Ok(Some(self.pos + off))
    }

    /// Absolute byte position of scalar/offset field `slot`, `None` if absent (for tools and
    /// tests that patch files).
    pub fn field_position(&self, slot: usize) -> Option<usize> {
        self.field(slot, 1, "field").ok().flatten()
    }

    pub fn u8(&self, slot: usize, name: &str, default: u8) -> Result<u8, FbError> {
        match self.field(slot, 1, name)? {
            Some(p) => self.fb.u8(&self.field_name(slot, name), p),
            None => Ok(default),
        }
    }

    pub fn i8(&self, slot: usize, name: &str, default: i8) -> Result<i8, FbError> {
        Ok(self.u8(slot, name, default as u8)? as i8)
    }

    pub fn bool(&self, slot: usize, name: &str, default: bool) -> Result<bool, FbError> {
        Ok(self.u8(slot, name, default as u8)? != 0)
    }

    pub fn u32(&self, slot: usize, name: &str, default: u32) -> Result<u32, FbError> {
        match self.field(slot, 4, name)? {
            Some(p) => self.fb.u32(&self.field_name(slot, name), p),
            None => Ok(default),
        }
    }

    pub fn i32(&self, slot: usize, name: &str, default: i32) -> Result<i32, FbError> {
        Ok(self.u32(slot, name, default as u32)? as i32)
    }

    pub fn f32(&self, slot: usize, name: &str, default: f32) -> Result<f32, FbError> {
        Ok(f32::from_bits(self.u32(slot, name, default.to_bits())?))
    }

    pub fn u64(&self, slot: usize, name: &str, default: u64) -> Result<u64, FbError> {
        match self.field(slot, 8, name)? {
            Some(p) => self.fb.u64(&self.field_name(slot, name), p),
            None => Ok(default),
        }
    }

    pub fn table(&self, slot: usize, name: &str) -> Result<Option<Table<'a>>, FbError> {
        let what = self.field_name(slot, name);
        match self.field(slot, 4, name)? {
            Some(p) => {
                let t = self.fb.follow(&what, p)?;
                Ok(Some(Table::at(self.fb, t, &what)?))
            }
            None => Ok(None),
        }
    }

    /// A vector whose elements are `elem_size` bytes (4 for offsets to tables/strings).
    pub fn vector(&self, slot: usize, name: &str, elem_size: usize) -> Result<Option<Vector<'a>>, FbError> {
        let what = self.field_name(slot, name);
        match self.field(slot, 4, name)? {
            Some(p) => {
                let v = self.fb.follow(&what, p)?;
                let len = self.fb.u32(&what, v)? as usize;
                let start = v + 4;
                let bytes = len.checked_mul(elem_size).ok_or_else(|| {
                    self.fb.err(&what, v, format!("absurd vector length {len}"))
                })?;
                if start.checked_add(bytes).map_or(true, |e| e > self.fb.bytes.len()) {
                    return Err(self.fb.err(
                        &what,
                        v,
                        format!(
                            "vector of {len} x {elem_size} bytes overruns the file ({} bytes)",
                            self.fb.bytes.len()
                        ),
                    ));
                }
                self.fb.charge(&what, v, len as u64)?;
                Ok(Some(Vector { fb: self.fb, start, len, what }))
            }
            None => Ok(None),
        }
    }

    pub fn string(&self, slot: usize, name: &str) -> Result<Option<String>, FbError> {
        Ok(self
            .vector(slot, name, 1)?
            .map(|v| String::from_utf8_lossy(&v.fb.bytes[v.start..v.start + v.len]).into_owned()))
    }

    pub fn i32_vec(&self, slot: usize, name: &str) -> Result<Vec<i32>, FbError> {
        Ok(match self.vector(slot, name, 4)? {
            Some(v) => (0..v.len).map(|i| v.raw_u32(i) as i32).collect(),
            None => Vec::new(),
        })
    }

    pub fn f32_vec(&self, slot: usize, name: &str) -> Result<Vec<f32>, FbError> {
        Ok(match self.vector(slot, name, 4)? {
            Some(v) => (0..v.len).map(|i| f32::from_bits(v.raw_u32(i))).collect(),
            None => Vec::new(),
        })
    }

    pub fn i64_vec(&self, slot: usize, name: &str) -> Result<Vec<i64>, FbError> {
        Ok(match self.vector(slot, name, 8)? {
            Some(v) => (0..v.len)
                .map(|i| {
                    let p = v.start + 8 * i;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&v.fb.bytes[p..p + 8]);
                    i64::from_le_bytes(a)
                })
                .collect(),
            None => Vec::new(),
        })
    }

    /// A vector of bytes, borrowed from the file.
    pub fn bytes(&self, slot: usize, name: &str) -> Result<Option<&'a [u8]>, FbError> {
        Ok(self.vector(slot, name, 1)?.map(|v| &v.fb.bytes[v.start..v.start + v.len]))
    }

    /// A vector of tables.
    pub fn tables(&self, slot: usize, name: &str) -> Result<Vec<Table<'a>>, FbError> {
        match self.vector(slot, name, 4)? {
            Some(v) => (0..v.len).map(|i| v.table(i)).collect(),
            None => Ok(Vec::new()),
        }
    }
}

impl<'a> Vector<'a> {
    /// Element `i` as a raw little-endian u32 (bounds were checked when the vector was made).
    fn raw_u32(&self, i: usize) -> u32 {
        let p = self.start + 4 * i;
        let s = &self.fb.bytes[p..p + 4];
        u32::from_le_bytes([s[0], s[1], s[2], s[3]])
    }

    /// Element `i` of a vector of tables.
    pub fn table(&self, i: usize) -> Result<Table<'a>, FbError> {
        let what = format!("{}[{i}]", self.what);
        let p = self.start + 4 * i;
        let t = self.fb.follow(&what, p)?;
        Table::at(self.fb, t, &what)
    }
}
