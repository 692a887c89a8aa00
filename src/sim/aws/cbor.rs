//! A CBOR value tree for the simulator's CloudWatch (Smithy RPCv2 CBOR): decoding
//! requests and encoding responses with `minicbor`, timestamps as tag 1.

use minicbor::data::{IanaTag, Tag, Type};
use minicbor::{Decoder, Encoder};

/// A decoded CBOR item.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(String, Value)>),
    /// Epoch seconds (CBOR tag 1).
    Time(f64),
}

const MAX_DEPTH: u32 = 64;

impl Value {
    /// The member `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }
    /// A number; text that reads as one counts (the query protocol sends text).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) | Value::Time(f) => Some(*f),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    /// A timestamp as epoch seconds: a number (CBOR, JSON) or ISO 8601 text (query).
    pub fn time(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Text(s) => match s.parse::<jiff::Timestamp>() {
                Ok(t) => Some(t.as_millisecond() as f64 / 1000.0),
                Err(_) => s.trim().parse().ok(),
            },
            v => v.as_f64(),
        }
    }
    /// A boolean; `"true"`/`"false"` text counts.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
    /// The text members of a list.
    pub fn texts(&self, key: &str) -> Vec<&str> {
        self.list(key)
            .iter()
            .filter_map(|v| match v {
                Value::Text(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
    pub fn list(&self, key: &str) -> &[Value] {
        match self.get(key) {
            Some(Value::Array(a)) => a,
            _ => &[],
        }
    }
    /// A map from string pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }
}

/// Decodes one CBOR item (the whole request body).
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Map(Vec::new()));
    }
    let mut d = Decoder::new(bytes);
    item(&mut d, 0).map_err(|e| format!("malformed CBOR body: {e}"))
}

fn item(d: &mut Decoder<'_>, depth: u32) -> Result<Value, minicbor::decode::Error> {
    if depth > MAX_DEPTH {
        return Err(minicbor::decode::Error::message("nested too deeply"));
    }
    Ok(match d.datatype()? {
        Type::Bool => Value::Bool(d.bool()?),
        Type::Null => {
            d.null()?;
            Value::Null
        }
        Type::Undefined => {
            d.undefined()?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            Value::Int(d.i64()?)
        }
        Type::F16 | Type::F32 | Type::F64 => Value::Float(d.f64()?),
        Type::Bytes => Value::Bytes(d.bytes()?.to_vec()),
        Type::BytesIndef => {
            let mut out = Vec::new();
            for part in d.bytes_iter()? {
                out.extend_from_slice(part?);
            }
            Value::Bytes(out)
        }
        Type::String => Value::Text(d.str()?.to_string()),
        Type::StringIndef => {
            let mut out = String::new();
            for part in d.str_iter()? {
                out.push_str(part?);
            }
            Value::Text(out)
        }
        Type::Array | Type::ArrayIndef => {
            let mut out = Vec::new();
            match d.array()? {
                Some(n) => {
                    for _ in 0..n {
                        out.push(item(d, depth + 1)?);
                    }
                }
                None => {
                    while d.datatype()? != Type::Break {
                        out.push(item(d, depth + 1)?);
                    }
                    d.skip()?;
                }
            }
            Value::Array(out)
        }
        Type::Map | Type::MapIndef => {
            let mut out = Vec::new();
            let mut pair = |d: &mut Decoder<'_>| -> Result<(), minicbor::decode::Error> {
                let k = match item(d, depth + 1)? {
                    Value::Text(s) => s,
                    other => format!("{other:?}"),
                };
                let v = item(d, depth + 1)?;
                out.push((k, v));
                Ok(())
            };
            match d.map()? {
                Some(n) => {
                    for _ in 0..n {
                        pair(d)?;
                    }
                }
                None => {
                    while d.datatype()? != Type::Break {
                        pair(d)?;
                    }
                    d.skip()?;
                }
            }
            Value::Map(out)
        }
        Type::Tag => {
            let tag = d.tag()?;
            let inner = item(d, depth + 1)?;
            if tag == Tag::from(IanaTag::Timestamp) {
                Value::Time(inner.as_f64().unwrap_or_default())
            } else {
                inner
            }
        }
        _ => {
            d.skip()?;
            Value::Null
        }
    })
}

/// Encodes a value as CBOR.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    // writing into a Vec cannot fail
    let _ = write(&mut e, v);
    e.into_writer()
}

fn write(e: &mut Encoder<Vec<u8>>, v: &Value) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    match v {
        Value::Null => {
            e.null()?;
        }
        Value::Bool(b) => {
            e.bool(*b)?;
        }
        Value::Int(i) => {
            e.i64(*i)?;
        }
        Value::Float(f) => {
            e.f64(*f)?;
        }
        Value::Text(s) => {
            e.str(s)?;
        }
        Value::Bytes(b) => {
            e.bytes(b)?;
        }
        Value::Array(a) => {
            e.array(a.len() as u64)?;
            for x in a {
                write(e, x)?;
            }
        }
        Value::Map(m) => {
            e.map(m.len() as u64)?;
            for (k, x) in m {
                e.str(k)?;
                write(e, x)?;
            }
        }
        Value::Time(t) => {
            e.tag(Tag::from(IanaTag::Timestamp))?;
            e.f64(*t)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let v = Value::map([
            ("a", Value::Int(-3)),
            ("b", Value::Array(vec![Value::Float(1.5), Value::Time(1700000000.25)])),
            ("c", Value::text("x")),
            ("d", Value::Bool(true)),
        ]);
        assert_eq!(decode(&encode(&v)).unwrap(), v);
    }

    #[test]
    fn reads_indefinite_lengths() {
        // {_ "k": [_ 1, 2]}
        let bytes = [0xbf, 0x61, b'k', 0x9f, 0x01, 0x02, 0xff, 0xff];
        let v = decode(&bytes).unwrap();
        assert_eq!(v.list("k"), &[Value::Int(1), Value::Int(2)]);
    }
}
