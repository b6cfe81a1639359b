//! When a device computes, by its power source: the policies BOINC and Folding@home users
//! know ("compute only while plugged in", "pause below a battery level"). The master sets one
//! for the swarm; each device may follow it or set its own.

use serde::{Deserialize, Serialize};

/// A power policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerPolicy {
    /// Compute only while plugged in (charging or full on the charger).
    pub plugged_in_only: bool,
    /// On battery, pause below this charge, in percent (1-100); 0 never pauses.
    pub min_battery_percent: u8,
}

/// A device's battery, as the browser's Battery Status API reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
    /// Charge, 0.0-1.0.
    pub level: f64,
    /// On the charger.
    pub charging: bool,
}

/// Why a power policy pauses a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerPause {
    /// The policy wants a charger and the device is on battery.
    NotPluggedIn,
    /// On battery below the policy's level.
    BatteryLow {
        /// The charge now, in percent.
        percent: u8,
        /// The policy's level.
        min_percent: u8,
    },
}

impl PowerPolicy {
    /// Computing at any charge: the default.
    pub const ALWAYS: Self = Self { plugged_in_only: false, min_battery_percent: 0 };

    /// Whether the values are valid (a level of at most 100 %).
    pub fn is_valid(self) -> bool {
        self.min_battery_percent <= 100
    }

    /// Why this policy pauses a device with `battery`, if it does. A device whose browser
    /// has no Battery Status API (`None`) is never paused: the policy does not apply to it.
    pub fn pause(self, battery: Option<Battery>) -> Option<PowerPause> {
        let battery = battery?;
        if battery.charging {
            return None;
        }
        if self.plugged_in_only {
            return Some(PowerPause::NotPluggedIn);
        }
        let percent = (battery.level.clamp(0.0, 1.0) * 100.0).round() as u8;
        (percent < self.min_battery_percent)
            .then_some(PowerPause::BatteryLow { percent, min_percent: self.min_battery_percent })
    }

    /// The policy in words, for the dashboard and the worker view.
    pub fn describe(self) -> String {
        match (self.plugged_in_only, self.min_battery_percent) {
            (true, _) => "only while plugged in".into(),
            (false, 0) => "on battery too".into(),
            (false, min) => format!("on battery down to {min} %"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON_BATTERY_15: Battery = Battery { level: 0.15, charging: false };

    #[test]
    fn a_charger_always_allows_and_no_battery_api_means_the_policy_does_not_apply() {
        let strict = PowerPolicy { plugged_in_only: true, min_battery_percent: 90 };
        assert_eq!(strict.pause(Some(Battery { level: 0.05, charging: true })), None);
        assert_eq!(strict.pause(None), None);
    }

    #[test]
    fn on_battery_the_policy_decides() {
        assert_eq!(PowerPolicy::ALWAYS.pause(Some(ON_BATTERY_15)), None);
        let plugged = PowerPolicy { plugged_in_only: true, min_battery_percent: 0 };
        assert_eq!(plugged.pause(Some(ON_BATTERY_15)), Some(PowerPause::NotPluggedIn));
        let low = PowerPolicy { plugged_in_only: false, min_battery_percent: 20 };
        assert_eq!(low.pause(Some(ON_BATTERY_15)), Some(PowerPause::BatteryLow { percent: 15, min_percent: 20 }));
        assert_eq!(low.pause(Some(Battery { level: 0.2, charging: false })), None, "at the level it computes");
    }

    #[test]
    fn policies_read_as_words_and_levels_over_100_are_invalid() {
        assert_eq!(PowerPolicy::ALWAYS.describe(), "on battery too");
        assert_eq!(
            PowerPolicy { plugged_in_only: false, min_battery_percent: 30 }.describe(),
            "on battery down to 30 %"
        );
        assert!(!PowerPolicy { plugged_in_only: false, min_battery_percent: 101 }.is_valid());
    }
}
