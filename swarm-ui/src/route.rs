//! Which page a URL asks for, and how this browser joins for it. No router crate: there are
//! three paths. `/join?token=T` joins as a worker (resuming when the stored credential came
//! from the same code), `/join` asks for a code, `/new` creates a swarm (or resumes the one
//! whose master key is stored), and `/` resumes a stored master key or worker role, or
//! else shows the landing page, which creates nothing until the user chooses.

use ostrich_protocol::{JoinCredential, Role};

use crate::identity::Resume;

/// The length of an invite code.
pub const CODE_LEN: usize = 8;

/// What the URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`: the dashboard, a stored worker role, or the landing page.
    Home,
    /// `/new`: create a swarm, as the landing page's "Create a swarm" asks.
    NewSwarm,
    /// `/join` without a code: the form.
    JoinForm,
    /// `/join?token=T`: join with this code.
    Join {
        /// The normalised code.
        token: String,
    },
}

/// Reads a path and query string (`?a=b&…`): the route and the `kernel` parameter, if any.
pub fn parse(path: &str, search: &str) -> (Route, Option<String>) {
    let mut token = None;
    let mut kernel = None;
    for pair in search.trim_start_matches('?').split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "token" | "code" => token = Some(normalize_code(value)).filter(|t| !t.is_empty()),
            "kernel" => kernel = Some(value.to_ascii_lowercase()).filter(|k| !k.is_empty()),
            _ => {}
        }
    }
    let route = match (path.trim_end_matches('/'), token) {
        ("/join", Some(token)) => Route::Join { token },
        ("/join", None) => Route::JoinForm,
        ("/new", _) => Route::NewSwarm,
        _ => Route::Home,
    };
    (route, kernel)
}

/// A code as typed: upper case, letters and digits only (dashes and spaces dropped).
pub fn normalize_code(input: &str) -> String {
    input.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

/// How this page joins.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// As master: with the stored key, or creating a swarm without one.
    Master {
        /// The stored master key.
        key: Option<String>,
    },
    /// As a worker.
    Worker {
        /// The credential for the next hello.
        credential: JoinCredential,
        /// The invite code involved, to fall back on if a resume credential is refused.
        token: Option<String>,
    },
    /// Not yet: the join form asks for a code.
    AskForCode,
    /// Nothing yet: the landing page offers to create a swarm or to join one.
    Landing,
}

/// The plan for a route, given what this browser stored.
pub fn plan(route: &Route, role: Option<Role>, resume: Option<&Resume>, master_key: Option<String>) -> Plan {
    match route {
        Route::Join { token } => match resume {
            Some(resume) if resume.token.as_deref() == Some(token.as_str()) => Plan::Worker {
                credential: JoinCredential::Resume { credential: resume.credential.clone() },
                token: Some(token.clone()),
            },
            _ => {
                Plan::Worker { credential: JoinCredential::Invite { token: token.clone() }, token: Some(token.clone()) }
            }
        },
        Route::JoinForm => Plan::AskForCode,
        Route::NewSwarm => Plan::Master { key: master_key },
        Route::Home => match (role, resume, master_key) {
            (Some(Role::Worker), Some(resume), _) => Plan::Worker {
                credential: JoinCredential::Resume { credential: resume.credential.clone() },
                token: resume.token.clone(),
            },
            (_, _, Some(key)) => Plan::Master { key: Some(key) },
            (_, _, None) => Plan::Landing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume(token: &str) -> Resume {
        Resume { credential: "cred".into(), token: Some(token.into()) }
    }

    #[test]
    fn paths_and_queries_are_read() {
        assert_eq!(parse("/", ""), (Route::Home, None));
        assert_eq!(parse("/join", ""), (Route::JoinForm, None));
        assert_eq!(parse("/join/", "?token="), (Route::JoinForm, None));
        assert_eq!(
            parse("/join", "?token=k3m9-qx2b&kernel=CPU"),
            (Route::Join { token: "K3M9QX2B".into() }, Some("cpu".into()))
        );
        assert_eq!(parse("/", "?kernel=cpu"), (Route::Home, Some("cpu".into())));
        assert_eq!(parse("/new", ""), (Route::NewSwarm, None));
    }

    #[test]
    fn codes_are_normalised_as_typed() {
        assert_eq!(normalize_code(" zzzz-zzzz "), "ZZZZZZZZ");
        assert_eq!(normalize_code("k3m9 qx2b"), "K3M9QX2B");
    }

    #[test]
    fn a_link_resumes_when_the_stored_credential_came_from_the_same_code() {
        let route = Route::Join { token: "AAAA1111".into() };
        let same = plan(&route, Some(Role::Worker), Some(&resume("AAAA1111")), None);
        let resumed = JoinCredential::Resume { credential: "cred".into() };
        assert_eq!(same, Plan::Worker { credential: resumed, token: Some("AAAA1111".into()) });
        let other = plan(&route, Some(Role::Worker), Some(&resume("BBBB2222")), None);
        let invited = JoinCredential::Invite { token: "AAAA1111".into() };
        assert_eq!(other, Plan::Worker { credential: invited, token: Some("AAAA1111".into()) });
    }

    #[test]
    fn home_resumes_a_stored_role_and_creates_nothing_without_one() {
        let worker = plan(&Route::Home, Some(Role::Worker), Some(&resume("AAAA1111")), Some("key".into()));
        assert!(matches!(worker, Plan::Worker { credential: JoinCredential::Resume { .. }, .. }));
        let master = plan(&Route::Home, Some(Role::Master), None, Some("key".into()));
        assert_eq!(master, Plan::Master { key: Some("key".into()) });
        assert_eq!(plan(&Route::Home, None, None, None), Plan::Landing, "a first visit creates no swarm");
        assert_eq!(plan(&Route::Home, Some(Role::Worker), None, None), Plan::Landing, "a worker that left");
        assert_eq!(plan(&Route::JoinForm, None, None, None), Plan::AskForCode);
    }

    #[test]
    fn only_new_creates_a_swarm_and_it_resumes_a_stored_key() {
        assert_eq!(plan(&Route::NewSwarm, None, None, None), Plan::Master { key: None });
        assert_eq!(plan(&Route::NewSwarm, None, None, Some("key".into())), Plan::Master { key: Some("key".into()) });
    }
}
