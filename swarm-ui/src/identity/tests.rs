use super::*;

const ANDROID: &str =
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 Edg/124.0";
const LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";

#[test]
fn device_kinds_are_named_from_the_user_agent() {
    assert_eq!(device_kind(ANDROID), "Android phone");
    assert_eq!(device_kind(IPHONE), "iPhone");
    assert_eq!(device_kind(MAC), "Mac");
    assert_eq!(device_kind(WINDOWS), "Windows PC");
    assert_eq!(device_kind(LINUX), "Linux PC");
    assert_eq!(device_kind(""), "Browser");
}

#[test]
fn platforms_name_the_system_and_the_browser() {
    assert_eq!(platform(ANDROID), "Android · Chrome");
    assert_eq!(platform(IPHONE), "iOS · Safari");
    assert_eq!(platform(MAC), "macOS · Safari");
    assert_eq!(platform(WINDOWS), "Windows · Edge");
    assert_eq!(platform(LINUX), "Linux · Chrome");
    assert_eq!(platform(FIREFOX), "Linux · Firefox");
}

#[test]
fn the_device_id_and_name_are_created_once_and_kept() {
    let identity = Identity::new(MemoryStore::default());
    let id = identity.device_id();
    assert_eq!(identity.device_id(), id);
    assert_eq!(id.get_version_num(), 4);
    let name = identity.device_name(ANDROID);
    assert!(name.starts_with("Android phone ") && name.len() == "Android phone ".len() + 4, "{name}");
    assert_eq!(identity.device_name(LINUX), name, "the detected name is kept");
    assert_eq!(identity.set_device_name("  Kitchen tablet "), Some("Kitchen tablet".into()));
    assert_eq!(identity.device_name(ANDROID), "Kitchen tablet");
    assert_eq!(identity.set_device_name("   "), None, "an empty name is refused");
}

#[test]
fn credentials_and_role_survive_a_reload_and_can_be_forgotten() {
    let store = MemoryStore::default();
    let identity = Identity::new(store.clone());
    identity.set_master_key("k");
    identity.set_resume(&Resume { credential: "c".into(), token: Some("K3M9QX2B".into()) });
    identity.set_role(Some(Role::Worker));
    let reloaded = Identity::new(store);
    assert_eq!(reloaded.master_key().as_deref(), Some("k"));
    assert_eq!(reloaded.resume(), Some(Resume { credential: "c".into(), token: Some("K3M9QX2B".into()) }));
    assert_eq!(reloaded.role(), Some(Role::Worker));
    reloaded.forget_resume();
    reloaded.clear_master_key();
    reloaded.set_role(None);
    assert_eq!((reloaded.resume(), reloaded.master_key(), reloaded.role()), (None, None, None));
}

#[test]
fn the_kernel_preference_and_the_switches_are_kept() {
    use crate::compute::KernelPreference;
    let identity = Identity::new(MemoryStore::default());
    assert_eq!(identity.kernel_preference(), KernelPreference::Auto);
    identity.set_kernel_preference(KernelPreference::parse("CPU"));
    assert_eq!(identity.kernel_preference(), KernelPreference::Cpu);
    identity.set_kernel_preference(KernelPreference::Gpu);
    assert_eq!(identity.kernel_preference(), KernelPreference::Gpu);
    identity.set_kernel_preference(KernelPreference::Auto);
    assert_eq!(identity.kernel_preference(), KernelPreference::Auto);

    assert!(identity.compute_here() && identity.wake_lock(), "both switches are on by default");
    identity.set_compute_here(false);
    identity.set_wake_lock(false);
    assert!(!identity.compute_here() && !identity.wake_lock());
    identity.set_compute_here(true);
    assert!(identity.compute_here());

    use crate::power::PolicyChoice;
    assert_eq!(identity.power_policy(), None, "a device follows the swarm by default");
    identity.set_power_policy(PolicyChoice::Battery(20));
    assert_eq!(PolicyChoice::of(identity.power_policy()), PolicyChoice::Battery(20));
    identity.set_power_policy(PolicyChoice::Swarm);
    assert_eq!(identity.power_policy(), None);
}
