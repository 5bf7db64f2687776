//! login, signup and get_users: the accounts the server knows.

use serde::Serialize;

use crate::reference::defect::Defect;
use crate::reference::error::ApiError;
use crate::reference::limiter::Subject;
use crate::reference::params::RequestParams;
use crate::reference::pipeline::Inner;
use crate::reference::state::{envelope, Caller};

#[derive(Serialize)]
struct LoginOut<'a> {
    message: &'a str,
    api_key: &'a str,
    api_secret: &'a str,
    full_name: &'a str,
    email: &'a str,
}

#[derive(Serialize)]
struct UserOut<'a> {
    name: &'a str,
    full_name: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_secret: Option<&'a str>,
}

impl Inner {
    pub(crate) fn login(&self, p: &RequestParams) -> Result<Vec<u8>, ApiError> {
        let usr = p.required("usr")?;
        let pwd = p.required("pwd")?;
        let id = {
            let users = self.state.users();
            match users.by_email(usr) {
                Some(u) if u.password == pwd || self.has(Defect::WrongPasswordAccepted) => u.id,
                _ => return Err(ApiError::authentication("Invalid login credentials")),
            }
        };
        if self.has(Defect::RotateOnLogin) {
            self.state.users_mut().rotate(id);
        }
        if self.has(Defect::LoginResetsWindow) {
            self.limiter.clear(Subject::User(id));
        }
        let users = self.state.users();
        let u = users
            .get(id)
            .ok_or_else(|| ApiError::internal("user vanished"))?;
        let secret = if self.has(Defect::LoginNoSecret) {
            ""
        } else {
            &u.api_secret
        };
        envelope(&LoginOut {
            message: "Logged In",
            api_key: &u.api_key,
            api_secret: secret,
            full_name: &u.full_name,
            email: &u.email,
        })
    }

    pub(crate) fn signup(&self, p: &RequestParams) -> Result<Vec<u8>, ApiError> {
        let email = p.required("email")?.trim();
        let password = p.required("password")?;
        let full_name = p.required("full_name")?;
        let valid_email = email.len() <= 140
            && !email.chars().any(char::is_whitespace)
            && email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
        if !valid_email {
            return Err(ApiError::validation(format!(
                "{email} is not a valid e-mail address"
            )));
        }
        if password.chars().count() < 8 {
            return Err(ApiError::validation(
                "The password is too weak: use at least 8 characters",
            ));
        }
        let mut users = self.state.users_mut();
        if let Some(existing) = users.by_email(email).map(|u| u.id) {
            if !self.has(Defect::DuplicateSignupOverwrites) {
                return Err(ApiError::duplicate(format!("User {email} already exists")));
            }
            users.overwrite(existing, password, full_name);
        } else {
            users.add(email, password, full_name);
        }
        let u = users
            .by_email(email)
            .ok_or_else(|| ApiError::internal("user vanished"))?;
        envelope(&LoginOut {
            message: "User Created",
            api_key: &u.api_key,
            api_secret: &u.api_secret,
            full_name: &u.full_name,
            email: &u.email,
        })
    }

    pub(crate) fn get_users(&self, caller: &Caller) -> Result<Vec<u8>, ApiError> {
        let users = self.state.users();
        let leak = self.has(Defect::UsersLeakSecret);
        let include_caller = self.has(Defect::UsersIncludeCaller);
        let mut out: Vec<UserOut> = users
            .list
            .iter()
            .filter(|u| include_caller || Some(u.id) != caller.id)
            .map(|u| UserOut {
                name: &u.email,
                full_name: &u.full_name,
                email: &u.email,
                api_key: leak.then_some(u.api_key.as_str()),
                api_secret: leak.then_some(u.api_secret.as_str()),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(b.name));
        envelope(&out)
    }
}
