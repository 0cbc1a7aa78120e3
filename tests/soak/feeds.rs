//! The feeds of a scenario: per publisher a catalog of items (each with a revision), per source
//! a sequence of versions drawn from it, and how each version is written as RSS.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use rand::Rng;
use rand::rngs::StdRng;

/// One entry of a feed version. An invalid entry has no title (`item.missing_title`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: u32,
    pub rev: u32,
    pub valid: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Version {
    pub items: Vec<Item>,
    /// The document is cut inside the item at this position (the items before it are whole).
    pub cut_at: Option<usize>,
}

impl Version {
    /// The valid items, first occurrence of each id (what a clean run stores).
    pub fn distinct_valid(&self) -> Vec<Item> {
        let mut seen = HashSet::new();
        self.items
            .iter()
            .filter(|i| i.valid && seen.insert(i.id))
            .copied()
            .collect()
    }

    pub fn duplicates(&self) -> usize {
        let mut seen = HashSet::new();
        self.items
            .iter()
            .filter(|i| i.valid && !seen.insert(i.id))
            .count()
    }

    pub fn invalid(&self) -> usize {
        self.items.iter().filter(|i| !i.valid).count()
    }

    /// The oldest posting date among the items a clean read of this version stores: the lower
    /// edge of its window (`None` when it stores none: such a run covers nothing).
    pub fn window_start(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.distinct_valid().iter().map(|i| posted(i.id)).min()
    }
}

/// How a source is served for the whole scenario.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    pub name: String,
    pub publisher: usize,
    /// ETag and Last-Modified, and 304 to a matching conditional GET.
    pub validators: bool,
    /// Delay before every answer.
    pub delay_ms: u64,
    /// Chance (per mille) that a request is answered 500, 503 or 429 with `Retry-After`.
    pub fail_per_mille: u32,
    /// Six-field cron, or `None` for a source that only runs when triggered.
    pub cron: Option<String>,
    pub window: usize,
    /// The source's expiry mode: `window` (absence counts only for jobs not older than the
    /// oldest item the run read) or `complete` (absence counts for every job).
    pub windowed: bool,
}

impl SourceSpec {
    pub fn expiry(&self) -> &'static str {
        if self.windowed { "window" } else { "complete" }
    }
}

/// The posting date of item `id` (every item of a publisher keeps one date; a newer item has
/// a later one, as in a feed listing the newest postings first).
pub fn posted(id: u32) -> chrono::DateTime<chrono::Utc> {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    base + chrono::Duration::minutes(i64::from(id) * 7)
}

pub fn publisher_name(p: usize) -> String {
    format!("pub{p}")
}

/// Every source's versions, built up step by step while the scenario is generated.
#[derive(Clone, Debug)]
pub struct Feeds {
    pub sources: Vec<SourceSpec>,
    pub versions: Vec<Vec<Version>>,
    /// Per publisher: item id → current revision.
    catalog: Vec<HashMap<u32, u32>>,
    next_id: Vec<u32>,
    next_bad: u32,
}

impl Feeds {
    pub fn new(sources: Vec<SourceSpec>, publishers: usize, rng: &mut StdRng) -> Self {
        let mut f = Self {
            versions: vec![Vec::new(); sources.len()],
            sources,
            catalog: vec![HashMap::new(); publishers],
            next_id: vec![0; publishers],
            next_bad: 0,
        };
        for s in 0..f.sources.len() {
            let n = rng.random_range(3..=f.sources[s].window);
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(f.new_item(s));
            }
            f.versions[s].push(Version {
                items,
                cut_at: None,
            });
        }
        f
    }

    fn new_item(&mut self, s: usize) -> Item {
        let p = self.sources[s].publisher;
        let id = self.next_id[p];
        self.next_id[p] += 1;
        self.catalog[p].insert(id, 0);
        Item {
            id,
            rev: 0,
            valid: true,
        }
    }

    pub fn current(&self, s: usize) -> &Version {
        self.versions[s].last().unwrap_or_else(|| unreachable!())
    }

    /// The next version of source `s`; returns a one-line summary of what changed.
    pub fn advance(&mut self, s: usize, rng: &mut StdRng) -> String {
        let p = self.sources[s].publisher;
        let mut ids: Vec<u32> = self
            .current(s)
            .distinct_valid()
            .iter()
            .map(|i| i.id)
            .collect();
        let mut notes = Vec::new();
        let added = rng.random_range(0..=3);
        for _ in 0..added {
            let it = self.new_item(s);
            ids.insert(0, it.id);
        }
        if added > 0 {
            notes.push(format!("+{added} new at the top"));
        }
        let before = ids.len();
        ids.retain(|_| !rng.random_bool(0.1));
        if ids.len() < before {
            notes.push(format!("-{} removed", before - ids.len()));
        }
        let mut edited = 0;
        for id in &ids {
            if rng.random_bool(0.15) {
                *self.catalog[p].entry(*id).or_insert(0) += 1;
                edited += 1;
            }
        }
        if edited > 0 {
            notes.push(format!("{edited} edited"));
        }
        let peers: Vec<usize> = (0..self.sources.len())
            .filter(|&o| o != s && self.sources[o].publisher == p)
            .collect();
        if !peers.is_empty() && rng.random_bool(0.4) {
            let o = peers[rng.random_range(0..peers.len())];
            let theirs = self.current(o).distinct_valid();
            if !theirs.is_empty() {
                let shared = theirs[rng.random_range(0..theirs.len())].id;
                if !ids.contains(&shared) {
                    let at = rng.random_range(0..=ids.len());
                    ids.insert(at, shared);
                    notes.push(format!("shares job {shared} of source {o}"));
                }
            }
        }
        let window = self.sources[s].window;
        if ids.len() > window {
            notes.push(format!("window slid by {}", ids.len() - window));
            ids.truncate(window);
        }
        let mut items: Vec<Item> = ids
            .iter()
            .map(|&id| Item {
                id,
                rev: self.catalog[p][&id],
                valid: true,
            })
            .collect();
        if !items.is_empty() && rng.random_bool(0.3) {
            let copy = items[rng.random_range(0..items.len())];
            let at = rng.random_range(0..=items.len());
            // After its first occurrence, so which copy counts is the same for every reader.
            let first = items.iter().position(|i| i.id == copy.id).unwrap_or(0);
            items.insert(at.max(first + 1), copy);
            notes.push(format!("job {} twice", copy.id));
        }
        if rng.random_bool(0.2) {
            let bad = Item {
                id: self.next_bad,
                rev: 0,
                valid: false,
            };
            self.next_bad += 1;
            let at = rng.random_range(0..=items.len());
            items.insert(at, bad);
            notes.push("1 without a title".into());
        }
        let cut_at =
            (items.len() > 2 && rng.random_bool(0.12)).then(|| rng.random_range(1..items.len()));
        if let Some(c) = cut_at {
            notes.push(format!("truncated inside item {c}"));
        }
        let n = items.len();
        self.versions[s].push(Version { items, cut_at });
        let v = self.versions[s].len() - 1;
        if notes.is_empty() {
            notes.push("same items".into());
        }
        format!(
            "source {s} -> version {v} ({n} entries: {})",
            notes.join(", ")
        )
    }
}

pub fn title(publisher: usize, it: &Item) -> String {
    format!("{} job {} r{}", publisher_name(publisher), it.id, it.rev)
}

pub fn guid(publisher: usize, it: &Item) -> String {
    if it.valid {
        format!(
            "https://{}.example.com/jobs/{}",
            publisher_name(publisher),
            it.id
        )
    } else {
        format!(
            "https://{}.example.com/bad/{}",
            publisher_name(publisher),
            it.id
        )
    }
}

/// The RSS document of a version (cut off when the version says so).
pub fn render(publisher: usize, v: &Version) -> Vec<u8> {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>soak</title>"#,
    );
    let mut cut = None;
    for (i, it) in v.items.iter().enumerate() {
        if v.cut_at == Some(i) {
            cut = Some(s.len() + 40);
        }
        s.push_str("<item>");
        if it.valid {
            let _ = write!(
                s,
                "<title>{}</title><pubDate>{}</pubDate>",
                title(publisher, it),
                posted(it.id).to_rfc2822()
            );
        }
        let g = guid(publisher, it);
        let _ = write!(
            s,
            "<guid>{g}</guid><link>{g}</link><description><![CDATA[<p>Job {} revision {} of a long enough description</p>]]></description></item>",
            it.id, it.rev
        );
    }
    s.push_str("</channel></rss>");
    let mut b = s.into_bytes();
    if let Some(c) = cut {
        b.truncate(c.min(b.len()));
    }
    b
}
