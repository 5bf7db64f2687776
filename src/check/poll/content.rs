//! POLL-1, POLL-1b and POLL-1c: what is sent comes back byte for byte
//! (Unicode, quotes, CR/LF, 10,000 characters, HTML-like text), and empty
//! content is refused.

use std::collections::BTreeMap;

use crate::check::context::Ctx;
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::Request;
use crate::contract::Endpoint;

pub(super) async fn content_exact(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let long: String = "0123456789".repeat(1000);
    let cases: Vec<(&str, String)> = vec![
        ("Unicode", "héllo wörld — 你好 — Ωμέγα ✓".into()),
        ("emoji", "emoji 😀👍🏽🇫🇷 done".into()),
        ("quotes", r#"double " single ' back ` \ backslash"#.into()),
        (
            "SQL",
            "'; DROP TABLE tabMessage; -- 1=1 OR \"\"=\"\"".into(),
        ),
        ("URL metacharacters", "a+b&c=d%20e#f?g".into()),
        ("CR/LF/tab", "line1\r\nline2\nline3\ttabbed".into()),
        ("leading and trailing spaces", "   padded   ".into()),
        ("10,000 characters", long),
    ];
    let mut sent_names = BTreeMap::new();
    for (what, content) in &cases {
        let (m, ex) = cx
            .post(&cx.a, &chat, content)
            .await
            .step(&format!("sending {what}"))?;
        if m.content != *content || m.sender != cx.a.email {
            return Err(
                Verdict::fail(format!("send_message changed the {what} message"))
                    .expected(format!(
                        "sender {}, content {:?}",
                        cx.a.email,
                        excerpt(content)
                    ))
                    .seen(format!(
                        "sender {}, content {:?}",
                        m.sender,
                        excerpt(&m.content)
                    ))
                    .with(&ex),
            );
        }
        sent_names.insert(m.name.clone(), (*what, content.clone()));
    }
    let (msgs, ex) = cx
        .messages(&cx.b, &chat, None, Some(50))
        .await
        .step("reading back")?;
    for (name, (what, content)) in &sent_names {
        match msgs.iter().find(|m| &m.name == name) {
            Some(m) if &m.content == content => {}
            Some(m) => {
                return Err(Verdict::fail(format!(
                    "get_messages returns the {what} message changed"
                ))
                .expected(format!("{:?}", excerpt(content)))
                .seen(format!("{:?}", excerpt(&m.content)))
                .with(&ex))
            }
            None => {
                return Err(Verdict::fail(format!(
                    "the {what} message is missing from get_messages"
                ))
                .expected(format!("message {name}"))
                .seen(format!("{} messages", msgs.len()))
                .with(&ex))
            }
        }
    }
    Ok(Verdict::pass(format!(
        "{} contents came back byte for byte",
        cases.len()
    )))
}

pub(super) fn excerpt(s: &str) -> String {
    if s.chars().count() > 60 {
        format!(
            "{}… ({} chars)",
            s.chars().take(60).collect::<String>(),
            s.chars().count()
        )
    } else {
        s.to_owned()
    }
}

pub(super) async fn html_exact(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let content = "<b>bold</b> & <script>alert('x')</script> 1 < 2 > 0";
    let (m, ex) = cx.post(&cx.a, &chat, content).await.step("sending")?;
    let (msgs, got) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading back")?;
    let stored = msgs
        .iter()
        .find(|x| x.name == m.name)
        .map(|x| x.content.clone());
    if m.content != content || stored.as_deref() != Some(content) {
        return Err(Verdict::fail("HTML-like content was changed")
            .expected(format!("{content:?}"))
            .seen(format!("answered {:?}, stored {:?}", m.content, stored))
            .with(&ex)
            .with(&got));
    }
    Ok(Verdict::pass("HTML-like content kept byte for byte"))
}

pub(super) async fn empty_refused(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let ex = cx
        .send(
            &Request::to(Endpoint::SendMessage)
                .token(&cx.a.creds)
                .param("chat", &chat)
                .param("content", ""),
        )
        .await?;
    let (msgs, got) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading back")?;
    if !(400..500).contains(&ex.status) || !msgs.is_empty() {
        return Err(Verdict::fail("empty content was not refused")
            .expected("a 4xx and nothing stored")
            .seen(format!("{}; {} messages stored", describe(&ex), msgs.len()))
            .with(&ex)
            .with(&got));
    }
    Ok(Verdict::pass(format!("refused with {}", ex.status)))
}
