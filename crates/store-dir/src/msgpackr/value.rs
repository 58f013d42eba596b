//! The generic value model of the msgpackr codec.
//!
//! msgpackr (with `useRecords: true`) distinguishes two kinds of key/value containers that
//! plain msgpack cannot tell apart: JS objects, written as *records* (a field-name list
//! defined once per message, then referenced by a one-byte slot id), and JS `Map`s, written
//! as plain msgpack maps. pnpm relies on the difference (`files` must decode to a `Map`, the
//! row itself to an object), so the value model keeps them apart: [`Value::Object`] versus
//! [`Value::Map`].

/// One decoded msgpackr value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// msgpack `nil` (JS `null`).
    Nil,
    /// msgpackr's extension 0 (JS `undefined`).
    Undefined,
    Bool(bool),
    /// Any integer that fits in an `i64`.
    Int(i64),
    /// An unsigned integer above `i64::MAX` (JS `BigInt` on msgpackr's side).
    UInt(u64),
    F32(f32),
    F64(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    /// A plain msgpack map (a JS `Map` on msgpackr's side); keys may be any value.
    Map(Vec<(Value, Value)>),
    /// A JS object, written as a msgpackr record; field order is preserved.
    Object(Vec<(String, Value)>),
    /// Any other extension: type byte and payload, preserved as is.
    Ext(i8, Vec<u8>),
}

impl Value {
    /// The string inside a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an `f64`, for any numeric variant.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::F32(f) => Some(f64::from(f)),
            Value::F64(f) => Some(f),
            _ => None,
        }
    }

    /// The number as a `u64` when it is a non-negative whole number.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) => u64::try_from(i).ok(),
            Value::UInt(u) => Some(u),
            Value::F32(_) | Value::F64(_) => {
                let f = self.as_f64()?;
                (f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64).then_some(f as u64)
            }
            _ => None,
        }
    }

    /// The entries of a key/value container with string keys: an object, or a map whose
    /// keys are all strings. `None` for anything else.
    pub fn entries(&self) -> Option<Vec<(&str, &Value)>> {
        match self {
            Value::Object(fields) => Some(fields.iter().map(|(k, v)| (k.as_str(), v)).collect()),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| k.as_str().map(|k| (k, v)))
                .collect(),
            _ => None,
        }
    }

    /// [`Value::entries`], taking the value apart instead of borrowing it.
    pub fn into_entries(self) -> Option<Vec<(String, Value)>> {
        match self {
            Value::Object(fields) => Some(fields),
            Value::Map(entries) => entries
                .into_iter()
                .map(|(k, v)| match k {
                    Value::Str(k) => Some((k, v)),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    /// Moves a field out of an object or string-keyed map, leaving `Nil` in its place.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        let slot = match self {
            Value::Object(fields) => fields.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }?;
        Some(std::mem::replace(slot, Value::Nil))
    }

    /// Look a field up in an object or string-keyed map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Convert JSON to a value the way msgpackr sees a parsed JSON document: objects become
    /// records, whole numbers integers, other numbers float64.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::F64(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Convert to JSON the way `JSON.stringify` would see the decoded JS value: objects and
    /// maps become objects, `undefined` fields are dropped, binary and other extensions become
    /// `null`. Consumes the value, so its strings move instead of being copied (every index
    /// row's manifest goes through here in a warm install).
    pub fn into_json(self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Nil | Value::Undefined | Value::Bin(_) | Value::Ext(..) => J::Null,
            Value::Bool(b) => J::Bool(b),
            Value::Int(i) => J::from(i),
            Value::UInt(u) => J::from(u),
            Value::F32(f) => float_json(f64::from(f)),
            Value::F64(f) => float_json(f),
            Value::Str(s) => J::String(s),
            Value::Array(items) => J::Array(items.into_iter().map(Value::into_json).collect()),
            Value::Object(fields) => J::Object(
                fields
                    .into_iter()
                    .filter(|(_, v)| *v != Value::Undefined)
                    .map(|(k, v)| (k, v.into_json()))
                    .collect(),
            ),
            Value::Map(entries) => J::Object(
                entries
                    .into_iter()
                    .filter(|(_, v)| *v != Value::Undefined)
                    .map(|(k, v)| (k.property_name(), v.into_json()))
                    .collect(),
            ),
        }
    }

    /// A map key as the property name JS makes of it, near enough (`String(key)`): numbers as
    /// JS prints them (`NaN`, `Infinity`), an array as its elements' names joined by commas, a
    /// map as `[object Map]`, any other container, binary or extension as `[object Object]`.
    /// Rows pnpm writes have only string keys (msgpackr refuses the others when it reads a map
    /// as an object), so this only has to be cheap: spelling a key out as JSON text, as this
    /// once did, doubled the escaping with every level of maps nested as keys, and a fuzzed
    /// row of 318 bytes never finished decoding.
    fn property_name(self) -> String {
        match self {
            Value::Str(s) => s,
            Value::Nil => "null".to_owned(),
            Value::Undefined => "undefined".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::F32(f) => js_number_name(f64::from(f)),
            Value::F64(f) => js_number_name(f),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    // `String([null])` is "", not "null".
                    Value::Nil | Value::Undefined => String::new(),
                    item => item.property_name(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Value::Map(_) => "[object Map]".to_owned(),
            Value::Bin(_) | Value::Ext(..) | Value::Object(_) => "[object Object]".to_owned(),
        }
    }
}

/// A float as JS prints it, for the cases JSON has no word for.
fn js_number_name(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        float_json(f).to_string()
    }
}

/// A float as JSON: whole numbers in the safe integer range become integers (as JS prints
/// them), non-finite values become `null` (as `JSON.stringify` does).
fn float_json(f: f64) -> serde_json::Value {
    if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0 {
        serde_json::Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_what_json_stringify_would_see() {
        let v = Value::Object(vec![
            ("gone".into(), Value::Undefined),
            ("whole".into(), Value::F64(3.0)),
            ("half".into(), Value::F64(0.5)),
            ("nan".into(), Value::F64(f64::NAN)),
            ("bin".into(), Value::Bin(vec![1])),
            (
                "arr".into(),
                Value::Array(vec![Value::Undefined, Value::Str("s".into())]),
            ),
            (
                "map".into(),
                Value::Map(vec![
                    (Value::Int(1), Value::Bool(true)),
                    (Value::Str("k".into()), Value::Undefined),
                ]),
            ),
        ]);
        let expected = serde_json::json!({
            "whole": 3,
            "half": 0.5,
            "nan": null,
            "bin": null,
            "arr": [null, "s"],
            "map": {"1": true},
        });
        assert_eq!(v.into_json(), expected);
    }

    /// Keys are named as JS names them, in time linear in their size: a chain of maps nested
    /// as keys (the fuzzed row) is named at once instead of being spelled out level by level.
    #[test]
    fn map_keys_are_js_property_names() {
        let map = |k: Value| Value::Map(vec![(k, Value::Bool(true))]);
        let mut chain = Value::Str("k".into());
        for _ in 0..200 {
            chain = Value::Map(vec![(chain, Value::Nil)]);
        }
        for (key, name) in [
            (Value::Nil, "null"),
            (Value::Undefined, "undefined"),
            (Value::Bool(false), "false"),
            (Value::Int(-3), "-3"),
            (Value::F64(2.0), "2"),
            (Value::F64(0.25), "0.25"),
            (
                Value::Array(vec![
                    Value::Int(1),
                    Value::Array(vec![Value::Str("a".into()), Value::Nil]),
                    Value::Undefined,
                ]),
                "1,a,,",
            ),
            (Value::F64(f64::NAN), "NaN"),
            (Value::F64(f64::NEG_INFINITY), "-Infinity"),
            (Value::Object(vec![]), "[object Object]"),
            (Value::Bin(vec![1]), "[object Object]"),
            (chain, "[object Map]"),
        ] {
            let mut want = serde_json::Map::new();
            want.insert(name.to_owned(), serde_json::Value::Bool(true));
            assert_eq!(map(key).into_json(), serde_json::Value::Object(want));
        }
    }
}
