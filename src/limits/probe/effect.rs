//! Whether a refused request nonetheless had its effect: the message, chat
//! or user it would have created is looked for as another user sees it.

use std::time::{Duration, Instant};

use super::lane::Lane;
use crate::client::Credentials;
use crate::contract::Endpoint;

/// Whether a refused request nonetheless had its effect: the message, chat
/// or user it would have created exists. `None` where the endpoint creates
/// nothing or the look-up failed (then `Err` says why).
pub(crate) async fn refused_had_effect(
    lane: &Lane,
    observer: &str,
    tag: &str,
) -> Result<Option<bool>, String> {
    // The observer may be the user the login probe logs in at this very
    // moment: a 401 then means the pair was rotated by our own login, so
    // wait for the new pair to land and look again.
    for attempt in 0..3 {
        let creds = lane
            .pairs
            .get(observer)
            .map(|(c, _)| c)
            .ok_or_else(|| format!("no pair held for {observer}"))?;
        match look_for_effect(lane, observer, &creds, tag).await {
            Err((Some(401), _)) if attempt < 2 => {
                let until = Instant::now() + Duration::from_secs(10);
                tokio::time::sleep(Duration::from_millis(50)).await;
                while !lane.pairs.settled(observer) && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            r => return r.map_err(|(_, e)| e),
        }
    }
    Err(format!("{observer}'s pair was refused three times"))
}

async fn look_for_effect(
    lane: &Lane,
    observer_email: &str,
    observer: &Credentials,
    tag: &str,
) -> Result<Option<bool>, (Option<u16>, String)> {
    let c = &lane.client;
    let who = format!("user {observer_email}");
    match lane.endpoint {
        Endpoint::SendMessage => {
            let chat = lane.chat.as_deref().unwrap_or_default();
            let needle = format!("limits probe {tag}");
            let mut after: Option<String> = None;
            // Bounded paging: at most 50 pages of 100.
            for _ in 0..50 {
                lane.pairs.spent(&who, Endpoint::GetMessages);
                let page = c
                    .get_messages(observer, chat, after.as_deref(), Some(100))
                    .await
                    .map_err(|e| (e.status(), format!("cannot list the chat's messages: {e}")))?;
                if page.value.iter().any(|m| m.content == needle) {
                    return Ok(Some(true));
                }
                match page.value.last() {
                    Some(last) if page.value.len() == 100 => {
                        after = Some(last.creation.as_str().to_owned())
                    }
                    _ => return Ok(Some(false)),
                }
            }
            Err((
                None,
                "the chat has more than 5,000 messages; gave up looking".into(),
            ))
        }
        Endpoint::CreateChat => {
            lane.pairs.spent(&who, Endpoint::GetChats);
            let chats = c
                .get_chats(observer)
                .await
                .map_err(|e| (e.status(), format!("cannot list chats: {e}")))?;
            Ok(Some(
                chats
                    .value
                    .iter()
                    .any(|ch| ch.chat_name.as_deref() == Some(tag)),
            ))
        }
        Endpoint::Signup => {
            lane.pairs.spent(&who, Endpoint::GetUsers);
            let users = c
                .get_users(observer)
                .await
                .map_err(|e| (e.status(), format!("cannot list users: {e}")))?;
            let email = format!("{tag}@limits.example.com");
            Ok(Some(users.value.iter().any(|u| {
                u.name == email || u.email.as_deref() == Some(&email)
            })))
        }
        _ => Ok(None),
    }
}
