//! Parsers of single flag values (URLs, origins, durations, times): each
//! names what was wrong and suggests what was probably meant.

use std::time::Duration;

/// Validates `--target`: an http or https URL with a host. A missing scheme
/// gets the URL that was probably meant.
pub fn parse_target(s: &str) -> Result<String, String> {
    let s = s.trim();
    let missing = || {
        format!(
            "{s:?} has no scheme: did you mean http://{}?",
            s.trim_start_matches(':').trim_start_matches('/')
        )
    };
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(missing());
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        let guess = crate::input::closest(&scheme.to_ascii_lowercase(), ["http", "https"]);
        return Err(format!(
            "{s:?}: unknown scheme {scheme:?}: use http:// or https://{}",
            guess.map_or_else(String::new, |g| format!(" (did you mean {g}://{rest}?)"))
        ));
    }
    let url = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} names no host; e.g. http://localhost:8000"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{s:?}: a base URL takes no ?query or #fragment; e.g. http://localhost:8000"
        ));
    }
    Ok(s.to_owned())
}

/// Validates an origin (`--production-origin`): scheme, host and port only.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let s = parse_target(s)?;
    let url = url::Url::parse(&s).map_err(|e| e.to_string())?;
    if url.path() != "/" {
        return Err(format!(
            "{s:?} has a path; an origin is scheme://host[:port], e.g. {}",
            url.origin().ascii_serialization()
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// Parses `10s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!("{s:?} is not a duration"))
        };
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}); try 10s or 500ms"))
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e}); try 2026-05-01T12:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        for ok in [
            "http://127.0.0.1:8000",
            "https://chat.example.com/",
            "http://[::1]:8000",
            "HTTP://localhost:8000",
            "https://example.com/base/path",
        ] {
            assert_eq!(parse_target(ok).as_deref(), Ok(ok), "{ok}");
        }
        let err = |s: &str| parse_target(s).unwrap_err();
        assert!(err("localhost:8000").contains("did you mean http://localhost:8000?"));
        assert!(err("127.0.0.1").contains("did you mean http://127.0.0.1?"));
        assert!(err("htps://x").contains("did you mean https://x?"));
        assert!(err("ftp://x").contains("unknown scheme \"ftp\""));
        assert!(err("http://").contains("empty host"));
        assert_eq!(
            parse_origin("https://chat.example.com/").as_deref(),
            Ok("https://chat.example.com")
        );
        assert!(parse_origin("https://chat.example.com/app").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
