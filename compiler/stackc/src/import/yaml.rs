//! The compose file as a YAML tree whose every node knows its line and column (anchors,
//! aliases and `<<` merge keys already resolved by serde-saphyr; `templates.rs` finds where
//! they were written by a scan of the text).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A value and where it is written: the index of its file among the imported ones, 1-based
/// line and column (0 when unknown). Two nodes are equal when their values are.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub line: u64,
    pub column: u64,
    pub file: usize,
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        self.value == other.value
    }
}

impl Node {
    fn set_file(&mut self, file: usize) {
        self.file = file;
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|i| i.set_file(file)),
            Value::Map(m) => m.iter_mut().for_each(|(k, v)| {
                k.set_file(file);
                v.set_file(file);
            }),
            _ => {}
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as compose reads it where a string is expected (`3` is `"3"`).
    pub fn scalar(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value as one line of YAML-like text, for comments and notes.
    pub fn show(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Seq(items) => format!("[{}]", items.iter().map(Node::show).collect::<Vec<_>>().join(", ")),
            Value::Map(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{}: {}", k.show(), v.show())).collect();
                format!("{{{}}}", parts.join(", "))
            }
            Value::Str(s) => serde_json::to_string(s).unwrap_or_default(),
            _ => self.scalar().unwrap_or_default(),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| Value::Str(v.to_string()), Value::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            out.push(item);
        }
        Ok(Value::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out: Vec<(Node, Node)> = Vec::new();
        while let Some(k) = map.next_key::<Node>()? {
            let v = map.next_value::<Node>()?;
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        let s = Spanned::<Value>::deserialize(d)?;
        Ok(Node { value: s.value, line: s.referenced.line(), column: s.referenced.column(), file: 0 })
    }
}

/// Why a file could not be read as YAML.
#[derive(Debug)]
pub struct YamlError {
    pub message: String,
    pub line: u64,
    pub column: u64,
}

/// Parses one YAML document the way compose does: YAML 1.2 booleans (`yes` is a string),
/// `0755` kept as written, anchors and merge keys resolved.
pub fn parse(text: &str, file: usize) -> Result<Node, YamlError> {
    let mut opts = serde_saphyr::Options::default();
    opts.strict_booleans = true;
    opts.leading_zero_numbers_as_strings = true;
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    match serde_saphyr::from_str_with_options::<Node>(text, opts) {
        Ok(mut n) => {
            n.set_file(file);
            Ok(n)
        }
        Err(e) => {
            let loc = e.location();
            Err(YamlError {
                message: e.to_string(),
                line: loc.map_or(0, |l| l.line()),
                column: loc.map_or(0, |l| l.column()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_anchors_and_merge_keys() {
        let text = "x-env: &env\n  A: '1'\nservices:\n  web:\n    environment:\n      <<: *env\n      B: yes\n    ports: [80, \"0755\"]\n";
        let n = parse(text, 0).expect("valid YAML");
        let web = n.get("services").and_then(|s| s.get("web")).expect("web");
        assert_eq!(web.line, 5);
        let env = web.get("environment").expect("environment");
        assert_eq!(env.get("A").and_then(Node::scalar).as_deref(), Some("1"));
        assert_eq!(env.get("B").map(|b| &b.value), Some(&Value::Str("yes".into())));
        assert_eq!(env.get("B").map(|b| b.line), Some(7));
        let ports = web.get("ports").expect("ports");
        assert_eq!(ports.show(), "[80, \"0755\"]");
    }
}
