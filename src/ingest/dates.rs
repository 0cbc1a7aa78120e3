//! Lenient date parsing for feed timestamps: RFC 3339, RFC 2822 and the broken forms publishers
//! actually send. An unparseable date is `None`, never a failure.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses a feed date. Order follows feed-rs: RFC 3339, RFC 2822, then repaired variants.
pub fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    let repaired = repair_rfc2822(s);
    if let Ok(d) = DateTime::parse_from_rfc2822(&repaired) {
        return Some(d.with_timezone(&Utc));
    }
    parse_iso_like(s).or_else(|| parse_epoch(s))
}

/// Parses seconds (or milliseconds, when too large for seconds) since the Unix epoch.
pub fn parse_epoch(s: &str) -> Option<DateTime<Utc>> {
    let n: i64 = s.trim().parse().ok()?;
    // Ten or fewer digits are seconds until the year 2286; more are milliseconds.
    let secs = if n.abs() >= 10_000_000_000 {
        n / 1000
    } else {
        n
    };
    if secs <= 0 {
        return None;
    }
    Utc.timestamp_opt(secs, 0).single()
}

/// Fixes the usual RFC 2822 breakage: `UTC`/`Z` zones, long or wrong weekday names, long
/// month names, a missing seconds field.
fn repair_rfc2822(s: &str) -> String {
    let mut words: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
    // Drop the weekday entirely: chrono rejects a weekday that disagrees with the date.
    if words
        .first()
        .is_some_and(|w| w.trim_end_matches(',').chars().all(char::is_alphabetic))
    {
        words.remove(0);
    }
    for w in &mut words {
        if let Some(m) = short_month(w) {
            *w = m.to_owned();
        }
        match w.to_ascii_uppercase().as_str() {
            "UTC" | "Z" | "-0000" => *w = "+0000".to_owned(),
            _ => {}
        }
        // `+02:00` is RFC 3339 style; RFC 2822 wants `+0200`.
        if (w.starts_with('+') || w.starts_with('-')) && w.len() == 6 && w.as_bytes()[3] == b':' {
            *w = w.replacen(':', "", 1);
        }
        if w.matches(':').count() == 1 && w.chars().all(|c| c.is_ascii_digit() || c == ':') {
            w.push_str(":00");
        }
    }
    if words.len() == 4 {
        // No zone at all: read it as UTC.
        words.push("+0000".to_owned());
    }
    words.join(" ")
}

fn short_month(w: &str) -> Option<&'static str> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let lower = w.to_ascii_lowercase();
    if lower.len() <= 3 || !lower.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    MONTHS
        .iter()
        .find(|m| lower.starts_with(&m.to_ascii_lowercase()))
        .copied()
}

/// ISO-like forms without a zone (`2024-01-15 10:00:00`, `2024-01-15T10:00`) or date only;
/// read as UTC.
fn parse_iso_like(s: &str) -> Option<DateTime<Utc>> {
    const LAYOUTS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    let no_fraction = s.split('.').next().unwrap_or(s);
    for layout in LAYOUTS {
        if let Ok(d) = NaiveDateTime::parse_from_str(no_fraction, layout) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    for layout in ["%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%B %d, %Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, layout) {
            return d.and_hms_opt(0, 0, 0).map(|d| Utc.from_utc_datetime(&d));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(raw: &str) -> Option<String> {
        parse_date(raw).map(|d| d.to_rfc3339())
    }

    #[test]
    fn standard_forms_parse() {
        assert_eq!(
            iso("Mon, 03 Aug 2026 18:45:05 +0000").as_deref(),
            Some("2026-08-03T18:45:05+00:00")
        );
        assert_eq!(
            iso("2026-08-03T18:45:05+02:00").as_deref(),
            Some("2026-08-03T16:45:05+00:00")
        );
        assert_eq!(
            iso("Tue, 10 Jun 2003 04:00:00 PDT").as_deref(),
            Some("2003-06-10T11:00:00+00:00")
        );
    }

    #[test]
    fn broken_rfc2822_forms_are_repaired() {
        let want = Some("2024-01-15T10:00:00+00:00".to_owned());
        assert_eq!(
            iso("Sun, 15 Jan 2024 10:00:00 UTC"),
            want,
            "wrong weekday, UTC zone"
        );
        assert_eq!(
            iso("Monday, 15 January 2024 10:00:00 +0000"),
            want,
            "long names"
        );
        assert_eq!(
            iso("15 Jan 2024 10:00 +00:00"),
            want,
            "no seconds, colon in zone"
        );
        assert_eq!(iso("Mon, 15 Jan 2024 10:00:00"), want, "no zone");
    }

    #[test]
    fn iso_like_and_epoch_forms_parse_as_utc() {
        assert_eq!(
            iso("2024-01-15 10:00:00").as_deref(),
            Some("2024-01-15T10:00:00+00:00")
        );
        assert_eq!(
            iso("2024-01-15").as_deref(),
            Some("2024-01-15T00:00:00+00:00")
        );
        assert_eq!(
            iso("1717171717").as_deref(),
            Some("2024-05-31T16:08:37+00:00")
        );
    }

    #[test]
    fn nonsense_dates_are_none_not_errors() {
        for raw in [
            "",
            "yesterday",
            "2024-13-45",
            "Mon, 32 Jan 2024 25:61:00 +0000",
            "-5",
        ] {
            assert_eq!(parse_date(raw), None, "{raw}");
        }
    }
}
