//! Rendering a request as a curl command a developer can paste to see the
//! same answer.

use super::request::RequestRecord;

/// Quotes for a POSIX shell.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub(crate) fn render(req: &RequestRecord, show_secrets: bool) -> String {
    let shown;
    let req = if show_secrets {
        req
    } else {
        shown = req.redacted();
        &shown
    };
    let mut out = vec!["curl".to_owned(), "-sS".into(), "-i".into()];
    if req.method != "GET" || req.body.is_some() {
        out.push("-X".into());
        out.push(req.method.clone());
    }
    out.push(sh(&req.url));
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("content-type") && req.encoding == Some("form") {
            continue; // --data-urlencode sets it
        }
        out.push("-H".into());
        out.push(sh(&format!("{k}: {v}")));
    }
    match (req.encoding, &req.body) {
        (Some("form"), _) => {
            for (k, v) in &req.params {
                out.push("--data-urlencode".into());
                out.push(sh(&format!("{k}={v}")));
            }
        }
        (_, Some(body)) => {
            out.push("--data-raw".into());
            out.push(sh(body));
        }
        _ => {}
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use crate::client::{Auth, Credentials, Encoding, Request, RequestRecord};
    use crate::contract::Endpoint;

    fn record(req: Request) -> RequestRecord {
        RequestRecord::build("http://127.0.0.1:8000", &req)
    }

    #[test]
    fn curl_commands() {
        let c = Credentials::new("key1", "s3cr3t");
        let login = record(Request::login("alice@example.com", "Passw0rd!"));
        let get = record(
            Request::to(Endpoint::GetMessages)
                .token(&c)
                .param("chat", "CHAT-1")
                .param("after", "2024-01-01 10:00:00.000001"),
        );
        let send = record(
            Request::to(Endpoint::SendMessage)
                .token(&c)
                .param("chat", "CHAT-1")
                .param("content", "it's & <b>"),
        );
        let json = record(
            Request::to(Endpoint::Login)
                .method(http::Method::POST, Encoding::Json)
                .param("usr", "a")
                .param("pwd", "p"),
        );
        let options = record(
            Request::to(Endpoint::GetChats)
                .method(http::Method::OPTIONS, Encoding::Query)
                .auth(Auth::Raw("token nocolon".into()))
                .header("Origin", "http://localhost:3000"),
        );
        let rendered: Vec<String> = [&login, &get, &send, &json, &options]
            .iter()
            .map(|r| super::render(r, false))
            .collect();
        insta::assert_yaml_snapshot!(rendered);
        assert!(super::render(&get, true).contains("key1:s3cr3t"));
        assert!(!rendered
            .iter()
            .any(|r| r.contains("s3cr3t") || r.contains("Passw0rd")));
    }
}
