//! When a job stops being listed: how a source's feed is read for evidence that a posting is
//! gone (its expiry mode), the span of postings one run of a feed covered (its window), and
//! why a job was closed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::time;

/// How absence from a source's feed closes its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// The feed lists its newest postings only: a complete run is evidence that a job is gone
    /// only for jobs inside the span the run covered (not older than its oldest item).
    #[default]
    Window,
    /// The feed lists every open posting (a full export): absence from complete runs closes.
    Complete,
    /// Absence never closes (a passed `validThrough` still does).
    Never,
}

impl Expiry {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Window => "window",
            Self::Complete => "complete",
            Self::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Window, Self::Complete, Self::Never]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

/// Why a job was closed (`closedReason` on the job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// Missing from `pipeline.close_after_missed_runs` complete runs of every source carrying
    /// it (inside the window, for a windowed source).
    MissingFromFeed,
    /// Its `validThrough` passed.
    Expired,
    /// Its posting's URL answered 404 or 410.
    LinkGone,
    /// Its only source was removed.
    SourceRemoved,
}

impl ClosedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingFromFeed => "missing_from_feed",
            Self::Expired => "expired",
            Self::LinkGone => "link_gone",
            Self::SourceRemoved => "source_removed",
        }
    }
}

/// The span of postings one read of a feed covered: its oldest and newest posting dates (for
/// undated items, when the job was first seen), and how many postings it listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedWindow {
    #[serde(default, with = "time::rfc3339_opt")]
    pub oldest: Option<DateTime<Utc>>,
    #[serde(default, with = "time::rfc3339_opt")]
    pub newest: Option<DateTime<Utc>>,
    /// Postings read (items that became a job, repeated ones once).
    #[serde(default)]
    pub items: i64,
    /// Postings without a date; their first-seen times widen the window when the run ends.
    #[serde(default)]
    pub undated: i64,
}

impl FeedWindow {
    /// Takes one posting into account.
    pub fn observe(&mut self, date: Option<DateTime<Utc>>) {
        self.items += 1;
        match date {
            Some(d) => self.widen(d),
            None => self.undated += 1,
        }
    }

    /// Stretches the window to include `date`.
    pub fn widen(&mut self, date: DateTime<Utc>) {
        self.oldest = Some(self.oldest.map_or(date, |o| o.min(date)));
        self.newest = Some(self.newest.map_or(date, |n| n.max(date)));
    }

    /// Whether a job of this date (its posting date, else its first-seen time) lies inside the
    /// span the feed covered. An empty window covers nothing.
    pub fn covers(&self, date: DateTime<Utc>) -> bool {
        self.oldest.is_some_and(|o| date >= o)
    }
}

/// Whether a complete run of a source in mode `expiry`, with `window`, counts as a miss for a
/// job of `date` that it did not list.
pub fn counts_as_missed(expiry: Expiry, window: &FeedWindow, date: DateTime<Utc>) -> bool {
    match expiry {
        Expiry::Complete => true,
        Expiry::Never => false,
        Expiry::Window => window.covers(date),
    }
}

/// Whether a posting's URL answering `status` (after redirects) says the posting is gone:
/// 404 and 410 do; anything else (a 5xx, a 403 to robots, a 200) says nothing.
pub fn link_is_gone(status: u16) -> bool {
    matches!(status, 404 | 410)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        format!("2026-11-{day:02}T00:00:00Z").parse().unwrap()
    }

    #[test]
    fn a_window_spans_its_dated_postings_and_counts_the_undated() {
        let mut w = FeedWindow::default();
        for d in [Some(at(5)), None, Some(at(9)), Some(at(3))] {
            w.observe(d);
        }
        assert_eq!((w.oldest, w.newest), (Some(at(3)), Some(at(9))));
        assert_eq!((w.items, w.undated), (4, 1));
        assert!(w.covers(at(3)) && w.covers(at(20)));
        assert!(!w.covers(at(2)));
        assert!(!FeedWindow::default().covers(at(1)));
    }

    #[test]
    fn only_a_windowed_absence_inside_the_window_is_a_miss() {
        let mut w = FeedWindow::default();
        w.observe(Some(at(10)));
        assert!(counts_as_missed(Expiry::Window, &w, at(10)));
        assert!(!counts_as_missed(Expiry::Window, &w, at(9)));
        assert!(counts_as_missed(Expiry::Complete, &w, at(1)));
        assert!(!counts_as_missed(Expiry::Never, &w, at(11)));
    }

    #[test]
    fn only_not_found_and_gone_say_a_link_is_gone() {
        assert!(link_is_gone(404) && link_is_gone(410));
        for s in [200, 301, 403, 429, 500, 503] {
            assert!(!link_is_gone(s), "{s}");
        }
    }

    #[test]
    fn expiry_modes_read_and_write_by_name_with_window_by_default() {
        assert_eq!(Expiry::default(), Expiry::Window);
        for e in [Expiry::Window, Expiry::Complete, Expiry::Never] {
            assert_eq!(Expiry::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(Expiry::parse("sometimes"), None);
    }
}
