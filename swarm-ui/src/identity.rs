//! This browser's persistent identity, in localStorage: the device id (created once), its
//! display name (detected from the platform, editable), the master key, the worker's resume
//! credential with the invite code it came from, the role last granted and the kernel
//! preference. A reload reads them back and resumes the same role without a new invite.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use ostrich_protocol::{DeviceId, PowerPolicy, Role};
use uuid::Uuid;

use crate::compute::KernelPreference;
use crate::power::PolicyChoice;

const DEVICE_ID: &str = "ostrich.device_id";
const DEVICE_NAME: &str = "ostrich.device_name";
const MASTER_KEY: &str = "ostrich.master_key";
const RESUME_CREDENTIAL: &str = "ostrich.resume_credential";
const RESUME_TOKEN: &str = "ostrich.resume_token";
const ROLE: &str = "ostrich.role";
const KERNEL: &str = "ostrich.kernel";
const COMPUTE_HERE: &str = "ostrich.compute_here";
const WAKE_LOCK: &str = "ostrich.wake_lock";
const POWER_POLICY: &str = "ostrich.power_policy";

/// A string store: localStorage in the browser, a map in tests.
pub trait KeyValue {
    /// The value under `key`.
    fn get(&self, key: &str) -> Option<String>;
    /// Stores `value` under `key`; a store that refuses (private mode, quota) is ignored.
    fn set(&self, key: &str, value: &str);
    /// Removes `key`.
    fn remove(&self, key: &str);
}

/// The browser's localStorage; without one (native tests, storage disabled) nothing is kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStore;

impl LocalStore {
    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }
}

impl KeyValue for LocalStore {
    fn get(&self, key: &str) -> Option<String> {
        Self::storage()?.get_item(key).ok()?
    }

    fn set(&self, key: &str, value: &str) {
        if let Some(storage) = Self::storage() {
            let _ = storage.set_item(key, value);
        }
    }

    fn remove(&self, key: &str) {
        if let Some(storage) = Self::storage() {
            let _ = storage.remove_item(key);
        }
    }
}

/// An in-memory store, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Rc<RefCell<HashMap<String, String>>>);

impl KeyValue for MemoryStore {
    fn get(&self, key: &str) -> Option<String> {
        self.0.borrow().get(key).cloned()
    }

    fn set(&self, key: &str, value: &str) {
        self.0.borrow_mut().insert(key.into(), value.into());
    }

    fn remove(&self, key: &str) {
        self.0.borrow_mut().remove(key);
    }
}

/// A worker's way back into its swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The credential from the worker's welcome.
    pub credential: String,
    /// The invite code the worker joined with, so a reload of the same link resumes.
    pub token: Option<String>,
}

/// The identity, over a store.
#[derive(Debug, Clone, Default)]
pub struct Identity<S: KeyValue = LocalStore> {
    store: S,
}

impl Identity {
    /// The identity kept in this browser's localStorage.
    pub fn local() -> Self {
        Self { store: LocalStore }
    }
}

impl<S: KeyValue> Identity<S> {
    /// The identity kept in `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The device id, created (random, v4) and kept on first use.
    pub fn device_id(&self) -> DeviceId {
        if let Some(id) = self.store.get(DEVICE_ID).and_then(|s| Uuid::parse_str(&s).ok()) {
            return id;
        }
        let id = Uuid::new_v4();
        self.store.set(DEVICE_ID, &id.to_string());
        id
    }

    /// The display name, detected from the platform and kept on first use.
    pub fn device_name(&self, user_agent: &str) -> String {
        if let Some(name) = self.store.get(DEVICE_NAME).filter(|n| !n.trim().is_empty()) {
            return name;
        }
        let suffix = &Uuid::new_v4().simple().to_string()[..4];
        let name = format!("{} {suffix}", device_kind(user_agent));
        self.store.set(DEVICE_NAME, &name);
        name
    }

    /// Keeps a new display name, trimmed to at most 64 characters; an empty one is ignored.
    pub fn set_device_name(&self, name: &str) -> Option<String> {
        let name: String = name.trim().chars().take(64).collect();
        if name.is_empty() {
            return None;
        }
        self.store.set(DEVICE_NAME, &name);
        Some(name)
    }

    /// The master key, if this browser created or resumed a swarm.
    pub fn master_key(&self) -> Option<String> {
        self.store.get(MASTER_KEY).filter(|k| !k.is_empty())
    }

    /// Keeps the master key from a welcome.
    pub fn set_master_key(&self, key: &str) {
        self.store.set(MASTER_KEY, key);
    }

    /// Forgets a master key the coordinator no longer knows.
    pub fn clear_master_key(&self) {
        self.store.remove(MASTER_KEY);
    }

    /// The worker's resume credential, if any.
    pub fn resume(&self) -> Option<Resume> {
        let credential = self.store.get(RESUME_CREDENTIAL).filter(|c| !c.is_empty())?;
        Some(Resume { credential, token: self.store.get(RESUME_TOKEN).filter(|t| !t.is_empty()) })
    }

    /// Keeps a worker's resume credential and the code it joined with.
    pub fn set_resume(&self, resume: &Resume) {
        self.store.set(RESUME_CREDENTIAL, &resume.credential);
        match &resume.token {
            Some(token) => self.store.set(RESUME_TOKEN, token),
            None => self.store.remove(RESUME_TOKEN),
        }
    }

    /// Forgets the worker's credential (refused, or the user left).
    pub fn forget_resume(&self) {
        self.store.remove(RESUME_CREDENTIAL);
        self.store.remove(RESUME_TOKEN);
    }

    /// The role last granted.
    pub fn role(&self) -> Option<Role> {
        match self.store.get(ROLE).as_deref() {
            Some("master") => Some(Role::Master),
            Some("worker") => Some(Role::Worker),
            _ => None,
        }
    }

    /// Keeps the role granted, or forgets it.
    pub fn set_role(&self, role: Option<Role>) {
        match role {
            Some(Role::Master) => self.store.set(ROLE, "master"),
            Some(Role::Worker) => self.store.set(ROLE, "worker"),
            None => self.store.remove(ROLE),
        }
    }

    /// The kernel path the user asked for (`?kernel=cpu|gpu|auto`), kept across reloads.
    pub fn kernel_preference(&self) -> KernelPreference {
        self.store.get(KERNEL).map_or(KernelPreference::Auto, |value| KernelPreference::parse(&value))
    }

    /// Keeps the kernel preference; auto is the default and is not stored.
    pub fn set_kernel_preference(&self, preference: KernelPreference) {
        match preference {
            KernelPreference::Auto => self.store.remove(KERNEL),
            other => self.store.set(KERNEL, other.as_str()),
        }
    }

    /// Whether the master's own browser computes ("Compute here"); on unless turned off.
    pub fn compute_here(&self) -> bool {
        self.store.get(COMPUTE_HERE).as_deref() != Some("off")
    }

    /// Keeps the "Compute here" switch.
    pub fn set_compute_here(&self, on: bool) {
        if on { self.store.remove(COMPUTE_HERE) } else { self.store.set(COMPUTE_HERE, "off") }
    }

    /// Whether this device keeps its screen on while it computes; on unless turned off.
    pub fn wake_lock(&self) -> bool {
        self.store.get(WAKE_LOCK).as_deref() != Some("off")
    }

    /// This device's own power policy; `None` follows the swarm's.
    pub fn power_policy(&self) -> Option<PowerPolicy> {
        self.store.get(POWER_POLICY).and_then(|v| PolicyChoice::parse(&v)).and_then(PolicyChoice::policy)
    }

    /// Keeps this device's own power policy, or forgets it to follow the swarm's.
    pub fn set_power_policy(&self, choice: PolicyChoice) {
        match choice {
            PolicyChoice::Swarm => self.store.remove(POWER_POLICY),
            other => self.store.set(POWER_POLICY, &other.value()),
        }
    }

    /// Keeps the "Keep the screen on" switch.
    pub fn set_wake_lock(&self, on: bool) {
        if on { self.store.remove(WAKE_LOCK) } else { self.store.set(WAKE_LOCK, "off") }
    }
}

/// What kind of device a user agent describes, for its default name.
pub fn device_kind(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    if ua.contains("iphone") {
        "iPhone"
    } else if ua.contains("ipad") {
        "iPad"
    } else if ua.contains("android") {
        if ua.contains("mobile") { "Android phone" } else { "Android tablet" }
    } else if ua.contains("cros") {
        "Chromebook"
    } else if ua.contains("mac os") || ua.contains("macintosh") {
        "Mac"
    } else if ua.contains("windows") {
        "Windows PC"
    } else if ua.contains("linux") {
        "Linux PC"
    } else {
        "Browser"
    }
}

/// The platform a user agent describes, for the device table: operating system and browser.
pub fn platform(user_agent: &str) -> String {
    let ua = user_agent.to_ascii_lowercase();
    let os = if ua.contains("iphone") || ua.contains("ipad") {
        "iOS"
    } else if ua.contains("android") {
        "Android"
    } else if ua.contains("cros") {
        "ChromeOS"
    } else if ua.contains("mac os") || ua.contains("macintosh") {
        "macOS"
    } else if ua.contains("windows") {
        "Windows"
    } else if ua.contains("linux") {
        "Linux"
    } else {
        "Unknown OS"
    };
    let browser = if ua.contains("edg/") {
        "Edge"
    } else if ua.contains("firefox/") || ua.contains("fxios/") {
        "Firefox"
    } else if ua.contains("chrome/") || ua.contains("crios/") || ua.contains("chromium/") {
        "Chrome"
    } else if ua.contains("safari/") {
        "Safari"
    } else {
        "browser"
    };
    format!("{os} · {browser}")
}

#[cfg(test)]
mod tests;
