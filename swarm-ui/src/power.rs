//! The device's power: its battery as the browser reports it, the policy it follows (the
//! swarm's or its own) and whether that policy pauses it. The choices the pages offer are
//! [`PolicyChoice`]s, kept in the browser for a device's own policy.

use ostrich_protocol::{Battery, PowerPause, PowerPolicy};

/// What the device knows of its battery.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum BatteryView {
    /// Not read yet.
    #[default]
    Unknown,
    /// The browser has no Battery Status API: power policies do not apply.
    Missing,
    /// The battery now.
    Present(Battery),
}

impl BatteryView {
    /// The battery, when the browser reports one.
    pub fn battery(self) -> Option<Battery> {
        match self {
            Self::Present(battery) => Some(battery),
            Self::Unknown | Self::Missing => None,
        }
    }
}

/// The power side of the worker figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PowerView {
    /// The swarm's policy, as the master set it.
    pub swarm: PowerPolicy,
    /// The device's own policy, when it does not follow the swarm's.
    pub own: Option<PowerPolicy>,
    /// The battery.
    pub battery: BatteryView,
}

impl PowerView {
    /// The policy in force: the device's own, else the swarm's.
    pub fn policy(&self) -> PowerPolicy {
        self.own.unwrap_or(self.swarm)
    }

    /// Why the policy pauses the device now, if it does.
    pub fn pause(&self) -> Option<PowerPause> {
        self.policy().pause(self.battery.battery())
    }
}

/// A policy as the pages offer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyChoice {
    /// Follow the swarm's policy (a device's own choice only).
    Swarm,
    /// Compute at any charge.
    Always,
    /// Only while plugged in.
    PluggedIn,
    /// On battery down to this level.
    Battery(u8),
}

impl PolicyChoice {
    /// The choices a device offers; the master's omit `Swarm`.
    pub const ALL: [Self; 5] = [Self::Swarm, Self::Always, Self::PluggedIn, Self::Battery(20), Self::Battery(50)];

    /// The value of the choice in a `<select>` and in the browser's storage.
    pub fn value(self) -> String {
        match self {
            Self::Swarm => "swarm".into(),
            Self::Always => "always".into(),
            Self::PluggedIn => "plugged".into(),
            Self::Battery(min) => format!("battery-{min}"),
        }
    }

    /// Reads a value back; anything unknown is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "swarm" => Some(Self::Swarm),
            "always" => Some(Self::Always),
            "plugged" => Some(Self::PluggedIn),
            other => other.strip_prefix("battery-")?.parse().ok().filter(|m| (1..=100).contains(m)).map(Self::Battery),
        }
    }

    /// The policy it sets; `None` for following the swarm.
    pub fn policy(self) -> Option<PowerPolicy> {
        match self {
            Self::Swarm => None,
            Self::Always => Some(PowerPolicy::ALWAYS),
            Self::PluggedIn => Some(PowerPolicy { plugged_in_only: true, min_battery_percent: 0 }),
            Self::Battery(min) => Some(PowerPolicy { plugged_in_only: false, min_battery_percent: min }),
        }
    }

    /// The choice that sets `policy` (a policy the pages do not offer reads as its nearest).
    pub fn of(policy: Option<PowerPolicy>) -> Self {
        match policy {
            None => Self::Swarm,
            Some(p) if p.plugged_in_only => Self::PluggedIn,
            Some(p) if p.min_battery_percent == 0 => Self::Always,
            Some(p) => Self::Battery(p.min_battery_percent),
        }
    }

    /// The label of the choice; `swarm` is the swarm's policy, named by "as the swarm".
    pub fn label(self, swarm: PowerPolicy) -> String {
        match self.policy() {
            None => format!("As the swarm: {}", swarm.describe()),
            Some(policy) => format!("Compute {}", policy.describe()),
        }
    }
}

/// The worker view's line on the pause, or on why the policy does not apply.
pub fn describe_pause(pause: PowerPause) -> String {
    match pause {
        PowerPause::NotPluggedIn => "Paused: not plugged in".into(),
        PowerPause::BatteryLow { percent, min_percent } => {
            format!("Paused: battery at {percent} % (below {min_percent} %)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_round_trip_through_their_values_and_policies() {
        for choice in PolicyChoice::ALL {
            assert_eq!(PolicyChoice::parse(&choice.value()), Some(choice));
            assert_eq!(PolicyChoice::of(choice.policy()), choice);
        }
        assert_eq!(PolicyChoice::parse("battery-0"), None);
        assert_eq!(PolicyChoice::parse("battery-101"), None);
        assert_eq!(PolicyChoice::parse("nonsense"), None);
    }

    #[test]
    fn the_own_policy_wins_and_a_missing_battery_api_never_pauses() {
        let on_battery = BatteryView::Present(Battery { level: 0.3, charging: false });
        let mut view = PowerView { swarm: PowerPolicy::ALWAYS, own: None, battery: on_battery };
        assert_eq!(view.pause(), None);
        view.own = PolicyChoice::PluggedIn.policy();
        assert_eq!(view.pause(), Some(PowerPause::NotPluggedIn));
        assert_eq!(describe_pause(PowerPause::NotPluggedIn), "Paused: not plugged in");
        view.battery = BatteryView::Missing;
        assert_eq!(view.pause(), None);
        let low = PowerPause::BatteryLow { percent: 15, min_percent: 20 };
        assert_eq!(describe_pause(low), "Paused: battery at 15 % (below 20 %)");
        assert_eq!(PolicyChoice::Swarm.label(PowerPolicy::ALWAYS), "As the swarm: on battery too");
    }
}
