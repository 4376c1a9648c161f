//! Both themes against WCAG 2.x AA contrast, read from the shipped stylesheet.
//!
//! Definitions (W3C, WCAG 2.2, "Definitions"): the *relative luminance* of an sRGB colour is
//! `L = 0.2126 R + 0.7152 G + 0.0722 B`, each channel `c = C / 255` linearised as
//! `c / 12.92` when `c <= 0.04045`, else `((c + 0.055) / 1.055) ^ 2.4`; the *contrast ratio*
//! is `(L1 + 0.05) / (L2 + 0.05)`, `L1` the lighter. (WCAG 2.0 printed 0.03928 as the
//! threshold; the 2.2 note replaces it with the sRGB standard's 0.04045, which no 8-bit
//! channel tells apart.) Thresholds: SC 1.4.3 Contrast (Minimum), 4.5:1 for text (the
//! app has no large-text exception to lean on); SC 1.4.11 Non-text Contrast, 3:1 for what
//! identifies a component or its state (focus rings, input borders, the urgent border).
//!
//! The stylesheet keeps every colour as a hex custom property inside the three theme blocks
//! (`:root`, `:root[data-theme=dark]`, and the dark block under `prefers-color-scheme`),
//! and the tests hold it to that, so [`PAIRS`] covers every colour the UI paints.

/// The stylesheet as built into the app.
const CSS: &str = include_str!("../../style/main.css");

/// The light theme's selector (also the default for every property).
const LIGHT: &str = ":root";
/// The forced dark theme's selector.
const DARK: &str = ":root[data-theme=dark]";
/// The device-preferred dark theme's selector, inside [`DARK_MEDIA`].
const DARK_SYSTEM: &str = ":root:not([data-theme=light])";
/// The media query around [`DARK_SYSTEM`].
const DARK_MEDIA: &str = "@media (prefers-color-scheme: dark)";

/// An sRGB colour, 8 bits a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rgb(u8, u8, u8);

impl Rgb {
    /// `#rgb` or `#rrggbb` (any case); `None` for anything else (names, `rgb()`, alpha).
    fn parse(hex: &str) -> Option<Rgb> {
        let digits = hex.trim().strip_prefix('#')?;
        if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |s: &str| u8::from_str_radix(s, 16).ok();
        match digits.len() {
            3 => {
                let d: Vec<u8> = digits
                    .chars()
                    .filter_map(|c| channel(&c.to_string()))
                    .collect();
                Some(Rgb(d[0] * 17, d[1] * 17, d[2] * 17))
            }
            6 => Some(Rgb(
                channel(&digits[0..2])?,
                channel(&digits[2..4])?,
                channel(&digits[4..6])?,
            )),
            _ => None,
        }
    }

    /// WCAG 2.x relative luminance, 0 (black) to 1 (white).
    fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }
}

/// WCAG 2.x contrast ratio of two colours, 1 to 21, whichever order they come in.
fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// What a pair is, and so the ratio it needs.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Text on a background: 4.5:1 (SC 1.4.3).
    Text,
    /// A component's boundary or state against what it sits on: 3:1 (SC 1.4.11).
    NonText,
}

impl Kind {
    fn minimum(self) -> f64 {
        match self {
            Kind::Text => 4.5,
            Kind::NonText => 3.0,
        }
    }
}

/// Every foreground/background pair the UI paints, by custom property (without `--`), and
/// where it shows. Adding a colour to the stylesheet means adding its pairs here.
const PAIRS: &[(&str, &str, Kind, &str)] = &[
    // Body text on every surface it sits on.
    ("ink", "bg", Kind::Text, "page text, thread"),
    (
        "ink",
        "panel",
        Kind::Text,
        "list, composer, dialogs, buttons",
    ),
    (
        "ink",
        "hover",
        Kind::Text,
        "hovered list row or search result",
    ),
    ("ink", "own", Kind::Text, "own message bubble, selected row"),
    ("ink", "medic", Kind::Text, "medic message bubble"),
    ("ink", "urgent-row", Kind::Text, "urgent list row"),
    ("ink", "mark", Kind::Text, "search match highlight"),
    // Secondary text: previews, times, message headers, hints, placeholders.
    (
        "muted",
        "bg",
        Kind::Text,
        "day separator, empty thread, loading",
    ),
    (
        "muted",
        "panel",
        Kind::Text,
        "preview, time, hint, placeholder, count",
    ),
    ("muted", "hover", Kind::Text, "hovered row's preview"),
    (
        "muted",
        "own",
        Kind::Text,
        "own bubble header, selected row time",
    ),
    ("muted", "medic", Kind::Text, "medic bubble header"),
    (
        "muted",
        "urgent-row",
        Kind::Text,
        "urgent row's preview and time",
    ),
    // Links and primary buttons.
    ("accent", "panel", Kind::Text, "links on panels"),
    ("accent", "bg", Kind::Text, "links on the page"),
    (
        "accent-ink",
        "accent",
        Kind::Text,
        "primary buttons, unread count, pill",
    ),
    // Urgent and unread badges (alert colour as background).
    (
        "alert-ink",
        "alert",
        Kind::Text,
        "unread badge, URGENT tag, acknowledge",
    ),
    // Errors.
    (
        "error",
        "panel",
        Kind::Text,
        "form and load errors, over-long count",
    ),
    ("error", "bg", Kind::Text, "fatal error, unread divider"),
    ("error", "error-bg", Kind::Text, "connection offline"),
    // Confirmations and states.
    ("ok", "panel", Kind::Text, "acknowledged note"),
    ("ok", "own", Kind::Text, "acknowledged note in own bubble"),
    (
        "ok",
        "medic",
        Kind::Text,
        "acknowledged note in medic bubble",
    ),
    ("ok", "ok-bg", Kind::Text, "connection live"),
    ("warn", "warn-bg", Kind::Text, "connection reconnecting"),
    (
        "attention-ink",
        "attention",
        Kind::Text,
        "click to enable sound",
    ),
    // The header bar.
    (
        "topbar-ink",
        "topbar-bg",
        Kind::Text,
        "header text and buttons",
    ),
    (
        "topbar-muted",
        "topbar-bg",
        Kind::Text,
        "org name, no-sound note",
    ),
    (
        "topbar-ink",
        "topbar-pressed",
        Kind::Text,
        "header switch that is on",
    ),
    // Focus ring against every surface a focusable element sits on.
    ("focus", "bg", Kind::NonText, "focus ring on the page"),
    ("focus", "panel", Kind::NonText, "focus ring on panels"),
    (
        "focus",
        "hover",
        Kind::NonText,
        "focus ring on a hovered row",
    ),
    (
        "focus",
        "own",
        Kind::NonText,
        "focus ring on the selected row",
    ),
    (
        "focus",
        "medic",
        Kind::NonText,
        "focus ring in a medic bubble",
    ),
    (
        "focus",
        "urgent-row",
        Kind::NonText,
        "focus ring on an urgent row",
    ),
    (
        "topbar-focus",
        "topbar-bg",
        Kind::NonText,
        "focus ring in the header",
    ),
    // Component boundaries and states.
    (
        "field-border",
        "panel",
        Kind::NonText,
        "input, select, textarea, button borders",
    ),
    ("field-border", "bg", Kind::NonText, "buttons on the page"),
    (
        "topbar-line",
        "topbar-bg",
        Kind::NonText,
        "header button borders",
    ),
    ("alert", "panel", Kind::NonText, "urgent message border"),
    ("alert", "own", Kind::NonText, "urgent border on own bubble"),
    (
        "alert",
        "medic",
        Kind::NonText,
        "urgent border on medic bubble",
    ),
    (
        "alert",
        "bg",
        Kind::NonText,
        "unread divider line, failed message border",
    ),
    (
        "alert",
        "urgent-row",
        Kind::NonText,
        "urgent row's edge bar",
    ),
    ("accent", "own", Kind::NonText, "selected row's edge bar"),
    ("accent", "panel", Kind::NonText, "pressed filter toggle"),
];

/// Strips `/* … */` comments.
fn without_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start + 2..]
            .find("*/")
            .map_or("", |end| &rest[start + 2 + end + 2..]);
    }
    out.push_str(rest);
    out
}

/// The byte range of the body (between the braces) of the one rule whose selector is
/// exactly `selector`; an error if there is none or more than one.
fn block(css: &str, selector: &str) -> Result<(usize, usize), String> {
    let opening = format!("{selector} {{");
    let starts: Vec<usize> = css
        .match_indices(&opening)
        .map(|(i, _)| i)
        .filter(|&i| {
            // The selector itself, not the tail of a longer one (`html:root {`).
            css[..i]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || c == '{' || c == '}')
        })
        .collect();
    let [start] = starts[..] else {
        return Err(format!("{} rules `{opening}`, want one", starts.len()));
    };
    let body = start + opening.len();
    let end = css[body..]
        .find('}')
        .ok_or_else(|| format!("`{opening}` is not closed"))?;
    Ok((body, body + end))
}

/// The custom properties (`--name: value;`) declared in a rule body, name without `--`, in
/// order. Other declarations (`color-scheme`) are skipped.
fn custom_properties(body: &str) -> Vec<(String, String)> {
    body.split(';')
        .filter_map(|decl| {
            let (name, value) = decl.split_once(':')?;
            let name = name.trim().strip_prefix("--")?;
            Some((name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// The three theme blocks of a stylesheet: light, forced dark, device dark.
struct Themes {
    css: String,
    light: Vec<(String, String)>,
    dark: Vec<(String, String)>,
    dark_system: Vec<(String, String)>,
    /// Byte ranges of the three bodies in `css`.
    ranges: [(usize, usize); 3],
}

impl Themes {
    fn read(css: &str) -> Result<Themes, String> {
        let css = without_comments(css);
        let light = block(&css, LIGHT)?;
        let dark = block(&css, DARK)?;
        let dark_system = block(&css, DARK_SYSTEM)?;
        let media = css
            .find(&format!("{DARK_MEDIA} {{"))
            .ok_or_else(|| format!("no `{DARK_MEDIA}`"))?;
        let between = &css[media + DARK_MEDIA.len() + 2..dark_system.0];
        if between.trim() != format!("{DARK_SYSTEM} {{") {
            return Err(format!(
                "`{DARK_SYSTEM}` is not the first rule in `{DARK_MEDIA}`"
            ));
        }
        let props = |(a, b): (usize, usize)| custom_properties(&css[a..b]);
        Ok(Themes {
            light: props(light),
            dark: props(dark),
            dark_system: props(dark_system),
            ranges: [light, dark, dark_system],
            css,
        })
    }

    fn get<'a>(theme: &'a [(String, String)], name: &str) -> Option<&'a str> {
        theme
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair below its minimum in `theme`, or whose colours are missing or not hex,
    /// one line each.
    fn failures(theme_name: &str, theme: &[(String, String)]) -> Vec<String> {
        let mut failures = Vec::new();
        for &(fg, bg, kind, used) in PAIRS {
            let colour = |name: &str| {
                let value = Self::get(theme, name)
                    .ok_or_else(|| format!("{theme_name}: --{name} is not defined ({used})"))?;
                Rgb::parse(value)
                    .ok_or_else(|| format!("{theme_name}: --{name}: {value} is not #rgb/#rrggbb"))
            };
            match (colour(fg), colour(bg)) {
                (Ok(f), Ok(b)) => {
                    let ratio = contrast(f, b);
                    if ratio < kind.minimum() {
                        failures.push(format!(
                            "{theme_name}: --{fg} on --{bg} is {ratio:.2}:1, needs {}:1 ({used})",
                            kind.minimum()
                        ));
                    }
                }
                (f, b) => failures.extend([f.err(), b.err()].into_iter().flatten()),
            }
        }
        failures
    }

    /// The stylesheet without the theme blocks' bodies.
    fn outside_themes(&self) -> String {
        let mut ranges = self.ranges;
        ranges.sort();
        let mut out = String::new();
        let mut at = 0;
        for (start, end) in ranges {
            out.push_str(&self.css[at..start]);
            at = end;
        }
        out.push_str(&self.css[at..]);
        out
    }
}

fn names(theme: &[(String, String)]) -> Vec<&str> {
    let mut names: Vec<&str> = theme.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names
}

#[test]
fn luminance_and_contrast_follow_the_wcag_definitions() {
    let black = Rgb::parse("#000").unwrap();
    let white = Rgb::parse("#FFFFFF").unwrap();
    assert_eq!(black.luminance(), 0.0);
    assert!((white.luminance() - 1.0).abs() < 1e-12);
    assert!((contrast(black, white) - 21.0).abs() < 1e-9);
    assert_eq!(contrast(white, black), contrast(black, white));
    // The well-known edge: #767676 is the lightest grey that passes 4.5:1 on white; #777
    // (#777777) does not.
    let on_white = |hex| contrast(Rgb::parse(hex).unwrap(), white);
    assert!(on_white("#767676") >= 4.5, "{}", on_white("#767676"));
    assert!(on_white("#777") < 4.5, "{}", on_white("#777"));
    // Pure red on white, as published by WebAIM's checker: 4.0:1.
    assert!(
        (on_white("#f00") - 3.998).abs() < 0.001,
        "{}",
        on_white("#f00")
    );
}

#[test]
fn hex_colours_parse_and_anything_else_does_not() {
    assert_eq!(Rgb::parse("#1a2B3c"), Some(Rgb(0x1a, 0x2b, 0x3c)));
    assert_eq!(Rgb::parse("#abc"), Some(Rgb(0xaa, 0xbb, 0xcc)));
    for bad in [
        "1a2b3c",
        "#12",
        "#1234",
        "#12345g",
        "rgb(0,0,0)",
        "white",
        "#ff000080",
        "",
    ] {
        assert_eq!(Rgb::parse(bad), None, "{bad}");
    }
}

#[test]
fn a_low_pair_is_reported() {
    let theme = custom_properties(" --ink: #777; --bg: #fff; ");
    let failures = Themes::failures("test", &theme);
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("test: --ink on --bg is 4.48:1, needs 4.5:1")),
        "{failures:?}"
    );
    assert!(failures
        .iter()
        .any(|f| f.contains("--panel is not defined")));
}

#[test]
fn both_themes_meet_wcag_aa_for_every_pair_the_ui_paints() {
    let themes = Themes::read(CSS).unwrap();
    let mut failures = Themes::failures("light", &themes.light);
    failures.extend(Themes::failures("dark", &themes.dark));
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_themes_define_the_same_properties_and_both_dark_blocks_agree() {
    let themes = Themes::read(CSS).unwrap();
    assert_eq!(names(&themes.light), names(&themes.dark));
    // The device-dark block repeats the forced-dark one (CSS cannot share a block between a
    // media query and an attribute selector); a value changed in one only is a bug.
    assert_eq!(themes.dark, themes.dark_system);
}

#[test]
fn every_colour_comes_from_the_themes() {
    let themes = Themes::read(CSS).unwrap();
    let outside = themes.outside_themes();
    for func in ["rgb(", "rgba(", "hsl(", "hsla(", "color-mix("] {
        assert!(
            !outside.contains(func),
            "a {func}…) outside the theme blocks"
        );
    }
    let hex: Vec<&str> = outside
        .match_indices('#')
        .map(|(i, _)| {
            let tail = &outside[i + 1..];
            let len = tail
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(tail.len());
            &outside[i..i + 1 + len]
        })
        .filter(|s| Rgb::parse(s).is_some())
        .collect();
    assert!(hex.is_empty(), "colours outside the theme blocks: {hex:?}");
    // Every property used is defined (a typo would silently paint nothing).
    let defined = names(&themes.light);
    for (i, _) in outside.match_indices("var(--") {
        let tail = &outside[i + 6..];
        let name = &tail[..tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(tail.len())];
        assert!(
            defined.contains(&name),
            "var(--{name}) is not defined by the themes"
        );
    }
}
