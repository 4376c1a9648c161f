//! The two opt-in switches in the header, as pure rules: what each shows, what a click does,
//! and how the choice is remembered.
//!
//! Desktop notifications need the browser's permission (Notifications API,
//! `Notification.requestPermission()`); it is asked for only when the dispatcher clicks the
//! switch, never on load (browsers penalise sites that prompt unasked, and a prompt nobody
//! asked for gets dismissed). The choice is remembered in `localStorage`, which every tab of
//! the origin shares, so turning alerts on in one tab turns them on in the one that alerts.

/// `localStorage` key of the notifications switch (`"on"` | `"off"`).
pub const NOTIFY_KEY: &str = "switchboard.alerts.notifications";
/// `localStorage` key of the sound switch (`"on"` | `"off"`).
pub const SOUND_KEY: &str = "switchboard.alerts.sound";

/// The stored value of a switch that is on.
pub const ON: &str = "on";
/// The stored value of a switch that is off.
pub const OFF: &str = "off";

/// Whether a stored switch is on (absent or anything else: off, as both are opt-in).
pub fn stored_on(value: Option<&str>) -> bool {
    value == Some(ON)
}

/// The stored text for a switch.
pub fn stored(on: bool) -> &'static str {
    if on {
        ON
    } else {
        OFF
    }
}

/// `Notification.permission`, or its absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Not asked yet ("default").
    Default,
    /// "granted".
    Granted,
    /// "denied": only the browser's site settings can change it now.
    Denied,
    /// No Notifications API here (or an insecure context).
    Unsupported,
}

impl Permission {
    /// Reads `Notification.permission` ("default" | "granted" | "denied").
    pub fn parse(value: &str) -> Permission {
        match value {
            "granted" => Permission::Granted,
            "denied" => Permission::Denied,
            "default" => Permission::Default,
            _ => Permission::Unsupported,
        }
    }
}

/// What the notifications switch shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyState {
    /// Off (the dispatcher's choice, or never turned on).
    Off,
    /// On: alerts become desktop notifications.
    On,
    /// Wanted but the browser refuses (permission denied, possibly revoked after it was
    /// granted): say so, since a switch that looks on but does nothing is the worst case.
    Blocked,
    /// The browser has no notifications.
    Unsupported,
}

impl NotifyState {
    /// The switch's state from the stored choice and the browser's permission.
    pub fn of(wanted: bool, permission: Permission) -> NotifyState {
        match (permission, wanted) {
            (Permission::Unsupported, _) => NotifyState::Unsupported,
            (Permission::Denied, _) => NotifyState::Blocked,
            (Permission::Granted, true) => NotifyState::On,
            _ => NotifyState::Off,
        }
    }

    /// Whether alerts become notifications now.
    pub fn is_on(self) -> bool {
        self == NotifyState::On
    }

    /// The switch's text.
    pub fn label(self) -> &'static str {
        match self {
            NotifyState::On => "Alerts on",
            NotifyState::Off => "Alerts off",
            NotifyState::Blocked => "Alerts blocked",
            NotifyState::Unsupported => "No alerts here",
        }
    }

    /// The switch's tooltip and accessible description: what a click does.
    pub fn hint(self) -> &'static str {
        match self {
            NotifyState::On => "Desktop notifications are on. Click to turn them off.",
            NotifyState::Off => "Click to get desktop notifications for new messages.",
            NotifyState::Blocked => {
                "The browser blocks notifications for this site: allow them in the site settings (the icon left of the address), then click again."
            }
            NotifyState::Unsupported => "This browser cannot show desktop notifications here.",
        }
    }
}

/// What a click on the notifications switch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyClick {
    /// Remember "off".
    TurnOff,
    /// Remember "on" (permission is already granted).
    TurnOn,
    /// Ask the browser (`Notification.requestPermission()`), then remember "on" if granted.
    Ask,
    /// Nothing to do but explain (denied, or unsupported).
    Explain,
}

impl NotifyClick {
    /// The click's effect.
    pub fn of(wanted: bool, permission: Permission) -> NotifyClick {
        match (permission, wanted) {
            (Permission::Granted, true) => NotifyClick::TurnOff,
            (Permission::Granted, false) => NotifyClick::TurnOn,
            (Permission::Default, _) => NotifyClick::Ask,
            (Permission::Denied | Permission::Unsupported, _) => NotifyClick::Explain,
        }
    }
}

/// What the sound switch and its note show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoundState {
    /// The stored choice.
    pub wanted: bool,
    /// Whether this tab may play sound now.
    pub gate: super::sound::AudioGate,
}

impl SoundState {
    /// The switch's text.
    pub fn label(self) -> &'static str {
        if self.wanted {
            "Sound on"
        } else {
            "Sound off"
        }
    }

    /// Whether to show "Click to enable sound": the dispatcher wants sound but the browser
    /// holds it until they interact with this tab. Failing silently is the one thing an
    /// alert must not do.
    pub fn blocked(self) -> bool {
        self.wanted && self.gate == super::sound::AudioGate::Blocked
    }

    /// Whether sound is wanted but impossible in this browser.
    pub fn unsupported(self) -> bool {
        self.wanted && self.gate == super::sound::AudioGate::Unsupported
    }
}

#[cfg(test)]
mod tests {
    use super::super::sound::AudioGate;
    use super::*;

    #[test]
    fn switches_are_opt_in_and_remembered_as_text() {
        assert!(!stored_on(None));
        assert!(!stored_on(Some("yes")));
        assert!(stored_on(Some(stored(true))));
        assert!(!stored_on(Some(stored(false))));
    }

    #[test]
    fn permission_is_asked_only_from_a_click_on_an_unasked_browser() {
        use Permission::*;
        assert_eq!(Permission::parse("granted"), Granted);
        assert_eq!(Permission::parse("denied"), Denied);
        assert_eq!(Permission::parse("default"), Default);
        assert_eq!(Permission::parse(""), Unsupported);

        assert_eq!(NotifyClick::of(false, Default), NotifyClick::Ask);
        assert_eq!(NotifyClick::of(false, Granted), NotifyClick::TurnOn);
        assert_eq!(NotifyClick::of(true, Granted), NotifyClick::TurnOff);
        assert_eq!(NotifyClick::of(true, Denied), NotifyClick::Explain);
        assert_eq!(NotifyClick::of(false, Unsupported), NotifyClick::Explain);
        assert_eq!(
            NotifyClick::of(true, Default),
            NotifyClick::Ask,
            "wanted, but the permission was reset: ask again"
        );
    }

    #[test]
    fn the_notifications_switch_tells_the_truth() {
        use Permission::*;
        assert_eq!(NotifyState::of(true, Granted), NotifyState::On);
        assert!(NotifyState::of(true, Granted).is_on());
        assert_eq!(NotifyState::of(false, Granted), NotifyState::Off);
        assert_eq!(NotifyState::of(true, Default), NotifyState::Off);
        assert_eq!(
            NotifyState::of(true, Denied),
            NotifyState::Blocked,
            "revoked"
        );
        assert_eq!(
            NotifyState::of(false, Unsupported),
            NotifyState::Unsupported
        );
        assert_eq!(NotifyState::Blocked.label(), "Alerts blocked");
        assert!(NotifyState::Off.hint().starts_with("Click"));
    }

    #[test]
    fn the_sound_note_shows_only_when_wanted_and_held() {
        let state = |wanted, gate| SoundState { wanted, gate };
        assert!(state(true, AudioGate::Blocked).blocked());
        assert!(!state(false, AudioGate::Blocked).blocked());
        assert!(!state(true, AudioGate::Running).blocked());
        assert!(state(true, AudioGate::Unsupported).unsupported());
        assert_eq!(state(true, AudioGate::Running).label(), "Sound on");
        assert_eq!(state(false, AudioGate::Idle).label(), "Sound off");
    }
}
