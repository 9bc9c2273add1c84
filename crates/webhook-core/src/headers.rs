//! [`Headers`]: the request headers of one delivery, as the HTTP layer received them.

/// Case-insensitive multi-map of header names to raw values.
///
/// Keeps every value of a repeated header, in arrival order, because a repeated
/// signature header is ambiguous and must be rejected rather than silently picking one.
///
/// Names and values are copied into one byte buffer, so a request's headers cost two
/// allocations however many there are (one per name and value was 2 % of a webhook's CPU).
/// `Debug` shows the names and the length of each value, never a value: tokens travel in
/// headers.
#[derive(Clone, Default)]
pub struct Headers {
    /// Every name (lowercased) followed by its value, back to back.
    bytes: Vec<u8>,
    /// Per header line: where its name ends and where its value ends in `bytes`.
    lines: Vec<(usize, usize)>,
}

impl Headers {
    /// An empty header map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a value for `name` (kept even when `name` is already present).
    pub fn insert(&mut self, name: &str, value: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes[start..].make_ascii_lowercase();
        let name_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.lines.push((name_end, self.bytes.len()));
    }

    /// The first value of `name` (any case), if it is valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values(name)
            .next()
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// Every value of `name` (any case), raw, in arrival order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.values(name)
    }

    /// Each header line as (lowercased name, value), in arrival order.
    fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut start = 0;
        self.lines.iter().map(move |&(name_end, value_end)| {
            let entry = (
                &self.bytes[start..name_end],
                &self.bytes[name_end..value_end],
            );
            start = value_end;
            entry
        })
    }

    /// Like [`Headers::get_all`], but the values borrow only `self`, not `name`.
    fn values<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s [u8]> + use<'s, 'n> {
        self.entries()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }

    /// Each header line as (lowercased name, raw value), in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        // Names come from `&str`s lowercased in place (ASCII only), so they stay UTF-8.
        self.entries()
            .map(|(name, value)| (std::str::from_utf8(name).unwrap_or_default(), value))
    }

    /// Number of header lines held (repeated names count once per line).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no header is held.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.entries().map(|(name, value)| {
                (
                    String::from_utf8_lossy(name),
                    format!("<{} bytes>", value.len()),
                )
            }))
            .finish()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut headers = Headers {
            // A typical webhook's headers fit; more only grows the buffer once or twice.
            bytes: Vec::with_capacity(1024),
            lines: Vec::with_capacity(iter.size_hint().0),
        };
        for (name, value) in iter {
            headers.insert(name.as_ref(), value.as_ref());
        }
        headers
    }
}

/// What a single-valued header looks like after the checks every provider shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderValue<'a> {
    /// Not sent, or sent empty (providers send an empty value when no secret is set).
    Absent,
    /// Sent more than once with a non-empty value: ambiguous.
    Repeated(usize),
    /// Sent once and not valid UTF-8.
    NotUtf8,
    /// Sent once; surrounding whitespace trimmed.
    Present(&'a str),
}

impl Headers {
    /// Looks `name` up as a header that must appear at most once.
    pub(crate) fn single(&self, name: &str) -> HeaderValue<'_> {
        let mut found = None;
        let mut count = 0usize;
        for value in self.values(name) {
            if value.trim_ascii().is_empty() {
                continue;
            }
            count += 1;
            if found.is_none() {
                found = Some(value);
            }
        }
        match (found, count) {
            (None, _) => HeaderValue::Absent,
            (Some(_), n) if n > 1 => HeaderValue::Repeated(n),
            (Some(value), _) => match std::str::from_utf8(value.trim_ascii()) {
                Ok(text) => HeaderValue::Present(text),
                Err(_) => HeaderValue::NotUtf8,
            },
        }
    }

    /// The trimmed first value of `name` when it is non-empty UTF-8; for ids and event names.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.values(name)
            .filter_map(|value| std::str::from_utf8(value.trim_ascii()).ok())
            .find(|value| !value.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_case_and_keep_order() {
        let headers: Headers = [("X-Thing", "a"), ("x-thing", "b"), ("Other", "c")]
            .into_iter()
            .collect();
        assert_eq!(headers.get("X-THING"), Some("a"));
        let all: Vec<&[u8]> = headers.get_all("x-Thing").collect();
        assert_eq!(all, vec![b"a".as_slice(), b"b".as_slice()]);
        assert_eq!(headers.get("missing"), None);
    }

    #[test]
    fn single_reports_repeats_empties_and_bad_utf8() {
        let mut headers = Headers::new();
        headers.insert("Sig", b"  ");
        assert_eq!(headers.single("sig"), HeaderValue::Absent);
        headers.insert("Sig", b" abc \t");
        assert_eq!(headers.single("sig"), HeaderValue::Present("abc"));
        headers.insert("SIG", b"def");
        assert_eq!(headers.single("sig"), HeaderValue::Repeated(2));
        let mut bad = Headers::new();
        bad.insert("Sig", &[0xff, 0xfe]);
        assert_eq!(bad.single("sig"), HeaderValue::NotUtf8);
        assert_eq!(bad.get("sig"), None);
    }

    #[test]
    fn debug_shows_names_and_lengths_but_no_value() {
        let headers: Headers = [("X-Gitlab-Token", "s3cret-token"), ("Content-Type", "json")]
            .into_iter()
            .collect();
        let shown = format!("{headers:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("\"x-gitlab-token\": \"<12 bytes>\""),
            "{shown}"
        );
        assert_eq!(headers.len(), 2);
        assert_eq!(headers.get("content-type"), Some("json"));
    }
}
