//! Accounts to act as: given on the command line (`--user EMAIL:PASSWORD`) or
//! in a TOML file (`fixtures/accounts.example.toml`), optionally with a known
//! api_key/api_secret so that no login is spent on them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::Credentials;

/// One user the harness may act as.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_secret: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The known token pair, if the file gave one.
    pub fn credentials(&self) -> Option<Credentials> {
        Some(Credentials::new(
            self.api_key.clone()?,
            self.api_secret.clone()?,
        ))
    }

    /// Parses `EMAIL:PASSWORD[:FULL NAME]`. The e-mail has no colon; the
    /// password is everything up to the next colon.
    pub fn parse_user_arg(s: &str) -> Result<Account, String> {
        let mut parts = s.splitn(3, ':');
        let email = parts.next().unwrap_or_default().trim();
        let password = parts.next();
        let full_name = parts.next();
        if email.is_empty() || !email.contains('@') {
            return Err(format!(
                "{s:?}: expected EMAIL:PASSWORD, and {email:?} is not an e-mail address"
            ));
        }
        let Some(password) = password.filter(|p| !p.is_empty()) else {
            return Err(format!(
                "{email}: expected EMAIL:PASSWORD, the password is missing"
            ));
        };
        Ok(Account {
            email: email.to_owned(),
            password: Some(password.to_owned()),
            full_name: full_name.map(str::to_owned),
            api_key: None,
            api_secret: None,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    account: Vec<Account>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Unreadable or malformed (file, line and what).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error("cannot write accounts file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl AccountsError {
    /// Always a usage error: the accounts the user gave are wrong.
    pub fn exit_code(&self) -> u8 {
        crate::error::exit_code::USAGE
    }
}

pub fn load(path: &Path) -> Result<Vec<Account>, AccountsError> {
    let text = crate::input::read(path, "accounts file")?;
    parse(&text, &path.display().to_string())
}

pub fn parse(text: &str, file: &str) -> Result<Vec<Account>, AccountsError> {
    use crate::input::InputError;
    let invalid = |offset: usize, message: String| {
        AccountsError::from(InputError::at(text, file, offset, message))
    };
    let parsed: File = crate::input::from_toml(text, file)?;
    // Semantic checks: point at the n-th [[account]] header.
    let headers: Vec<usize> = text.match_indices("[[account]]").map(|(i, _)| i).collect();
    for (i, a) in parsed.account.iter().enumerate() {
        let at = headers.get(i).copied().unwrap_or(0);
        if !a.email.contains('@') {
            return Err(invalid(
                at,
                format!(
                    "account #{}: email {:?} is not an e-mail address",
                    i + 1,
                    a.email
                ),
            ));
        }
        if a.api_key.is_some() != a.api_secret.is_some() {
            return Err(invalid(
                at,
                format!(
                    "account #{} ({}): api_key and api_secret go together",
                    i + 1,
                    a.email
                ),
            ));
        }
        if a.password.is_none() && a.api_key.is_none() {
            return Err(invalid(
                at,
                format!(
                    "account #{} ({}): needs a password or an api_key/api_secret pair",
                    i + 1,
                    a.email
                ),
            ));
        }
    }
    Ok(parsed.account)
}

/// Writes accounts (tokens included) readable by the owner only.
pub fn save(path: &Path, accounts: &[Account]) -> Result<(), AccountsError> {
    let write = |source| AccountsError::Write {
        path: path.to_owned(),
        source,
    };
    let text = toml::to_string(&File {
        account: accounts.to_vec(),
    })
    .map_err(|e| write(std::io::Error::other(e)))?;
    let text = format!("# Accounts with their tokens: keep private (mode 0600).\n{text}");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    use std::io::Write;
    let mut f = opts.open(path).map_err(write)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(write)?;
    f.write_all(text.as_bytes()).map_err(write)
}

/// The account's token: the known pair, or a login (spends login quota).
pub async fn sign_in(
    client: &crate::client::Client,
    account: &Account,
) -> Result<Credentials, crate::client::ClientError> {
    if let Some(c) = account.credentials() {
        return Ok(c);
    }
    let pwd = account.password.as_deref().unwrap_or_default();
    let r = client.login(&account.email, pwd).await?;
    Ok(Credentials::from(&r.value))
}

/// Logs `email` in, waiting out a refusal of the login quota: logins are
/// counted per client address, and an earlier run from this machine (a
/// `check` spends the whole bucket) may have spent it. Waits what the
/// refusal names (`Retry-After`, else the reset, at most `window_seconds`
/// plus one), says so on stderr unless `quiet`, and tries again, at most
/// twice; any other failure, or a third refusal, is returned.
pub async fn log_in_waiting(
    client: &crate::client::Client,
    email: &str,
    password: &str,
    window_seconds: u64,
    quiet: bool,
) -> Result<crate::client::Typed<crate::contract::wire::LoginResult>, crate::client::ClientError> {
    let mut waits = 0;
    loop {
        let answer = client.login(email, password).await;
        let refusal = match &answer {
            Err(crate::client::ClientError::Api { exchange, .. }) if waits < 2 => {
                exchange.refusal()
            }
            _ => None,
        };
        let Some(refusal) = refusal else {
            return answer;
        };
        let wait = refusal.wait_seconds(window_seconds);
        if !quiet {
            eprintln!(
                "waiting {wait} s for login quota: the login of {email} was refused (HTTP {}); logins are counted per address, and an earlier run may have spent them",
                refusal.status
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        waits += 1;
    }
}

/// The accounts named by `--user` flags and an `--accounts` file, in that order.
pub fn from_args(users: &[String], file: Option<&Path>) -> anyhow::Result<Vec<Account>> {
    let mut out = Vec::new();
    for u in users {
        out.push(
            Account::parse_user_arg(u)
                .map_err(|e| crate::error::UsageError(format!("--user {e}")))?,
        );
    }
    if let Some(f) = file {
        out.extend(load(f)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_example_file() {
        let text = include_str!("../fixtures/accounts.example.toml");
        let accounts = parse(text, "accounts.example.toml").unwrap();
        assert_eq!(accounts.len(), 4);
        assert!(accounts[3].credentials().is_some());
    }

    #[test]
    fn errors_name_the_line() {
        let text = "[[account]]\nemail = \"a@x\"\npassword = \"p\"\n\n[[account]]\nemail = \"nope\"\npassword = \"p\"\n";
        let err = parse(text, "f.toml").unwrap_err().to_string();
        assert!(err.starts_with("f.toml:5:1: account #2"), "{err}");
        let err = parse("[[account]]\nemail = \"a@x\"\npasword = \"p\"\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("f.toml:3:1: account[0].pasword: unknown field `pasword`"),
            "{err}"
        );
        let err = parse("[[account]]\nemail = \"a@x\"\napi_key = \"k\"\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("go together"), "{err}");
    }

    #[test]
    fn user_args() {
        let a = Account::parse_user_arg("bob@example.com:pa:ss:Bob B").unwrap();
        assert_eq!(a.password.as_deref(), Some("pa"));
        assert_eq!(a.full_name.as_deref(), Some("ss:Bob B"));
        assert!(Account::parse_user_arg("bob").is_err());
        assert!(Account::parse_user_arg("bob@x:").is_err());
        assert!(!format!("{a:?}").contains("pa\""));
    }

    #[test]
    fn save_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acc.toml");
        let accounts = vec![Account {
            email: "a@x".into(),
            password: None,
            full_name: None,
            api_key: Some("k".into()),
            api_secret: Some("s".into()),
        }];
        save(&path, &accounts).unwrap();
        assert_eq!(load(&path).unwrap(), accounts);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
