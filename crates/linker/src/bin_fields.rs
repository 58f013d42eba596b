//! The four fields of a `package.json` that say which commands a package provides, read
//! without building the rest of it.
//!
//! Every package with bins has its manifest read while the imports run, and a manifest can
//! be tens of kilobytes of scripts, keywords and metadata: building all of it as a
//! `serde_json::Value` was most of the time spent writing `.bin` directories. The fields
//! are read as `serde_json::Value`s, so what [`crate::bins`] does with them is unchanged.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;

/// `name`, `version`, `bin` and `directories`, `Null` when absent.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct BinFields {
    pub name: Value,
    pub version: Value,
    pub bin: Value,
    pub directories: Value,
}

impl BinFields {
    /// The fields of the manifest `text`, with the same outcome as indexing the whole
    /// manifest parsed as a `Value`: the same error for text that is not JSON, and `Null`s
    /// for JSON that is not an object.
    pub(crate) fn parse(text: &[u8]) -> Result<BinFields, serde_json::Error> {
        match serde_json::from_slice::<BinFields>(text) {
            Ok(fields) => Ok(fields),
            // Not an object, or not JSON: the whole-value parse decides which.
            Err(_) => serde_json::from_slice::<Value>(text).map(|manifest| BinFields {
                name: manifest["name"].clone(),
                version: manifest["version"].clone(),
                bin: manifest["bin"].clone(),
                directories: manifest["directories"].clone(),
            }),
        }
    }
}

impl<'de> Deserialize<'de> for BinFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = BinFields;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a package.json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BinFields, A::Error> {
        let mut fields = BinFields::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "name" => &mut fields.name,
                "version" => &mut fields.version,
                "bin" => &mut fields.bin,
                "directories" => &mut fields.directories,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // A key given twice: the later value, as in a parsed `Value` (and `JSON.parse`).
            *slot = map.next_value()?;
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::BinFields;
    use serde_json::Value;

    fn by_whole_value(text: &str) -> Option<BinFields> {
        let manifest: Value = serde_json::from_str(text).ok()?;
        Some(BinFields {
            name: manifest["name"].clone(),
            version: manifest["version"].clone(),
            bin: manifest["bin"].clone(),
            directories: manifest["directories"].clone(),
        })
    }

    /// The same fields (or the same failure) as indexing the whole parsed manifest.
    #[test]
    fn the_fields_are_those_of_the_whole_manifest() {
        let cases = [
            r#"{"name":"@s/x","version":"1.0.0","bin":{"x":"cli.js","y":"y.js"},"scripts":{"a":"b"}}"#,
            r#"{"name":"x","bin":"cli.js","directories":{"bin":"./bin"},"files":["a",{"b":[1,2.5,null]}]}"#,
            r#"{"name":"first","name":"second","bin":"a","bin":{"z":"z.js"}}"#,
            r#"{"name":"\u0078\"q","description":"\ud83d\ude00 tab\t","version":7}"#,
            r#"{"directories":{"lib":"lib"}}"#,
            r#"{}"#,
            r#"[]"#,
            r#""just a string""#,
            r#"null"#,
            r#"{"name":"x",}"#,
            r#"{"name":"x""#,
            r#"{"name":"x"} trailing"#,
            "",
        ];
        for text in cases {
            let got = BinFields::parse(text.as_bytes()).ok();
            assert_eq!(got, by_whole_value(text), "{text}");
        }
    }
}
