//! Shared pieces of payload parsing: borrowed strings and JSON errors that name a path.

use std::borrow::Cow;

use serde::Deserialize;

use crate::error::Error;
use crate::json_path;

/// A JSON string borrowed from the body when it has no escapes, owned otherwise.
///
/// A newtype because serde only borrows a `Cow<str>` that is a field's whole type: inside
/// `Option` or `Vec` a bare `Cow` would always allocate.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

impl Text<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// An object of which only `id` is read: a commit (GitHub's `head_commit`, GitLab's
/// `last_commit`) or a ref (Bitbucket Server's `ref`).
#[derive(Debug, Deserialize)]
pub(crate) struct WithId<'a> {
    #[serde(borrow)]
    pub(crate) id: Option<Text<'a>>,
}

/// An object of which only `name` is read: Bitbucket Cloud's `branch`, Azure DevOps'
/// `project`.
#[derive(Debug, Deserialize)]
pub(crate) struct WithName<'a> {
    #[serde(borrow)]
    pub(crate) name: Option<Text<'a>>,
}

/// `Some(owned string)` for a present, non-empty text.
pub(crate) fn owned(text: &Option<Text<'_>>) -> Option<String> {
    text.as_ref()
        .map(Text::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Deserializes `body`, turning serde_json's line/column errors into a JSON path.
///
/// Every provider sends a JSON object; anything else is refused up front, because serde
/// would otherwise read a JSON array as a struct's fields in order.
pub(crate) fn from_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Error> {
    match body.trim_ascii_start().first() {
        Some(b'{') => serde_json::from_slice(body).map_err(|err| malformed(body, &err)),
        None => Err(Error::MalformedPayload {
            path: "$".to_owned(),
            reason: "body is empty, expected a JSON object".to_owned(),
        }),
        Some(_) => Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => Error::MalformedPayload {
                    path: "$".to_owned(),
                    reason: "expected a JSON object".to_owned(),
                },
                Err(err) => malformed(body, &err),
            },
        ),
    }
}

/// Fails with the path of a required value that is absent.
pub(crate) fn require<T>(value: Option<T>, path: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::missing_field(path))
}

fn malformed(body: &[u8], err: &serde_json::Error) -> Error {
    let full = err.to_string();
    // serde_json appends " at line L column C"; keep the message, restate the position.
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(message, _)| message);
    let (line, column) = (err.line(), err.column());
    match err.classify() {
        serde_json::error::Category::Data => {
            let index = json_path::offset_of(body, line, column);
            let path = match missing_field_name(message) {
                Some(field) => {
                    // Reported at the `}` of the object that lacks the field: scan past it.
                    let located = json_path::locate(body, index + 1);
                    let mut path = located.last_closed.unwrap_or(located.at);
                    json_path::push_key(&mut path, field);
                    path
                }
                // Reported at (or just after) the offending value: stop before it.
                None => json_path::locate(body, index).at,
            };
            Error::MalformedPayload {
                path,
                reason: message.to_owned(),
            }
        }
        _ => Error::MalformedPayload {
            path: "$".to_owned(),
            reason: format!("not valid JSON: {message} at line {line}, column {column}"),
        },
    }
}

fn missing_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // fields exist to be deserialized; tests look only at errors
    struct Outer<'a> {
        #[serde(borrow)]
        inner: Inner<'a>,
        list: Vec<u64>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner<'a> {
        #[serde(borrow)]
        name: Text<'a>,
    }

    fn path_of(json: &str) -> String {
        match from_body::<Outer<'_>>(json.as_bytes()) {
            Err(Error::MalformedPayload { path, .. }) => path,
            other => panic!("expected a malformed payload, got {other:?}"),
        }
    }

    #[test]
    fn paths_name_the_offending_value() {
        assert_eq!(
            path_of(r#"{"inner": {"name": 5}, "list": []}"#),
            "$.inner.name"
        );
        assert_eq!(path_of(r#"{"inner": {}, "list": []}"#), "$.inner.name");
        assert_eq!(path_of(r#"{"inner": {"name": "x"}}"#), "$.list");
        assert_eq!(
            path_of("{\"inner\": {\"name\": \"x\"},\n \"list\": [1, \"two\"]}"),
            "$.list[1]"
        );
        assert_eq!(path_of("[1]"), "$");
        assert_eq!(path_of("5"), "$");
    }

    #[test]
    fn invalid_json_is_at_the_root_with_a_position() {
        let err = from_body::<Outer<'_>>(b"{\"inner\": ").unwrap_err();
        match err {
            Error::MalformedPayload { path, reason } => {
                assert_eq!(path, "$");
                assert!(reason.contains("line 1"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn text_borrows_plain_strings_and_owns_escaped_ones() {
        let texts: Vec<Text<'_>> = serde_json::from_str(r#"["plain", "esc\"aped"]"#).unwrap();
        assert!(matches!(texts[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&texts[1].0, Cow::Owned(s) if s == "esc\"aped"));
    }
}
