//! What a background tab shows without being looked at: the tab title and the favicon.
//!
//! A dispatcher keeps Switchboard in a background tab; the tab strip is the one piece of it
//! they still see. The title carries the state in words (so it is not conveyed by colour
//! alone, WCAG 2.2 SC 1.4.1) and the favicon repeats it as a dot for a glance.

use crate::realtime::ConnectionStatus;

/// The product name every title carries.
pub const APP_NAME: &str = "Switchboard";

/// The shipped icon (`public/favicon.svg`), into which the state dot is drawn.
pub const BASE_FAVICON_SVG: &str = include_str!("../../public/favicon.svg");

/// What the header counts, as the title and the favicon read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabState {
    /// Unread messages in all conversations (`unread_total`; `None` until loaded counts as 0).
    pub unread: Option<i64>,
    /// Urgent messages nobody on my side has acknowledged (`unacked_urgent_total`).
    pub urgent: Option<i64>,
    /// The realtime link.
    pub status: ConnectionStatus,
}

impl TabState {
    /// Whether the realtime link is down: counts may be stale and events are not arriving.
    /// `Connecting` (the first attempt after sign-in) is not "offline": nothing was lost yet.
    pub fn offline(&self) -> bool {
        matches!(
            self.status,
            ConnectionStatus::Reconnecting | ConnectionStatus::Offline
        )
    }

    fn unread(&self) -> i64 {
        self.unread.unwrap_or(0).max(0)
    }

    fn urgent(&self) -> bool {
        self.urgent.unwrap_or(0) > 0
    }
}

/// The tab title: `[Offline] ` while the link is down, then `(! N) ` while an urgent message
/// waits for acknowledgement (`(!) ` when nothing is unread), else `(N) ` when N messages are
/// unread, then `Switchboard · <org>` (just `Switchboard` without an org name).
pub fn tab_title(org_name: &str, state: &TabState) -> String {
    let mut title = String::new();
    if state.offline() {
        title.push_str("[Offline] ");
    }
    let unread = state.unread();
    match (state.urgent(), unread) {
        (true, 0) => title.push_str("(!) "),
        (true, n) => title.push_str(&format!("(! {n}) ")),
        (false, 0) => {}
        (false, n) => title.push_str(&format!("({n}) ")),
    }
    title.push_str(APP_NAME);
    let org = org_name.trim();
    if !org.is_empty() {
        title.push_str(" · ");
        title.push_str(org);
    }
    title
}

/// The favicon's dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Favicon {
    /// The shipped icon as is: nothing waits.
    Plain,
    /// Something is unread.
    Unread,
    /// An urgent message waits for acknowledgement.
    Urgent,
    /// The realtime link is down.
    Offline,
}

impl Favicon {
    /// The dot for a state. Urgent wins over offline (the urgent message is still waiting,
    /// whatever the link does), offline over unread (the unread count may be stale).
    pub fn of(state: &TabState) -> Favicon {
        if state.urgent() {
            Favicon::Urgent
        } else if state.offline() {
            Favicon::Offline
        } else if state.unread() > 0 {
            Favicon::Unread
        } else {
            Favicon::Plain
        }
    }

    /// The dot's fill colour (`None` for the plain icon).
    fn colour(self) -> Option<&'static str> {
        match self {
            Favicon::Plain => None,
            Favicon::Unread => Some("#f59e0b"),
            Favicon::Urgent => Some("#dc2626"),
            Favicon::Offline => Some("#6b7280"),
        }
    }

    /// The icon's SVG text: `base` with the dot drawn in its top-right corner (a white ring
    /// keeps it visible on the blue tile and on dark tab strips). `None` for the plain icon,
    /// which the page's own `<link rel="icon">` already shows. `base` must use a 32×32
    /// `viewBox`, as `public/favicon.svg` does.
    pub fn svg(self, base: &str) -> Option<String> {
        let colour = self.colour()?;
        let dot = format!(
            r##"<circle cx="24" cy="8" r="7.5" fill="{colour}" stroke="#fff" stroke-width="2"/>"##
        );
        let at = base.rfind("</svg>")?;
        let mut svg = String::with_capacity(base.len() + dot.len());
        svg.push_str(&base[..at]);
        svg.push_str(&dot);
        svg.push_str(&base[at..]);
        Some(svg)
    }
}

/// An SVG as a `data:` URL for `<link rel="icon" href>`, percent-encoding everything
/// outside a conservative safe set (RFC 3986 unreserved plus a few sub-delimiters), so `#`,
/// `%`, quotes and angle brackets cannot end the URL or the attribute early.
pub fn svg_data_url(svg: &str) -> String {
    let mut url = String::from("data:image/svg+xml,");
    for byte in svg.bytes() {
        let safe = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'=' | b';' | b',' | b'(' | b')'
            );
        if safe {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(unread: i64, urgent: i64, status: ConnectionStatus) -> TabState {
        TabState {
            unread: Some(unread),
            urgent: Some(urgent),
            status,
        }
    }

    #[test]
    fn the_title_counts_unread_and_flags_urgent_and_offline() {
        use ConnectionStatus::*;
        let org = "Metro EMS";
        assert_eq!(
            tab_title(org, &state(0, 0, Live)),
            "Switchboard · Metro EMS"
        );
        assert_eq!(
            tab_title(org, &state(3, 0, Live)),
            "(3) Switchboard · Metro EMS"
        );
        assert_eq!(
            tab_title(org, &state(3, 1, Live)),
            "(! 3) Switchboard · Metro EMS"
        );
        assert_eq!(
            tab_title(org, &state(0, 2, Live)),
            "(!) Switchboard · Metro EMS",
            "urgent but read: the flag alone"
        );
        assert_eq!(
            tab_title(org, &state(3, 1, Reconnecting)),
            "[Offline] (! 3) Switchboard · Metro EMS"
        );
        assert_eq!(
            tab_title(org, &state(0, 0, Offline)),
            "[Offline] Switchboard · Metro EMS"
        );
        assert_eq!(
            tab_title(org, &state(2, 0, Connecting)),
            "(2) Switchboard · Metro EMS",
            "the first connection is not a lost one"
        );
        let loading = TabState {
            unread: None,
            urgent: None,
            status: Connecting,
        };
        assert_eq!(tab_title(org, &loading), "Switchboard · Metro EMS");
        assert_eq!(tab_title("  ", &state(1, 0, Live)), "(1) Switchboard");
    }

    #[test]
    fn the_favicon_follows_the_same_cases() {
        use ConnectionStatus::*;
        assert_eq!(Favicon::of(&state(0, 0, Live)), Favicon::Plain);
        assert_eq!(Favicon::of(&state(0, 0, Connecting)), Favicon::Plain);
        assert_eq!(Favicon::of(&state(4, 0, Live)), Favicon::Unread);
        assert_eq!(Favicon::of(&state(4, 1, Live)), Favicon::Urgent);
        assert_eq!(Favicon::of(&state(0, 1, Live)), Favicon::Urgent);
        assert_eq!(Favicon::of(&state(4, 0, Reconnecting)), Favicon::Offline);
        assert_eq!(
            Favicon::of(&state(4, 1, Offline)),
            Favicon::Urgent,
            "a waiting urgent message outranks the link state"
        );
    }

    #[test]
    fn the_dot_is_drawn_into_the_shipped_icon() {
        assert_eq!(Favicon::Plain.svg(BASE_FAVICON_SVG), None);
        let urgent = Favicon::Urgent.svg(BASE_FAVICON_SVG).expect("a dot");
        assert!(urgent.starts_with("<svg"));
        assert!(urgent.trim_end().ends_with("</svg>"));
        assert!(urgent.contains(r##"fill="#dc2626""##));
        let unread = Favicon::Unread.svg(BASE_FAVICON_SVG).expect("a dot");
        let offline = Favicon::Offline.svg(BASE_FAVICON_SVG).expect("a dot");
        assert!(urgent != unread && unread != offline && urgent != offline);
        assert_eq!(Favicon::Unread.svg("not svg"), None);
    }

    #[test]
    fn data_urls_escape_what_would_end_them() {
        let url = svg_data_url(r##"<svg a="#1 %"/>"##);
        assert_eq!(url, "data:image/svg+xml,%3Csvg%20a=%22%231%20%25%22/%3E");
        let icon = svg_data_url(&Favicon::Urgent.svg(BASE_FAVICON_SVG).expect("a dot"));
        assert!(!icon.contains(['#', '"', '<', '>', ' ']));
    }
}
