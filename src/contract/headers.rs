//! Reading response header fields as HTTP defines them (RFC 9110 5.2, 5.3):
//! a list-valued field (`Vary`, `Access-Control-Allow-Headers`, ...) may be
//! sent as several field lines, and a recipient combines them, in order,
//! into one value separated by ", ". Reading only the first line misses the
//! rest; a server that splits a list is within its rights.

use http::HeaderMap;

/// The combined value of a list-valued field: every line of `name`, in
/// order, joined with ", ". `None` when the field is absent. Lines that are
/// not visible ASCII are read lossily (a check then reports what it saw).
pub fn list_field(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    let parts: Vec<String> = lines
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    Some(parts.join(", "))
}

/// The members of a list-valued field (all its lines), trimmed, empty
/// members dropped (RFC 9110 5.6.1 allows them).
pub fn list_items(headers: &HeaderMap, name: &str) -> Vec<String> {
    list_field(headers, name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in lines {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn lines_are_combined_in_order() {
        let h = map(&[
            ("vary", "Accept-Encoding"),
            ("Vary", "Origin"),
            ("access-control-allow-headers", "Content-Type, Accept"),
            ("access-control-allow-headers", "Authorization"),
        ]);
        assert_eq!(
            list_field(&h, "vary").as_deref(),
            Some("Accept-Encoding, Origin")
        );
        assert_eq!(
            list_items(&h, "Access-Control-Allow-Headers"),
            ["Content-Type", "Accept", "Authorization"]
        );
        assert_eq!(list_field(&h, "allow"), None);
        assert!(list_items(&h, "allow").is_empty());
    }

    #[test]
    fn empty_members_are_dropped() {
        let h = map(&[("vary", ", Origin,,"), ("vary", "")]);
        assert_eq!(list_items(&h, "vary"), ["Origin"]);
        assert_eq!(list_field(&h, "vary").as_deref(), Some(", Origin,,, "));
    }
}
