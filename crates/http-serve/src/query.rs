//! Query strings and path segments, percent-decoded, with a 400 that names the parameter
//! when an escape is broken.

use std::collections::HashMap;

use hyper::{Response, StatusCode};

use crate::respond::{self, Body, Failure};

/// `a=1&b=x%20y` into a map (the last value of a repeated key wins). A `%` not followed by
/// two hex digits, or a value that is not UTF-8 once decoded, is a 400 naming the parameter.
pub fn parse_query(query: &str) -> Result<HashMap<String, String>, Box<Response<Body>>> {
    let mut map = HashMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |name: &str| {
            Box::new(respond::error(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                format!("query parameter `{name}` is not valid percent-encoded UTF-8"),
            ))
        };
        let name = decode(key).ok_or_else(|| bad(&key.escape_debug().to_string()))?;
        let value = decode(value).ok_or_else(|| bad(&name))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// A `limit` parameter: `default` when absent or empty, at most `max`; anything but a whole
/// number from 1 is a 400 `bad_limit` saying what is accepted.
pub fn limit(value: Option<&String>, default: usize, max: usize) -> Result<usize, Failure> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(max)),
            _ => Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_limit",
                format!("limit must be a whole number from 1 to {max}"),
            )),
        },
    }
}

/// A path segment's percent-decoding (`+` stays a plus), or `None` for a broken escape.
pub fn decode_path(text: &str) -> Option<String> {
    decode(&text.replace('+', "%2B"))
}

/// Form decoding (`+` is a space), or `None` for a broken escape or bytes that are not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let escapes_whole = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if !escapes_whole {
        return None;
    }
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_cap_and_refuse_what_is_not_a_count() {
        let given = |text: &str| limit(Some(&text.to_string()), 50, 500);
        assert_eq!(limit(None, 50, 500).unwrap(), 50);
        assert_eq!(given("").unwrap(), 50);
        assert_eq!(given("7").unwrap(), 7);
        assert_eq!(given("9000").unwrap(), 500);
        for bad in ["0", "-1", "ten", "1.5"] {
            let response = given(bad).unwrap_err().into_response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn query_strings_decode() {
        let q = parse_query("q=parse%20http+request&limit=5&plus=%2B&e=").unwrap();
        assert_eq!(q["q"], "parse http request");
        assert_eq!(q["limit"], "5");
        assert_eq!(q["plus"], "+");
        assert_eq!(q["e"], "");
    }

    #[test]
    fn broken_escapes_are_errors_never_other_bytes() {
        for bad in ["q=%+1", "q=%zz", "q=%4", "q=%", "q=%ff", "%zz=1"] {
            let response = parse_query(bad).unwrap_err();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
