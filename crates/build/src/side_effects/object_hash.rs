//! A byte-compatible port of the parts of the `object-hash` npm package that pnpm's
//! `@pnpm/crypto.object-hasher` uses (`respectType: false`, sha256, base64): strings, numbers,
//! booleans, null and plain objects. The serialization is
//! `object:<n>:` then, per key, `string:<len>:<key>:` + value + `,`, where strings are
//! `string:<utf16 length>:<text>`; `hash_object` sorts keys (by UTF-16 code units, as
//! `Array.prototype.sort` does), `hash_object_without_sorting` keeps insertion order.
//! Checked against pnpm's own test vectors (see the crate tests).

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A value to hash.
#[derive(Debug, Clone, PartialEq)]
pub enum HashValue {
    Str(String),
    Number(f64),
    Bool(bool),
    Null,
    /// A plain object: keys in insertion order.
    Object(Vec<(String, HashValue)>),
}

/// `hashObject`: sorted keys, sha256, base64.
pub fn hash_object(value: &HashValue) -> String {
    digest(value, true)
}

/// `hashObjectWithoutSorting`: insertion order, sha256, base64.
pub fn hash_object_without_sorting(value: &HashValue) -> String {
    digest(value, false)
}

fn digest(value: &HashValue, sort: bool) -> String {
    let mut hasher = Sha256::new();
    write_value(&mut hasher, value, sort);
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

fn write_value(h: &mut Sha256, value: &HashValue, sort: bool) {
    match value {
        HashValue::Str(s) => write_string(h, s),
        HashValue::Number(n) => {
            h.update(b"number:");
            h.update(js_number(*n).as_bytes());
        }
        HashValue::Bool(b) => {
            h.update(if *b { "bool:true" } else { "bool:false" }.as_bytes());
        }
        HashValue::Null => h.update(b"Null"),
        HashValue::Object(entries) => {
            let mut refs: Vec<&(String, HashValue)> = entries.iter().collect();
            if sort {
                refs.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            }
            h.update(format!("object:{}:", refs.len()).as_bytes());
            for (k, v) in refs {
                write_string(h, k);
                h.update(b":");
                write_value(h, v, sort);
                h.update(b",");
            }
        }
    }
}

fn write_string(h: &mut Sha256, s: &str) {
    h.update(format!("string:{}:", s.encode_utf16().count()).as_bytes());
    h.update(s.as_bytes());
}

/// `Number.prototype.toString()` for the integers and simple values this is used with.
fn js_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_string()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else if n == n.trunc() && n.abs() < 1e21 {
        format!("{}", n as i128)
    } else {
        format!("{n}")
    }
}
