//! Decoder for msgpack with msgpackr's record extension, as pnpm writes `index.db` values.
//!
//! Format facts this decoder implements (msgpackr with `useRecords: true`, no shared
//! structures, one message per blob):
//! - `d4 72 <id>` (fixext 1, type `'r'`) defines the record in slot `id & 0x3f`; the next
//!   value is the array of field names, followed directly by that many field values.
//! - A single byte `0x40..=0x7f` whose slot is defined reads one record of that shape; if the
//!   slot is not defined the byte is the positive fixint it would be in plain msgpack.
//! - `d4 00 00` is JS `undefined`.
//!
//! Every input is untrusted (a corrupt `index.db` must be a cache miss, never a crash): all
//! lengths are checked against the remaining bytes and nesting depth is bounded.

use super::value::Value;
use super::DecodeError;
use std::borrow::Cow;
use std::rc::Rc;

const MAX_DEPTH: usize = 256;
const RECORD_EXT: u8 = 0x72;

/// Decode one complete message; trailing bytes are an error.
pub fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = reader.read(0)?;
    reader.finish()?;
    Ok(value)
}

/// A record shape: its field names, shared by every record of that shape. Borrowed from
/// the message when they are strings in it (a row defines a shape for each nested object of
/// its manifest, and copying their names was most of reading past one).
pub(super) type Keys<'a> = Rc<[Cow<'a, str>]>;

/// The decoder's cursor. Besides [`decode_value`], the row codec drives it directly
/// ([`Reader::read_record_fields`], [`Reader::map_len`]) to decode the per-file records of
/// a row without building a [`Value`] for each.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    slots: [Option<Keys<'a>>; 64],
}

/// Where the reader stands, with the record shapes defined so far; [`Reader::rewind`] goes
/// back to it.
pub(super) struct Mark<'a> {
    pos: usize,
    slots: [Option<Keys<'a>>; 64],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            slots: std::array::from_fn(|_| None),
        }
    }

    /// Fails unless every byte was read.
    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.pos != self.buf.len() {
            return Err(DecodeError::TrailingBytes {
                offset: self.pos,
                len: self.buf.len(),
            });
        }
        Ok(())
    }

    pub(super) fn mark(&self) -> Mark<'a> {
        Mark {
            pos: self.pos,
            slots: self.slots.clone(),
        }
    }

    /// Goes back to `mark`, forgetting the record shapes defined since: a byte that refers
    /// to a shape defined only later in the message is a plain integer.
    pub(super) fn rewind(&mut self, mark: Mark<'a>) {
        self.pos = mark.pos;
        self.slots = mark.slots;
    }

    /// Reads one value, at nesting `depth`.
    pub(super) fn read_value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.read(depth)
    }

    /// When the next value is a plain msgpack map, reads its header and returns its entry
    /// count; otherwise reads nothing and returns `None`.
    pub(super) fn map_len(&mut self) -> Result<Option<usize>, DecodeError> {
        self.container_len(0x80, 0xde)
    }

    /// Reads the header of a container whose fix form starts at `fix` (sixteen of them) and
    /// whose 16- and 32-bit forms are `wide` and `wide + 1`, and returns its entry count;
    /// for any other value reads nothing and returns `None`.
    fn container_len(&mut self, fix: u8, wide: u8) -> Result<Option<usize>, DecodeError> {
        let start = self.pos;
        let t = self.byte()?;
        let n = if t & 0xf0 == fix {
            usize::from(t & 0x0f)
        } else if t == wide {
            self.u16_len()?
        } else if t == wide + 1 {
            self.u32_len()?
        } else {
            self.pos = start;
            return Ok(None);
        };
        Ok(Some(n))
    }

    /// When the next value is a record, reads it field by field: `field` gets each field
    /// name and must read exactly that field's value. Returns `false`, having read nothing,
    /// when the next value is not a record.
    pub(super) fn read_record_fields(
        &mut self,
        depth: usize,
        mut field: impl FnMut(&mut Self, &str) -> Result<(), DecodeError>,
    ) -> Result<bool, DecodeError> {
        let Some(keys) = self.record_keys(depth)? else {
            return Ok(false);
        };
        for key in keys.iter() {
            field(self, key)?;
        }
        Ok(true)
    }

    /// When the next value is a record, reads its header (defining its shape if it comes
    /// with one) and returns its field names: the field values follow, one per name, for
    /// the caller to read. Returns `None`, having read nothing, when the next value is not a
    /// record. A shape used again is the same `Rc`, so a caller can work out once what to
    /// do with each field of it.
    pub(super) fn record_keys(&mut self, depth: usize) -> Result<Option<Keys<'a>>, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: self.pos });
        }
        let start = self.pos;
        let token = self.byte()?;
        let keys = match token {
            0x40..=0x7f => self.slots[usize::from(token & 0x3f)].clone(),
            0xd4 if self.buf.get(self.pos) == Some(&RECORD_EXT) => {
                self.pos += 1;
                let id = self.byte()?;
                Some(self.define_record(id, depth)?)
            }
            _ => None,
        };
        if keys.is_none() {
            self.pos = start;
        }
        Ok(keys)
    }

    /// When the next value is a string, reads it, borrowed from the message (checked to be
    /// UTF-8, as [`Reader::read_value`] checks it); otherwise reads nothing and returns `None`.
    pub(super) fn str_ref(&mut self) -> Result<Option<&'a str>, DecodeError> {
        let start = self.pos;
        let n = match self.byte()? {
            t @ 0xa0..=0xbf => usize::from(t & 0x1f),
            0xd9 => self.u8_len()?,
            0xda => self.u16_len()?,
            0xdb => self.u32_len()?,
            _ => {
                self.pos = start;
                return Ok(None);
            }
        };
        let offset = self.pos;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DecodeError::InvalidUtf8 { offset })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::UnexpectedEnd { offset: self.pos })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8_len(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(self.byte()?))
    }
    fn u16_len(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }
    fn u32_len(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(u32::from_be_bytes(self.be()?))
            .map_err(|_| DecodeError::TooLarge { offset: self.pos })
    }

    fn read(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: self.pos });
        }
        let start = self.pos;
        let token = self.byte()?;
        Ok(match token {
            0x00..=0x3f => Value::Int(i64::from(token)),
            0x40..=0x7f => match self.slots[usize::from(token & 0x3f)].clone() {
                Some(keys) => self.read_record(&keys, depth)?,
                None => Value::Int(i64::from(token)),
            },
            0x80..=0x8f => self.read_map(usize::from(token & 0x0f), depth)?,
            0x90..=0x9f => self.read_array(usize::from(token & 0x0f), depth)?,
            0xa0..=0xbf => self.read_str(usize::from(token & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = self.u8_len()?;
                Value::Bin(self.take(n)?.to_vec())
            }
            0xc5 => {
                let n = self.u16_len()?;
                Value::Bin(self.take(n)?.to_vec())
            }
            0xc6 => {
                let n = self.u32_len()?;
                Value::Bin(self.take(n)?.to_vec())
            }
            0xc7 => {
                let n = self.u8_len()?;
                self.read_ext(n, depth)?
            }
            0xc8 => {
                let n = self.u16_len()?;
                self.read_ext(n, depth)?
            }
            0xc9 => {
                let n = self.u32_len()?;
                self.read_ext(n, depth)?
            }
            0xca => Value::F32(f32::from_be_bytes(self.be()?)),
            0xcb => Value::F64(f64::from_be_bytes(self.be()?)),
            0xcc => Value::Int(i64::from(self.byte()?)),
            0xcd => Value::Int(i64::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::Int(i64::from(u32::from_be_bytes(self.be()?))),
            0xcf => {
                let u = u64::from_be_bytes(self.be()?);
                match i64::try_from(u) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::UInt(u),
                }
            }
            0xd0 => Value::Int(i64::from(i8::from_be_bytes(self.be()?))),
            0xd1 => Value::Int(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Value::Int(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Value::Int(i64::from_be_bytes(self.be()?)),
            0xd4 => self.read_ext(1, depth)?,
            0xd5 => self.read_ext(2, depth)?,
            0xd6 => self.read_ext(4, depth)?,
            0xd7 => self.read_ext(8, depth)?,
            0xd8 => self.read_ext(16, depth)?,
            0xd9 => {
                let n = self.u8_len()?;
                self.read_str(n)?
            }
            0xda => {
                let n = self.u16_len()?;
                self.read_str(n)?
            }
            0xdb => {
                let n = self.u32_len()?;
                self.read_str(n)?
            }
            0xdc => {
                let n = self.u16_len()?;
                self.read_array(n, depth)?
            }
            0xdd => {
                let n = self.u32_len()?;
                self.read_array(n, depth)?
            }
            0xde => {
                let n = self.u16_len()?;
                self.read_map(n, depth)?
            }
            0xdf => {
                let n = self.u32_len()?;
                self.read_map(n, depth)?
            }
            0xe0..=0xff => Value::Int(i64::from(token as i8)),
            0xc1 => {
                return Err(DecodeError::InvalidByte {
                    byte: token,
                    offset: start,
                })
            }
        })
    }

    /// Reads past one value, at nesting `depth`, building nothing: the same checks as
    /// [`Reader::read_value`] (lengths, UTF-8, depth), and record shapes are defined as they
    /// come, since later values may use them. Says whether the value was a map or a record
    /// (`Some(true)`), nil or undefined (`None`), or anything else (`Some(false)`).
    pub(super) fn skip_value(&mut self, depth: usize) -> Result<Option<bool>, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: self.pos });
        }
        let start = self.pos;
        let token = self.byte()?;
        let (skip_bytes, kind) = match token {
            0x00..=0x3f | 0xe0..=0xff => (None, Some(false)),
            0x40..=0x7f => match self.slots[usize::from(token & 0x3f)].clone() {
                Some(keys) => {
                    for _ in 0..keys.len() {
                        self.skip_value(depth + 1)?;
                    }
                    return Ok(Some(true));
                }
                None => (None, Some(false)),
            },
            0x80..=0x8f => return self.skip_map(usize::from(token & 0x0f), depth),
            0x90..=0x9f => return self.skip_array(usize::from(token & 0x0f), depth),
            0xa0..=0xbf => return self.skip_str(usize::from(token & 0x1f)),
            0xc0 => (None, None),
            0xc2 | 0xc3 => (None, Some(false)),
            0xc4 => (Some(self.u8_len()?), Some(false)),
            0xc5 => (Some(self.u16_len()?), Some(false)),
            0xc6 => (Some(self.u32_len()?), Some(false)),
            0xc7 => {
                let n = self.u8_len()?;
                return self.skip_ext(n, depth);
            }
            0xc8 => {
                let n = self.u16_len()?;
                return self.skip_ext(n, depth);
            }
            0xc9 => {
                let n = self.u32_len()?;
                return self.skip_ext(n, depth);
            }
            0xca | 0xd2 | 0xce => (Some(4), Some(false)),
            0xcb | 0xcf | 0xd3 => (Some(8), Some(false)),
            0xcc | 0xd0 => (Some(1), Some(false)),
            0xcd | 0xd1 => (Some(2), Some(false)),
            0xd4 => return self.skip_ext(1, depth),
            0xd5 => return self.skip_ext(2, depth),
            0xd6 => return self.skip_ext(4, depth),
            0xd7 => return self.skip_ext(8, depth),
            0xd8 => return self.skip_ext(16, depth),
            0xd9 => {
                let n = self.u8_len()?;
                return self.skip_str(n);
            }
            0xda => {
                let n = self.u16_len()?;
                return self.skip_str(n);
            }
            0xdb => {
                let n = self.u32_len()?;
                return self.skip_str(n);
            }
            0xdc => {
                let n = self.u16_len()?;
                return self.skip_array(n, depth);
            }
            0xdd => {
                let n = self.u32_len()?;
                return self.skip_array(n, depth);
            }
            0xde => {
                let n = self.u16_len()?;
                return self.skip_map(n, depth);
            }
            0xdf => {
                let n = self.u32_len()?;
                return self.skip_map(n, depth);
            }
            0xc1 => {
                return Err(DecodeError::InvalidByte {
                    byte: token,
                    offset: start,
                })
            }
        };
        if let Some(n) = skip_bytes {
            self.take(n)?;
        }
        Ok(kind)
    }

    fn skip_str(&mut self, n: usize) -> Result<Option<bool>, DecodeError> {
        let offset = self.pos;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::InvalidUtf8 { offset })?;
        Ok(Some(false))
    }

    fn skip_array(&mut self, n: usize, depth: usize) -> Result<Option<bool>, DecodeError> {
        for _ in 0..n {
            self.skip_value(depth + 1)?;
        }
        Ok(Some(false))
    }

    fn skip_map(&mut self, n: usize, depth: usize) -> Result<Option<bool>, DecodeError> {
        for _ in 0..n {
            self.skip_value(depth + 1)?;
            self.skip_value(depth + 1)?;
        }
        Ok(Some(true))
    }

    fn skip_ext(&mut self, n: usize, depth: usize) -> Result<Option<bool>, DecodeError> {
        let offset = self.pos;
        let ty = self.byte()?;
        if ty == RECORD_EXT {
            if n != 1 {
                return Err(DecodeError::UnsupportedRecord { offset });
            }
            let id = self.byte()?;
            let keys = self.define_record(id, depth)?;
            for _ in 0..keys.len() {
                self.skip_value(depth + 1)?;
            }
            return Ok(Some(true));
        }
        self.take(n)?;
        Ok(if ty == 0 && n == 1 { None } else { Some(false) })
    }

    fn read_str(&mut self, n: usize) -> Result<Value, DecodeError> {
        let offset = self.pos;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(|s| Value::Str(s.to_owned()))
            .map_err(|_| DecodeError::InvalidUtf8 { offset })
    }

    /// Preallocate no more than the remaining input could hold (each item is ≥ 1 byte).
    pub(super) fn capacity(&self, n: usize) -> usize {
        n.min(self.buf.len() - self.pos)
    }

    fn read_array(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut items = Vec::with_capacity(self.capacity(n));
        for _ in 0..n {
            items.push(self.read(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn read_map(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut entries = Vec::with_capacity(self.capacity(n));
        for _ in 0..n {
            let k = self.read(depth + 1)?;
            let v = self.read(depth + 1)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }

    fn read_ext(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        let offset = self.pos;
        let ty = self.byte()?;
        if ty == RECORD_EXT {
            if n != 1 {
                // `d5 72 <id> <high>` is msgpackr's two-byte record id, only produced with more
                // than 64 structures configured; pnpm never writes it.
                return Err(DecodeError::UnsupportedRecord { offset });
            }
            let id = self.byte()?;
            return self.read_record_definition(id, depth);
        }
        let data = self.take(n)?.to_vec();
        if ty == 0 && n == 1 {
            return Ok(Value::Undefined);
        }
        Ok(Value::Ext(ty as i8, data))
    }

    fn read_record_definition(&mut self, id: u8, depth: usize) -> Result<Value, DecodeError> {
        let keys = self.define_record(id, depth)?;
        self.read_record(&keys, depth)
    }

    /// Reads a record definition's field names into slot `id` and returns them.
    fn define_record(&mut self, id: u8, depth: usize) -> Result<Keys<'a>, DecodeError> {
        let offset = self.pos;
        let keys = match self.borrowed_names(depth)? {
            Some(names) => Keys::from(names),
            // Anything but an array of strings: read as a value, with its errors.
            None => match self.read(depth + 1)? {
                Value::Array(items) => items
                    .into_iter()
                    .map(|k| match k {
                        Value::Str(s) => Ok(Cow::Owned(s)),
                        // msgpackr stringifies non-string field names; numbers are the
                        // only realistic case.
                        Value::Int(i) => Ok(Cow::Owned(i.to_string())),
                        _ => Err(DecodeError::BadRecordKeys { offset }),
                    })
                    .collect::<Result<Keys<'a>, _>>()?,
                _ => return Err(DecodeError::BadRecordKeys { offset }),
            },
        };
        self.slots[usize::from(id & 0x3f)] = Some(Rc::clone(&keys));
        Ok(keys)
    }

    /// A definition's field names borrowed from the message, when they are a plain array of
    /// strings (as pnpm and tack write them); otherwise `None`, having read nothing. The
    /// strings are checked as [`Reader::read_value`] checks them.
    fn borrowed_names(&mut self, depth: usize) -> Result<Option<Vec<Cow<'a, str>>>, DecodeError> {
        if depth + 2 > MAX_DEPTH {
            return Ok(None);
        }
        let start = self.pos;
        let Some(n) = self.container_len(0x90, 0xdc)? else {
            return Ok(None);
        };
        let mut names = Vec::with_capacity(self.capacity(n));
        for _ in 0..n {
            match self.str_ref()? {
                Some(name) => names.push(Cow::Borrowed(name)),
                None => {
                    self.pos = start;
                    return Ok(None);
                }
            }
        }
        Ok(Some(names))
    }

    fn read_record(&mut self, keys: &[Cow<'a, str>], depth: usize) -> Result<Value, DecodeError> {
        let mut fields = Vec::with_capacity(keys.len());
        for key in keys {
            let v = self.read(depth + 1)?;
            fields.push((key.to_string(), v));
        }
        Ok(Value::Object(fields))
    }
}
