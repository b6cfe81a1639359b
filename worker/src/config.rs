//! What a worker is told to do: where the coordinator is, how to join, and how much of the
//! machine to use; plus the parser that turns an invite link or code into those figures.

use std::path::PathBuf;

use ostrich_protocol::JoinCredential;
use uuid::Uuid;

/// Length of an invite code once dashes and spaces are dropped.
pub const CODE_LEN: usize = 8;

/// Everything a worker needs to join a swarm and compute for it.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The coordinator's WebSocket endpoint, `ws://host:port/ws` (see [`coordinator_url`]).
    pub coordinator: String,
    /// How to join: normally [`JoinCredential::Invite`]; a stored resume credential from
    /// [`state_file`](Self::state_file) takes precedence when it belongs to the same invite.
    /// [`JoinCredential::Master`] creates a swarm (`key: None`) or resumes mastership; once a
    /// welcome grants a key, every reconnect presents it.
    pub credential: JoinCredential,
    /// The device's stable identity; the coordinator replaces an older session with the same id.
    pub device_id: Uuid,
    /// Display name in the master's device table.
    pub name: String,
    /// Compute threads at 100 % throttle; also reported as the device's logical cores.
    pub cores: u32,
    /// Where the identity and the resume credential are kept between runs; `None` keeps them
    /// in memory only (tests, simulators).
    pub state_file: Option<PathBuf>,
    /// Reconnect with exponential backoff when the connection drops; otherwise the first
    /// loss ends the worker with an error.
    pub reconnect: bool,
    /// A fixed benchmark score to report instead of measuring one; simulators and tests use
    /// it to skip the benchmark. `None` measures it once per process.
    pub ops_score: Option<u32>,
    /// A PEM certificate to trust for `wss://` besides the public roots: the coordinator's
    /// generated `tls/cert.pem` on a LAN.
    pub ca_cert: Option<PathBuf>,
}

impl WorkerConfig {
    /// A config with a fresh random device id, this host's name, every logical core, no state
    /// file, reconnection on, and a measured benchmark.
    pub fn new(coordinator: impl Into<String>, credential: JoinCredential) -> Self {
        Self {
            coordinator: coordinator.into(),
            credential,
            device_id: Uuid::new_v4(),
            name: default_name(),
            cores: crate::capabilities::logical_cores(),
            state_file: None,
            reconnect: true,
            ops_score: None,
            ca_cert: None,
        }
    }

    /// The invite code of [`credential`](Self::credential), if it is an invite.
    pub fn invite_token(&self) -> Option<&str> {
        match &self.credential {
            JoinCredential::Invite { token } => Some(token),
            _ => None,
        }
    }
}

/// The host name when the system reveals it, else a generic name.
pub fn default_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "native worker".to_owned())
}

/// Why an invite link, code or coordinator address could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Nothing was given.
    #[error("the invite link or code is empty")]
    Empty,
    /// A bare code was given without saying where the coordinator is.
    #[error("a bare invite code needs the coordinator's address too (--coordinator http://host:port)")]
    MissingCoordinator,
    /// A link without a `token=` parameter.
    #[error("the link {0} carries no invite code (expected ...?token=ABCD1234)")]
    NoToken(String),
    /// The code is not 8 letters and digits.
    #[error("{0:?} is not an invite code: expected {CODE_LEN} letters and digits")]
    BadCode(String),
    /// The address is not an http(s) or ws(s) URL with a host.
    #[error("{0:?} is not a coordinator address: expected http://host:port or ws://host:port/ws")]
    BadUrl(String),
}

/// Turns what a user pastes into the coordinator's WebSocket URL and the invite code.
///
/// `input` is an invite link (`http://192.168.1.20:8080/join?token=ABCD1234`, giving
/// `ws://192.168.1.20:8080/ws`; https gives wss) or a bare code, which then needs
/// `coordinator`. An explicit `coordinator` wins over the link's own address, for links that
/// carry an address the worker cannot reach. Codes are trimmed, upper-cased, and stripped of
/// dashes and spaces.
pub fn parse_join(input: &str, coordinator: Option<&str>) -> Result<(String, String), JoinError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(JoinError::Empty);
    }
    let (link_url, raw_code) = if input.contains("://") {
        let code = query_param(input, "token")
            .filter(|code| !code.is_empty())
            .ok_or_else(|| JoinError::NoToken(input.to_owned()))?;
        (Some(coordinator_url(input)?), code)
    } else {
        (None, input)
    };
    let code = normalize_code(raw_code)?;
    let url = match coordinator {
        Some(explicit) => coordinator_url(explicit)?,
        None => link_url.ok_or(JoinError::MissingCoordinator)?,
    };
    Ok((url, code))
}

/// Normalises a typed code: trimmed, upper case, without dashes or spaces, and checked to be
/// [`CODE_LEN`] ASCII letters and digits.
pub fn normalize_code(raw: &str) -> Result<String, JoinError> {
    let code: String = raw.chars().filter(|c| !matches!(c, '-' | ' ' | '\t')).map(|c| c.to_ascii_uppercase()).collect();
    if code.len() == CODE_LEN && code.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(JoinError::BadCode(raw.trim().to_owned()))
    }
}

/// Turns a coordinator address into its WebSocket endpoint.
///
/// `http://host:port` (with or without a path such as `/join?token=…`) gives
/// `ws://host:port/ws`, `https` gives `wss`, and a bare `host:port` is taken as `ws`. A
/// `ws://` or `wss://` URL is kept with its path, or gets `/ws` when it has none.
pub fn coordinator_url(input: &str) -> Result<String, JoinError> {
    let bad = || JoinError::BadUrl(input.to_owned());
    let input = input.trim();
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), input),
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    if authority.is_empty() || authority.contains(char::is_whitespace) || authority.contains('@') {
        return Err(bad());
    }
    let path = tail.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
    match scheme.as_str() {
        "ws" | "wss" if !path.is_empty() => Ok(format!("{scheme}://{authority}{path}")),
        "ws" | "wss" => Ok(format!("{scheme}://{authority}/ws")),
        "http" => Ok(format!("ws://{authority}{}/ws", web_path_to_ws(path))),
        "https" => Ok(format!("wss://{authority}{}/ws", web_path_to_ws(path))),
        _ => Err(bad()),
    }
}

/// The base path of a web URL: a trailing `/join` page or `/ws` endpoint is dropped, so a
/// coordinator behind a path prefix keeps it.
fn web_path_to_ws(path: &str) -> &str {
    path.strip_suffix("/join").or_else(|| path.strip_suffix("/ws")).unwrap_or(path)
}

/// The value of `name=` in a URL's query string, undecoded (codes need no escaping).
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str, coordinator: Option<&str>) -> (String, String) {
        parse_join(input, coordinator).unwrap_or_else(|err| panic!("{input}: {err}"))
    }

    #[test]
    fn http_link_gives_ws_endpoint_and_code() {
        let got = ok("http://192.168.1.20:8080/join?token=ABCD1234", None);
        assert_eq!(got, ("ws://192.168.1.20:8080/ws".into(), "ABCD1234".into()));
    }

    #[test]
    fn https_link_gives_wss_and_keeps_path_prefix() {
        let got = ok("  https://swarm.example.org/ostrich/join?x=1&token=abcd-1234#top ", None);
        assert_eq!(got, ("wss://swarm.example.org/ostrich/ws".into(), "ABCD1234".into()));
    }

    #[test]
    fn bare_code_is_normalised_and_needs_a_coordinator() {
        let got = ok(" abcd-12 34 ", Some("http://10.0.0.5:8080"));
        assert_eq!(got, ("ws://10.0.0.5:8080/ws".into(), "ABCD1234".into()));
        assert_eq!(parse_join("ABCD1234", None), Err(JoinError::MissingCoordinator));
    }

    #[test]
    fn explicit_coordinator_wins_over_the_link_address() {
        let got = ok("http://172.17.0.2:8080/join?token=ABCD1234", Some("https://public.example:443/"));
        assert_eq!(got, ("wss://public.example:443/ws".into(), "ABCD1234".into()));
    }

    #[test]
    fn coordinator_forms_are_accepted() {
        for (input, want) in [
            ("http://h:1", "ws://h:1/ws"),
            ("http://h:1/", "ws://h:1/ws"),
            ("HTTPS://h:1/ws", "wss://h:1/ws"),
            ("h:1", "ws://h:1/ws"),
            ("ws://h:1", "ws://h:1/ws"),
            ("ws://h:1/ws", "ws://h:1/ws"),
            ("wss://h/custom/socket", "wss://h/custom/socket"),
            ("[::1]:8080", "ws://[::1]:8080/ws"),
        ] {
            assert_eq!(coordinator_url(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_a_reason() {
        assert_eq!(parse_join("   ", None), Err(JoinError::Empty));
        assert!(matches!(parse_join("http://h:1/join", None), Err(JoinError::NoToken(_))));
        assert!(matches!(parse_join("http://h:1/join?token=", None), Err(JoinError::NoToken(_))));
        assert!(matches!(parse_join("ABC123", Some("h:1")), Err(JoinError::BadCode(_))));
        assert!(matches!(parse_join("ABCD123!", Some("h:1")), Err(JoinError::BadCode(_))));
        assert!(matches!(parse_join("ftp://h/join?token=ABCD1234", None), Err(JoinError::BadUrl(_))));
        assert!(matches!(coordinator_url("http:///ws"), Err(JoinError::BadUrl(_))));
        assert!(matches!(coordinator_url("http://user@h:1"), Err(JoinError::BadUrl(_))));
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        let text = JoinError::MissingCoordinator.to_string();
        assert!(text.starts_with(char::is_lowercase) && !text.ends_with('.'), "{text}");
    }
}
