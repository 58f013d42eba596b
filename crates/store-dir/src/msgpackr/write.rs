//! Encoder producing the bytes msgpackr (`useRecords: true, moreTypes: true`) produces.
//!
//! Matching msgpackr byte for byte keeps tack's rows indistinguishable from pnpm's, so the
//! rules follow what `Packr.pack` does for the JS values pnpm stores:
//! - an object is a record: the first object with a given field list gets the next slot id
//!   (`0x40` upward, one message at a time) and is written `d4 72 <id> [names…] values…`;
//!   later objects with the same field list write just `<id>` and their values. After slot
//!   `0x7f` ids wrap to `0x40`, and the shape that owned the reused slot is forgotten.
//! - because `0x40..=0x7f` mean "record", integers 64..=127 are written as `cc xx`;
//! - numbers that are not int32/uint32 are float64 (`cb`) — which is why `checkedAt`
//!   (`Date.now()`) is always a float64;
//! - strings, arrays, maps and binaries use the smallest header that fits.

use super::value::Value;

const FIRST_ID: u8 = 0x40;
const END_ID: u8 = 0x80;

/// Encode one value as a complete message.
pub fn encode_value(value: &Value) -> Vec<u8> {
    let mut enc = Encoder::default();
    enc.write(value);
    enc.out
}

#[derive(Default)]
pub(crate) struct Encoder {
    pub(crate) out: Vec<u8>,
    /// The field lists that own a slot id, oldest first: at most 64 (one per id), and a
    /// row's file records reuse the first one or two, so a scan beats hashing the names
    /// (a row encodes one record per file).
    shapes: Vec<(Vec<String>, u8)>,
    next_id: Option<u8>,
}

impl Encoder {
    pub(crate) fn write(&mut self, value: &Value) {
        match value {
            Value::Nil => self.out.push(0xc0),
            Value::Undefined => self.out.extend_from_slice(&[0xd4, 0x00, 0x00]),
            Value::Bool(b) => self.out.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Int(i) => self.write_int(*i),
            Value::UInt(u) => {
                self.out.push(0xcf);
                self.out.extend_from_slice(&u.to_be_bytes());
            }
            Value::F32(f) => {
                self.out.push(0xca);
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            Value::F64(f) => {
                // JS has one number type: a whole float64 in the 32-bit ranges is an integer.
                let whole = f.fract() == 0.0 && !(*f == 0.0 && f.is_sign_negative());
                if whole && *f >= f64::from(i32::MIN) && *f <= f64::from(u32::MAX) {
                    self.write_int(*f as i64);
                } else {
                    self.write_f64(*f);
                }
            }
            Value::Str(s) => self.write_str(s),
            Value::Bin(b) => {
                match b.len() {
                    n if n < 0x100 => self.out.extend_from_slice(&[0xc4, n as u8]),
                    n if n < 0x10000 => {
                        self.out.push(0xc5);
                        self.out.extend_from_slice(&(n as u16).to_be_bytes());
                    }
                    n => {
                        self.out.push(0xc6);
                        self.out.extend_from_slice(&(n as u32).to_be_bytes());
                    }
                }
                self.out.extend_from_slice(b);
            }
            Value::Array(items) => {
                self.write_container_header(items.len(), 0x90, 0xdc, 0xdd);
                for item in items {
                    self.write(item);
                }
            }
            Value::Map(entries) => {
                self.write_container_header(entries.len(), 0x80, 0xde, 0xdf);
                for (k, v) in entries {
                    self.write(k);
                    self.write(v);
                }
            }
            Value::Object(fields) => {
                self.write_record_header(fields.iter().map(|(k, _)| k.as_str()));
                for (_, v) in fields {
                    self.write(v);
                }
            }
            Value::Ext(ty, data) => {
                let ty = *ty as u8;
                match data.len() {
                    1 => self.out.push(0xd4),
                    2 => self.out.push(0xd5),
                    4 => self.out.push(0xd6),
                    8 => self.out.push(0xd7),
                    16 => self.out.push(0xd8),
                    n if n < 0x100 => self.out.extend_from_slice(&[0xc7, n as u8]),
                    n if n < 0x10000 => {
                        self.out.push(0xc8);
                        self.out.extend_from_slice(&(n as u16).to_be_bytes());
                    }
                    n => {
                        self.out.push(0xc9);
                        self.out.extend_from_slice(&(n as u32).to_be_bytes());
                    }
                }
                self.out.push(ty);
                self.out.extend_from_slice(data);
            }
        }
    }

    /// Write the record reference (or definition) for an object with these field names.
    /// The caller writes the field values right after.
    pub(crate) fn write_record_header<'k>(&mut self, keys: impl Iterator<Item = &'k str>) {
        let keys: Vec<&str> = keys.collect();
        let known = self
            .shapes
            .iter()
            .find(|(names, _)| names.iter().map(String::as_str).eq(keys.iter().copied()));
        if let Some(&(_, id)) = known {
            self.out.push(id);
            return;
        }
        let mut id = self.next_id.unwrap_or(FIRST_ID);
        if id >= END_ID {
            id = FIRST_ID;
        }
        self.next_id = Some(id + 1);
        // The shape that owned this slot is forgotten, as msgpackr forgets it.
        self.shapes.retain(|&(_, owner)| owner != id);
        self.out.extend_from_slice(&[0xd4, 0x72, id]);
        self.write_container_header(keys.len(), 0x90, 0xdc, 0xdd);
        for k in &keys {
            self.write_str(k);
        }
        self.shapes
            .push((keys.into_iter().map(str::to_owned).collect(), id));
    }

    fn write_container_header(&mut self, n: usize, fix: u8, b16: u8, b32: u8) {
        if n < 16 {
            self.out.push(fix | n as u8);
        } else if n < 0x10000 {
            self.out.push(b16);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(b32);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    pub(crate) fn write_str(&mut self, s: &str) {
        let n = s.len();
        if n < 0x20 {
            self.out.push(0xa0 | n as u8);
        } else if n < 0x100 {
            self.out.extend_from_slice(&[0xd9, n as u8]);
        } else if n < 0x10000 {
            self.out.push(0xda);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(0xdb);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        self.out.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn write_int(&mut self, i: i64) {
        if (0..0x40).contains(&i) {
            self.out.push(i as u8);
        } else if (0..0x100).contains(&i) {
            self.out.extend_from_slice(&[0xcc, i as u8]);
        } else if (0..0x10000).contains(&i) {
            self.out.push(0xcd);
            self.out.extend_from_slice(&(i as u16).to_be_bytes());
        } else if (0..=i64::from(u32::MAX)).contains(&i) {
            self.out.push(0xce);
            self.out.extend_from_slice(&(i as u32).to_be_bytes());
        } else if (-0x20..0).contains(&i) {
            self.out.push(i as i8 as u8);
        } else if (-0x80..0).contains(&i) {
            self.out.extend_from_slice(&[0xd0, i as i8 as u8]);
        } else if (-0x8000..0).contains(&i) {
            self.out.push(0xd1);
            self.out.extend_from_slice(&(i as i16).to_be_bytes());
        } else if (i64::from(i32::MIN)..0).contains(&i) {
            self.out.push(0xd2);
            self.out.extend_from_slice(&(i as i32).to_be_bytes());
        } else if i.unsigned_abs() <= (1u64 << 53) {
            // A JS number outside the 32-bit ranges: msgpackr writes it as a float64.
            self.write_f64(i as f64);
        } else {
            self.out.push(0xd3);
            self.out.extend_from_slice(&i.to_be_bytes());
        }
    }

    pub(crate) fn write_f64(&mut self, f: f64) {
        self.out.push(0xcb);
        self.out.extend_from_slice(&f.to_be_bytes());
    }
}
