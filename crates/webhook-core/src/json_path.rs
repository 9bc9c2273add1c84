//! Turns a serde_json error position back into a JSON path (`$.commits[3].added`).
//!
//! serde_json reports only line and column. Rather than tracking paths while
//! deserializing (which would slow the happy path), the error path re-scans the raw bytes
//! up to the reported position with a tiny, non-recursive tokenizer.

/// One open container while scanning.
enum Frame {
    /// Inside an object; the key of the member being read, if seen yet.
    Object(Option<String>),
    /// Inside an array; index of the element being read.
    Array(usize),
}

/// The path of the value being read at byte `offset`, and the path of the container that
/// most recently closed at or before it (serde reports a missing field just past the
/// closing brace of the object that lacks it).
pub(crate) struct Located {
    pub(crate) at: String,
    pub(crate) last_closed: Option<String>,
}

pub(crate) fn locate(bytes: &[u8], offset: usize) -> Located {
    let end = offset.min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut last_closed = None;
    let mut i = 0;
    // True between an object's `{`/`,` and its key's closing quote.
    let mut expecting_key = false;
    while i < end {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i = skip_string(bytes, i + 1);
                if expecting_key {
                    if let Some(Frame::Object(key)) = stack.last_mut() {
                        let raw = &bytes[start..i.saturating_sub(1).max(start)];
                        *key = Some(String::from_utf8_lossy(raw).into_owned());
                    }
                    expecting_key = false;
                }
                continue;
            }
            b'{' => {
                stack.push(Frame::Object(None));
                expecting_key = true;
            }
            b'[' => stack.push(Frame::Array(0)),
            // The closing container's own path: its parents' keys, not its own.
            b'}' | b']' if stack.pop().is_some() => last_closed = Some(render(&stack)),
            b',' => match stack.last_mut() {
                Some(Frame::Array(index)) => *index += 1,
                Some(Frame::Object(key)) => {
                    *key = None;
                    expecting_key = true;
                }
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    Located {
        at: render(&stack),
        last_closed,
    }
}

/// Index just past the closing quote of a string whose body starts at `i`.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

fn render(stack: &[Frame]) -> String {
    let mut path = String::from("$");
    for frame in stack {
        match frame {
            Frame::Object(Some(key)) => push_key(&mut path, key),
            Frame::Object(None) => {}
            Frame::Array(index) => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    path
}

pub(crate) fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str("[\"");
        path.push_str(&key.replace('\\', "\\\\").replace('"', "\\\""));
        path.push_str("\"]");
    }
}

/// Byte index of the character at serde_json's 1-based line and column (column 0, "before
/// the first character of the line", maps to the line start).
pub(crate) fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut line_start = 0;
    let mut current = 1;
    if line > 1 {
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                current += 1;
                if current == line {
                    line_start = i + 1;
                    break;
                }
            }
        }
    }
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_paths() {
        let json = br#"{"a": {"b": [1, 2, {"c": "x,y"}]}, "d": 5}"#;
        let at = |needle: &str| {
            let pos = json
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap();
            locate(json, pos + needle.len()).at
        };
        assert_eq!(at(r#""x,y""#), "$.a.b[2].c");
        assert_eq!(at("2"), "$.a.b[1]");
        assert_eq!(at("5"), "$.d");
    }

    #[test]
    fn odd_keys_are_quoted() {
        let mut path = String::from("$");
        push_key(&mut path, "a.b");
        assert_eq!(path, "$[\"a.b\"]");
    }
}
