//! Which origins CORS is judged with: the allowed ones (localhost, loopback
//! and the production origin), the look-alikes that must get nothing, and
//! the requests and header readers every CORS check uses.

use crate::check::context::{Ctx, SignedIn};
use crate::client::{Encoding, Exchange, Request};
use crate::contract::Endpoint;

const EVIL: &str = "http://evil.example";

pub(super) fn allowed_origins(cx: &Ctx) -> Vec<String> {
    let mut v = vec![
        "http://localhost:5173".to_owned(),
        "http://127.0.0.1:8080".to_owned(),
    ];
    v.extend(cx.production_origin.clone());
    v
}

/// Whether the contract allows `origin`: `http://localhost` or
/// `http://127.0.0.1` with any port (or none), or the production origin.
fn contract_allows(origin: &str, production: Option<&str>) -> bool {
    let dev = ["http://localhost", "http://127.0.0.1"].iter().any(|host| {
        origin.strip_prefix(host).is_some_and(|rest| {
            rest.is_empty()
                || rest.strip_prefix(':').is_some_and(|port| {
                    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                })
        })
    });
    dev || production.is_some_and(|p| {
        p.trim_end_matches('/')
            .eq_ignore_ascii_case(origin.trim_end_matches('/'))
    })
}

/// Origins that only resemble an allowed one: what a prefix, suffix or
/// scheme-blind comparison lets through, and `null`. Left out on purpose:
/// other hosts under `localhost` (`http://evil.localhost:8000`) and other
/// schemes or ports of loopback, which a browser only reaches on the
/// user's own machine (a server may treat them as local), and other ports
/// of the production host (the same host, run by the same people).
pub(super) fn resembling_origins(production: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = [
        EVIL,
        "http://localhost.evil.example",
        "http://localhost:3000.evil.example",
        "http://localhostx:3000",
        "http://127.0.0.1.evil.example",
        "http://127.0.0.1:8080.evil.example",
        "null",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(p) = production.map(|p| p.trim_end_matches('/')) {
        v.push(format!("{p}.evil.example"));
        if let Some((scheme, host)) = p.split_once("://") {
            v.push(format!("{scheme}://evil{host}"));
            if scheme.eq_ignore_ascii_case("https") {
                v.push(format!("http://{host}"));
            }
        }
    }
    v.retain(|o| !contract_allows(o, production));
    v
}

pub(super) fn preflight_request(endpoint: Endpoint, origin: &str) -> Request {
    Request::to(endpoint)
        .method(http::Method::OPTIONS, Encoding::Query)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", endpoint.method().as_str())
        .header("Access-Control-Request-Headers", "authorization")
}

pub(super) fn chat_request(endpoint: Endpoint, user: &SignedIn, chat: &str) -> Request {
    Request::to(endpoint).token(&user.creds).param("chat", chat)
}

pub(super) fn acao(ex: &Exchange) -> Option<&str> {
    ex.header("access-control-allow-origin")
}

/// Whether a list-valued header names `item`; `value` is the field with all
/// its lines combined ([`Exchange::header_list`]): a list may be split over
/// several lines (RFC 9110 5.3).
pub(super) fn list_has(value: Option<&str>, item: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(item)))
}

pub(super) fn has_star(ex: &Exchange) -> bool {
    // On any line: a second Access-Control-Allow-Origin line is no excuse.
    ex.headers
        .get_all("access-control-allow-origin")
        .iter()
        .any(|v| v.as_bytes().trim_ascii() == b"*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_are_never_allowed_and_include_the_production_tricks() {
        let prod = Some("https://chat.example.com");
        let all = resembling_origins(prod);
        for o in &all {
            assert!(!contract_allows(o, prod), "{o}");
        }
        for o in [
            "http://localhost.evil.example",
            "null",
            "https://chat.example.com.evil.example",
            "https://evilchat.example.com",
            "http://chat.example.com",
        ] {
            assert!(all.iter().any(|x| x == o), "{o} missing from {all:?}");
        }
        // An http production origin has no downgrade to try.
        assert!(!resembling_origins(Some("http://chat.example.com"))
            .iter()
            .any(|o| o == "http://chat.example.com"));
        // A production origin on loopback allows its other scheme's twin
        // only when the dev rule does.
        let local = Some("https://127.0.0.1:9443");
        assert!(!resembling_origins(local)
            .iter()
            .any(|o| o == "http://127.0.0.1:9443"));
    }

    #[test]
    fn the_contract_allows_loopback_with_any_port_and_the_production_origin() {
        let prod = Some("https://chat.example.com/");
        for o in [
            "http://localhost",
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "https://chat.example.com",
        ] {
            assert!(contract_allows(o, prod), "{o}");
        }
        for o in [
            "http://localhost:",
            "http://localhost:80x",
            "https://localhost:8000",
            "http://localhostx",
            "http://evil.example",
            "null",
        ] {
            assert!(!contract_allows(o, prod), "{o}");
        }
    }
}
