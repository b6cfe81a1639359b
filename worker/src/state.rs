//! The worker's persistent identity: a small JSON file holding the device id, the display
//! name and, once admitted, the swarm and the credential to rejoin it: a worker's resume
//! credential, or the master key of a swarm this device created.

use std::io::Write;
use std::path::{Path, PathBuf};

use ostrich_protocol::{JoinCredential, SwarmId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What survives between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerState {
    /// The device id, created once so the coordinator sees the same device across runs.
    pub device_id: Uuid,
    /// The display name last used.
    pub name: String,
    /// The coordinator endpoint the resume credential belongs to.
    #[serde(default)]
    pub coordinator: Option<String>,
    /// The swarm last joined, for the log.
    #[serde(default)]
    pub swarm_id: Option<SwarmId>,
    /// The invite code the swarm was joined with; a different code means a new swarm is
    /// wanted, so the stored credential is not used for it.
    #[serde(default)]
    pub invite_token: Option<String>,
    /// The secret that rejoins the swarm without an invite.
    #[serde(default)]
    pub resume_credential: Option<String>,
    /// The master key of the swarm this device created (`--new-swarm`) or was given
    /// (`--master-key`); it resumes mastership and opens the HTTP API. It is kept until the
    /// user deletes it, since losing it loses control of the swarm.
    #[serde(default)]
    pub master_key: Option<String>,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written.
    #[error("cannot access state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a worker state document.
    #[error("state file {path} is not valid: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

impl WorkerState {
    /// A fresh identity with a random device id and nothing joined yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            device_id: Uuid::new_v4(),
            name: name.into(),
            coordinator: None,
            swarm_id: None,
            invite_token: None,
            resume_credential: None,
            master_key: None,
        }
    }

    /// Reads the state; `Ok(None)` when the file does not exist yet.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io { path: path.to_owned(), source });
            }
        };
        serde_json::from_str(&text).map(Some).map_err(|source| StateError::Json { path: path.to_owned(), source })
    }

    /// Reads the state, or creates and saves a fresh one named `name` so the device id is
    /// stable from the first run on.
    pub fn load_or_create(path: &Path, name: &str) -> Result<Self, StateError> {
        if let Some(state) = Self::load(path)? {
            return Ok(state);
        }
        let state = Self::new(name);
        state.save(path)?;
        Ok(state)
    }

    /// Writes the state atomically (a temporary file renamed over the old one), readable by
    /// the owner only on Unix since it holds a credential.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io { path: path.to_owned(), source };
        let json =
            serde_json::to_string_pretty(self).map_err(|source| StateError::Json { path: path.to_owned(), source })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io)?;
        // A temporary file left behind by a crash keeps its old mode; tighten it anyway.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(io)?;
        file.write_all(json.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The stored resume credential when it was obtained from `coordinator` with the invite
    /// `invite` (`None` when the caller has no invite and wants whatever is stored there).
    pub fn resume_for(&self, coordinator: &str, invite: Option<&str>) -> Option<&str> {
        let same_place = self.coordinator.as_deref() == Some(coordinator);
        let same_invite = invite.is_none() || self.invite_token.as_deref() == invite;
        self.resume_credential.as_deref().filter(|_| same_place && same_invite)
    }

    /// What a run without an invite or a new swarm rejoins with: mastership when the file
    /// holds a master key, else the worker's resume credential; `None` when it holds neither.
    pub fn stored_credential(&self) -> Option<JoinCredential> {
        match (&self.master_key, &self.resume_credential) {
            (Some(key), _) => Some(JoinCredential::Master { key: Some(key.clone()) }),
            (None, Some(credential)) => Some(JoinCredential::Resume { credential: credential.clone() }),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path under the temp dir that no other test or run uses; removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new() -> Self {
            let name = format!("ostrich-worker-state-{}-{}.json", std::process::id(), Uuid::new_v4());
            Self(std::env::temp_dir().join(name))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn state_round_trips_through_the_file() {
        let path = TempPath::new();
        let state = WorkerState {
            coordinator: Some("ws://h:1/ws".into()),
            swarm_id: Some(Uuid::from_u128(5)),
            invite_token: Some("ABCD1234".into()),
            resume_credential: Some("secret".into()),
            master_key: Some("key".into()),
            ..WorkerState::new("box")
        };
        state.save(&path.0).expect("save");
        assert_eq!(WorkerState::load(&path.0).expect("load"), Some(state));
    }

    #[cfg(unix)]
    #[test]
    fn file_is_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = TempPath::new();
        WorkerState::new("box").save(&path.0).expect("save");
        let mode = std::fs::metadata(&path.0).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_file_without_a_master_key_still_loads() {
        let path = TempPath::new();
        let id = Uuid::from_u128(3);
        std::fs::write(&path.0, format!(r#"{{"device_id":"{id}","name":"old"}}"#)).expect("write");
        let state = WorkerState::load(&path.0).expect("load").expect("present");
        assert_eq!((state.device_id, state.master_key), (id, None));
    }

    #[test]
    fn stored_master_key_wins_over_the_resume_credential() {
        let mut state = WorkerState { resume_credential: Some("secret".into()), ..WorkerState::new("box") };
        assert_eq!(state.stored_credential(), Some(JoinCredential::Resume { credential: "secret".into() }));
        state.master_key = Some("key".into());
        assert_eq!(state.stored_credential(), Some(JoinCredential::Master { key: Some("key".into()) }));
        assert_eq!(WorkerState::new("box").stored_credential(), None);
    }

    #[test]
    fn device_id_is_created_once_and_then_stable() {
        let path = TempPath::new();
        assert_eq!(WorkerState::load(&path.0).expect("load"), None);
        let first = WorkerState::load_or_create(&path.0, "a").expect("create");
        let second = WorkerState::load_or_create(&path.0, "b").expect("reload");
        assert_eq!(first.device_id, second.device_id);
        assert_eq!(second.name, "a");
    }

    #[test]
    fn resume_is_used_only_for_the_same_coordinator_and_invite() {
        let state = WorkerState {
            coordinator: Some("ws://h:1/ws".into()),
            invite_token: Some("ABCD1234".into()),
            resume_credential: Some("secret".into()),
            ..WorkerState::new("box")
        };
        assert_eq!(state.resume_for("ws://h:1/ws", Some("ABCD1234")), Some("secret"));
        assert_eq!(state.resume_for("ws://h:1/ws", None), Some("secret"));
        assert_eq!(state.resume_for("ws://h:1/ws", Some("ZZZZ9999")), None);
        assert_eq!(state.resume_for("ws://other:1/ws", Some("ABCD1234")), None);
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let path = TempPath::new();
        std::fs::write(&path.0, "not json").expect("write");
        let err = WorkerState::load(&path.0).expect_err("must fail");
        assert!(err.to_string().contains("is not valid"), "{err}");
    }
}
