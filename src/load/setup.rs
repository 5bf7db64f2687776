//! The steps before the users start: the target (the embedded reference
//! server with enough seeded users, or `--target` with the accounts given),
//! then every account signed in and the plan's chats created.

use futures::StreamExt;

use super::config::LoadConfig;
use super::plan::Plan;
use crate::accounts::Account;
use crate::client::{Client, Credentials};
use crate::error::SetupError;
use crate::reference::ServerConfig;

/// The embedded server and what it seeded.
pub(super) struct LoadTarget {
    pub(super) url: String,
    pub(super) label: String,
    pub(super) accounts: Vec<Account>,
    pub(super) server: Option<crate::reference::RunningServer>,
}

pub(super) async fn start_target(cfg: &LoadConfig, users: usize) -> anyhow::Result<LoadTarget> {
    match &cfg.target {
        Some(url) => Ok(LoadTarget {
            url: url.trim_end_matches('/').to_owned(),
            label: url.clone(),
            accounts: cfg.accounts.clone(),
            server: None,
        }),
        None => {
            let mut sc = ServerConfig::default().with_generated_users(users);
            for d in &cfg.defects {
                sc = sc.with_defect(*d);
            }
            if cfg.unlimited {
                for e in crate::contract::Endpoint::ALL {
                    sc = sc.without_limit(e);
                }
            }
            let server = crate::reference::embedded(sc).await?;
            let mut accounts = server.core().accounts();
            // Generated users come after any seeded ones, in order.
            accounts.retain(|a| a.email.starts_with("load-"));
            accounts.sort_by(|a, b| a.email.cmp(&b.email));
            Ok(LoadTarget {
                url: server.url(),
                label: "embedded".into(),
                accounts,
                server: Some(server),
            })
        }
    }
}

/// Signs every account in (known tokens cost nothing) and creates the plan's chats.
pub(super) async fn set_up(
    client: &Client,
    accounts: &[Account],
    plan: &Plan,
    tag: &str,
) -> anyhow::Result<(Vec<Credentials>, Vec<String>)> {
    let creds: Vec<Result<Credentials, String>> =
        futures::stream::iter(accounts.iter().enumerate())
            .map(|(i, a)| async move {
                crate::accounts::sign_in(client, a)
                    .await
                    .map_err(|e| format!("account #{} ({}): {e}", i + 1, a.email))
            })
            .buffered(16)
            .collect()
            .await;
    let creds: Vec<Credentials> = creds
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(SetupError)?;
    let emails: Vec<&str> = accounts.iter().map(|a| a.email.as_str()).collect();
    let chats: Vec<Result<String, String>> = futures::stream::iter(plan.chats.iter().enumerate())
        .map(|(i, c)| {
            let creds = &creds;
            let emails = &emails;
            async move {
                let others: Vec<&str> = c
                    .members
                    .iter()
                    .filter(|&&m| m != c.creator)
                    .map(|&m| emails[m as usize])
                    .collect();
                let name = format!("lh-{tag}-{i}");
                client
                    .create_chat(&creds[c.creator as usize], &name, &others, c.kind.as_str())
                    .await
                    .map(|t| t.value)
                    .map_err(|e| {
                        let revoked = if e.status() == Some(401) {
                            format!(
                                "tokens stopped working: the token of {} was refused with 401; the server may rotate the secret at every login (AUTH-6): provision fresh tokens and do not log these users in elsewhere; ",
                                emails[c.creator as usize]
                            )
                        } else {
                            String::new()
                        };
                        format!(
                            "{revoked}creating chat #{i} ({} of {} users): {e}",
                            c.kind.as_str(),
                            c.members.len()
                        )
                    })
            }
        })
        .buffered(32)
        .collect()
        .await;
    let chat_ids: Vec<String> = chats
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(SetupError)?;
    Ok((creds, chat_ids))
}
