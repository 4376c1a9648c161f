//! Timestamps: one canonical text form so SQLite orders them correctly as strings.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The current time in microseconds since the epoch.
pub fn now_micros() -> Micros {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as Micros
}

/// Formats as Postgres renders `timestamptz` in JSON: fixed width, so text order is time order.
pub fn format_micros(micros: Micros) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            frac
        ),
        Err(_) => "1970-01-01T00:00:00.000000+00:00".to_string(),
    }
}

/// Parses an RFC 3339 timestamp (any offset, any precision) into microseconds.
pub fn parse_micros(text: &str) -> Option<Micros> {
    // Query strings often turn '+' into ' '; accept that spelling too.
    let fixed = text.trim().replace(' ', "+");
    let parsed = OffsetDateTime::parse(&fixed, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{fixed}Z"), &Rfc3339))
        .ok()?;
    let utc = parsed.to_offset(UtcOffset::UTC);
    Some((utc.unix_timestamp_nanos() / 1_000) as Micros)
}

/// Normalises any accepted timestamp spelling to the canonical stored form.
pub fn canonical(text: &str) -> Option<String> {
    parse_micros(text).map(format_micros)
}

/// Renders `commit_timestamp` as Realtime does: milliseconds and a `Z` suffix.
pub fn format_commit_timestamp(micros: Micros) -> String {
    let full = format_micros(micros);
    // "YYYY-MM-DDTHH:MM:SS.mmm" is the first 23 characters of the canonical form.
    format!("{}Z", &full[..23])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders_as_text() {
        let a = 1_764_000_000_123_456;
        let text = format_micros(a);
        assert_eq!(text.len(), 32);
        assert_eq!(parse_micros(&text), Some(a));
        assert!(format_micros(a) < format_micros(a + 1));
    }

    #[test]
    fn accepts_other_offsets_and_query_spellings() {
        let z = parse_micros("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(parse_micros("2026-01-02T04:04:05+01:00"), Some(z));
        assert_eq!(parse_micros("2026-01-02T03:04:05 00:00"), Some(z));
        assert_eq!(
            canonical("2026-01-02T03:04:05.5Z").as_deref(),
            Some("2026-01-02T03:04:05.500000+00:00")
        );
        assert_eq!(parse_micros("yesterday"), None);
    }

    #[test]
    fn commit_timestamp_has_millis_and_z() {
        assert_eq!(
            format_commit_timestamp(parse_micros("2026-08-01T10:00:00.123456Z").unwrap()),
            "2026-08-01T10:00:00.123Z"
        );
    }
}
