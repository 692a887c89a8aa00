//! Request bodies in Kubernetes' protobuf encoding. Recent client-go's typed clients
//! (kubectl 1.37's generators and `auth can-i` among them) send built-in kinds as
//! protobuf: the `k8s\0` magic, then a `runtime.Unknown` envelope (type meta, raw
//! object). The simulator reads JSON; it decodes the one protobuf body a person's
//! kubectl sends most (`SelfSubjectAccessReview`, field numbers from
//! k8s.io/api/authorization/v1/generated.proto) and answers the rest with 415 and what
//! to do instead, as a server that does not speak a media type does.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::status::ApiError;

const MAGIC: &[u8] = b"k8s\x00";

/// Whether a request body is Kubernetes protobuf.
pub fn is_protobuf(body: &[u8]) -> bool {
    body.starts_with(MAGIC)
}

/// The answer to a protobuf body the simulator does not decode.
pub fn unsupported(kind: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!(
            "the simulator reads {kind} request bodies as JSON, not protobuf (recent kubectl sends built-in kinds as protobuf from its generators): write the object to a file and use `kubectl create -f FILE --validate=false`"
        ),
    )
}

/// A field's value: only length-delimited ones are read (strings, messages).
enum Field<'a> {
    Scalar,
    Bytes(&'a [u8]),
}

/// Reads a varint at `*at`.
fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of one message, in order; None when it is not well formed.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = varint(buf, &mut at)?;
        let (number, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => {
                varint(buf, &mut at)?;
                Field::Scalar
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|e| *e <= buf.len())?;
                let b = &buf[at..end];
                at = end;
                Field::Bytes(b)
            }
            1 => {
                at = at.checked_add(8).filter(|e| *e <= buf.len())?;
                Field::Scalar
            }
            5 => {
                at = at.checked_add(4).filter(|e| *e <= buf.len())?;
                Field::Scalar
            }
            _ => return None,
        };
        out.push((number, f));
    }
    Some(out)
}

fn bytes_of(msg: &[u8], number: u64) -> Option<&[u8]> {
    fields(msg)?.into_iter().find_map(|(n, f)| match f {
        Field::Bytes(b) if n == number => Some(b),
        _ => None,
    })
}

/// String fields of a message by number, into a JSON object by name.
fn strings(msg: &[u8], names: &[(u64, &str)]) -> Option<Value> {
    let mut obj = Map::new();
    for (n, f) in fields(msg)? {
        if let (Field::Bytes(b), Some((_, name))) = (f, names.iter().find(|(k, _)| *k == n)) {
            obj.insert(
                (*name).to_string(),
                Value::String(String::from_utf8_lossy(b).into_owned()),
            );
        }
    }
    Some(Value::Object(obj))
}

/// A protobuf `SelfSubjectAccessReview` as the JSON the handler reads.
pub fn access_review(body: &[u8]) -> Result<Value, ApiError> {
    let bad = || ApiError::bad_request("error decoding SelfSubjectAccessReview: not a well-formed protobuf body");
    let envelope = body.strip_prefix(MAGIC).ok_or_else(bad)?;
    let raw = bytes_of(envelope, 2).ok_or_else(bad)?;
    let spec = bytes_of(raw, 2).unwrap_or_default();
    let mut spec_json = Map::new();
    if let Some(ra) = bytes_of(spec, 1) {
        let names = [
            (1, "namespace"),
            (2, "verb"),
            (3, "group"),
            (4, "version"),
            (5, "resource"),
            (6, "subresource"),
            (7, "name"),
        ];
        spec_json.insert("resourceAttributes".into(), strings(ra, &names).ok_or_else(bad)?);
    }
    if let Some(nr) = bytes_of(spec, 2) {
        spec_json.insert(
            "nonResourceAttributes".into(),
            strings(nr, &[(1, "path"), (2, "verb")]).ok_or_else(bad)?,
        );
    }
    Ok(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": Value::Object(spec_json),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_kubectl_access_review_reads_as_its_json() {
        let attrs = [field(1, b"shop"), field(2, b"delete"), field(5, b"pods")].concat();
        let spec = field(1, &attrs);
        let raw = [field(1, b""), field(2, &spec)].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let envelope = [field(1, &type_meta), field(2, &raw)].concat();
        let body = [MAGIC, &envelope].concat();
        assert!(is_protobuf(&body));
        let v = access_review(&body).unwrap();
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "delete");
        assert_eq!(v["spec"]["resourceAttributes"]["resource"], "pods");
        assert_eq!(v["spec"]["resourceAttributes"]["namespace"], "shop");
    }

    #[test]
    fn a_damaged_body_is_refused_not_misread() {
        let body = [MAGIC, &[0x12, 0x7f, 0x01]].concat();
        assert!(access_review(&body).is_err());
        assert!(!is_protobuf(b"{\"kind\":\"x\"}"));
    }
}
