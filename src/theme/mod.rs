//! The colour theme (night shift): light, dark, or whatever the device prefers.
//!
//! The colours themselves live in `style/main.css` as custom properties, one block per
//! theme: `:root` (light), `:root[data-theme=dark]`, and the same dark values under
//! `@media (prefers-color-scheme: dark)` for `:root:not([data-theme=light])`. So the
//! whole choice is one attribute on `<html>`: `data-theme="light"` or `"dark"` forces a
//! theme, no attribute follows the device. This module holds the rules (what is stored,
//! what a click picks next, which attribute that means); `components/theme_toggle.rs` wires
//! them to the button, `localStorage` and the document. `contrast` checks both themes'
//! colour pairs against WCAG AA.
//!
//! The stored choice is applied before first paint by the inline script in `index.html`
//! (hashed into the CSP by the server, `server/src/headers.rs`), so a dark-theme user never
//! sees a white flash; the toggle applies it again when it mounts, which covers a page
//! where that script did not run.

#[cfg(test)]
mod contrast;

/// `localStorage` key of the chosen theme: `"light"`, `"dark"` or `"system"`. The inline
/// script in `index.html` reads the same key (a test keeps them in step).
pub const STORAGE_KEY: &str = "switchboard.theme";

/// The attribute on `<html>` that forces a theme; absent, the device's preference applies.
pub const ATTRIBUTE: &str = "data-theme";

/// The dispatcher's choice of colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Follow the device (`prefers-color-scheme`); the default.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Theme {
    /// The theme a stored value names; absent or unknown (an older build's value, a hand
    /// edit) falls back to [`Theme::System`], which can never leave the screen unreadable.
    pub fn from_stored(value: Option<&str>) -> Theme {
        match value.map(str::trim) {
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            _ => Theme::System,
        }
    }

    /// The value stored under [`STORAGE_KEY`]; [`Theme::from_stored`] reads it back.
    pub fn stored(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// The choice after this one when the toggle is pressed: light, dark, system, light…
    pub fn next(self) -> Theme {
        match self {
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
            Theme::System => Theme::Light,
        }
    }

    /// The value of [`ATTRIBUTE`] on `<html>`; `None`: remove it, so the media query decides.
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            Theme::System => None,
            Theme::Light => Some("light"),
            Theme::Dark => Some("dark"),
        }
    }

    /// The toggle's visible name ("System", "Light", "Dark").
    pub fn name(self) -> &'static str {
        match self {
            Theme::System => "System",
            Theme::Light => "Light",
            Theme::Dark => "Dark",
        }
    }

    /// The toggle's accessible name, the current choice: "Theme: system". It contains the
    /// visible name, as WCAG 2.5.3 (Label in Name) asks.
    pub fn label(self) -> String {
        format!("Theme: {}", self.stored())
    }

    /// The toggle's tooltip: the current choice and what a click does.
    pub fn hint(self) -> String {
        let now = match self {
            Theme::System => "Colours follow this device's light or dark setting.",
            Theme::Light => "Light colours.",
            Theme::Dark => "Dark colours, for night shifts.",
        };
        format!("{now} Click for {}.", self.next().stored())
    }

    /// A symbol for the choice, shown beside the name (hidden from screen readers).
    pub fn icon(self) -> &'static str {
        match self {
            Theme::System => "◐",
            Theme::Light => "☀",
            Theme::Dark => "☾",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    #[test]
    fn a_stored_choice_reads_back_and_anything_else_is_system() {
        for theme in ALL {
            assert_eq!(Theme::from_stored(Some(theme.stored())), theme);
        }
        assert_eq!(Theme::from_stored(None), Theme::System);
        for bad in ["", "Dark", "night", "{\"theme\":\"dark\"}", "null"] {
            assert_eq!(Theme::from_stored(Some(bad)), Theme::System, "{bad:?}");
        }
    }

    #[test]
    fn the_toggle_cycles_light_dark_system() {
        assert_eq!(Theme::default(), Theme::System);
        assert_eq!(Theme::System.next(), Theme::Light);
        assert_eq!(Theme::Light.next(), Theme::Dark);
        assert_eq!(Theme::Dark.next(), Theme::System);
        for theme in ALL {
            assert_eq!(theme.next().next().next(), theme);
        }
    }

    #[test]
    fn only_a_forced_theme_sets_the_attribute() {
        assert_eq!(Theme::System.attribute(), None);
        assert_eq!(Theme::Light.attribute(), Some("light"));
        assert_eq!(Theme::Dark.attribute(), Some("dark"));
    }

    #[test]
    fn the_label_says_the_current_choice_and_contains_the_visible_name() {
        assert_eq!(Theme::System.label(), "Theme: system");
        assert_eq!(Theme::Dark.label(), "Theme: dark");
        for theme in ALL {
            let label = theme.label().to_lowercase();
            assert!(label.contains(&theme.name().to_lowercase()), "{label}");
            assert!(theme
                .hint()
                .ends_with(&format!("Click for {}.", theme.next().stored())));
        }
    }

    /// The bootstrap in `index.html` applies the stored theme before first paint; it must
    /// read this module's key and set exactly the attribute values the CSS knows.
    #[test]
    fn the_pre_paint_script_reads_the_same_key_and_values() {
        let html = include_str!("../../index.html");
        let start = html
            .find("<script>")
            .expect("an inline <script> in index.html");
        let script = &html[start
            ..html[start..]
                .find("</script>")
                .map_or(html.len(), |e| start + e)];
        assert!(script.contains(&format!("\"{STORAGE_KEY}\"")), "{script}");
        for value in [Theme::Light, Theme::Dark].map(|t| t.attribute().unwrap_or_default()) {
            assert!(script.contains(&format!("\"{value}\"")), "{script}");
        }
        assert!(
            script.contains("dataset.theme"),
            "sets {ATTRIBUTE}: {script}"
        );
        // Tiny, synchronous and unable to break the page: a throw (storage disabled) is caught.
        assert!(script.len() < 300 && script.contains("try"), "{script}");
    }
}
