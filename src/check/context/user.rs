//! A user the suite acts as: its e-mail, its password when the suite may
//! log it in again, and the api_key/api_secret pair it signs requests with.

use crate::client::Credentials;

/// A user the suite acts as, logged in once.
#[derive(Clone)]
pub(crate) struct SignedIn {
    pub(crate) email: String,
    pub(crate) password: Option<String>,
    pub(crate) creds: Credentials,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignedIn({})", self.email)
    }
}
