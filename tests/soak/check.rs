//! The checks after a scenario: what was stored against the model (see `model`). Each returns
//! violations as sentences naming the run, the job and what the model allowed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::feed_server::{Answer, Served};
use crate::feeds::Feeds;
use crate::model::{self, Content, Identity, Job, Reads, Run, Time};

pub struct Input<'a> {
    pub feeds: &'a Feeds,
    pub close_after: u32,
    pub runs: &'a [Run],
    pub jobs: &'a [Job],
    pub served: &'a [Served],
    pub wipes: &'a [Time],
    pub source_ids: &'a [String],
    /// Every key of the prefix was deleted at some point (running leases included).
    pub leases_lost: bool,
}

const FINAL: [&str; 4] = ["completed", "partial", "failed", "not_modified"];

fn show(c: &Content) -> String {
    c.map_or("absent".into(), |r| format!("r{r}"))
}

fn show_set(s: &BTreeSet<Content>) -> String {
    s.iter().map(show).collect::<Vec<_>>().join(" or ")
}

fn ts(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn check(inp: &Input<'_>) -> Vec<String> {
    let mut v = Vec::new();
    let reads: HashMap<String, Reads> = inp
        .runs
        .iter()
        .map(|r| (r.id.clone(), model::reads_of(r, inp.runs, inp.served)))
        .collect();
    // Every identity any run was served (valid items of any body).
    let mut served_ids: BTreeMap<Identity, BTreeSet<usize>> = BTreeMap::new();
    for s in inp.served {
        if let Answer::Body { version, .. } = s.answer {
            let p = inp.feeds.sources[s.source].publisher;
            for it in inp.feeds.versions[s.source][version]
                .items
                .iter()
                .filter(|i| i.valid)
            {
                served_ids.entry((p, it.id)).or_default().insert(s.source);
            }
        }
    }
    let identities: BTreeSet<Identity> = served_ids.keys().copied().collect();
    let writes = model::writes(inp.feeds, inp.runs, &reads, inp.wipes, &identities);
    let none = Vec::new();

    for r in inp.runs {
        if !FINAL.contains(&r.status.as_str()) {
            v.push(format!(
                "run {} of source {} was left {} once the system was quiet",
                r.id, r.source, r.status
            ));
            continue;
        }
        let c = &r.counts;
        if c.total != c.new + c.updated + c.unchanged + c.duplicate + c.failed {
            v.push(format!(
                "run {} ({}): totalFetched {} != new {} + updated {} + unchanged {} + duplicate {} + failed {}",
                r.id, r.status, c.total, c.new, c.updated, c.unchanged, c.duplicate, c.failed
            ));
        }
    }
    runs_per_source(inp, &reads, &mut v);

    for r in inp.runs.iter().filter(|r| r.status == "completed") {
        let rd = &reads[&r.id];
        let Some((ver, truncated)) = rd.last_body() else {
            v.push(format!(
                "run {} of source {} completed without reading the feed (it got {} answers 304, versions {:?})",
                r.id,
                r.source,
                rd.not_modified.len(),
                rd.not_modified.iter().map(|n| n.1).collect::<Vec<_>>()
            ));
            continue;
        };
        if truncated {
            v.push(format!(
                "run {} of source {} completed, but the last document it read (version {ver}) was truncated",
                r.id, r.source
            ));
            continue;
        }
        if rd.overlapped {
            continue;
        }
        let version = &inp.feeds.versions[r.source][ver];
        let p = inp.feeds.sources[r.source].publisher;
        let (mut lo, mut hi) = ([0i64; 3], [0i64; 3]);
        let mut unsure = Vec::new();
        for it in version.distinct_valid() {
            let ws = writes.get(&(p, it.id)).unwrap_or(&none);
            let until = r.finish.unwrap_or(DateTime::<Utc>::MAX_UTC);
            let before = model::possible(ws, r.start, until, &r.id);
            let kinds: BTreeSet<usize> = before
                .iter()
                .map(|c| match c {
                    None => 0,
                    Some(rev) if *rev != it.rev => 1,
                    Some(_) => 2,
                })
                .collect();
            for &k in &kinds {
                hi[k] += 1;
                if kinds.len() == 1 {
                    lo[k] += 1;
                }
            }
            if kinds.len() > 1 {
                unsure.push(format!("job {} may be {}", it.id, show_set(&before)));
            }
        }
        let c = &r.counts;
        let got = [c.new, c.updated, c.unchanged];
        let names = ["new", "updated", "unchanged"];
        let mut wrong = Vec::new();
        for (((name, got), lo), hi) in names.iter().zip(got).zip(lo).zip(hi) {
            if got < lo || got > hi {
                wrong.push(if lo == hi {
                    format!("{name} {got} (expected {lo})")
                } else {
                    format!("{name} {got} (expected {lo}..={hi})")
                });
            }
        }
        let distinct = version.distinct_valid().len() as i64;
        if c.new + c.updated + c.unchanged != distinct {
            wrong.push(format!(
                "new+updated+unchanged {} (expected {distinct})",
                c.new + c.updated + c.unchanged
            ));
        }
        for (name, got, want) in [
            ("totalFetched", c.total, version.items.len() as i64),
            ("duplicate", c.duplicate, version.duplicates() as i64),
            ("failed", c.failed, version.invalid() as i64),
        ] {
            if got != want {
                wrong.push(format!("{name} {got} (expected {want})"));
            }
        }
        if !wrong.is_empty() {
            v.push(format!(
                "run {} of source {} (completed, read version {ver} last, {} reads: {:?}) counted {}{}",
                r.id,
                r.source,
                rd.bodies.len(),
                rd.bodies.iter().map(|b| b.1).collect::<Vec<_>>(),
                wrong.join(", "),
                if unsure.is_empty() {
                    String::new()
                } else {
                    format!(" [uncertain: {}]", unsure.join("; "))
                }
            ));
        }
    }

    not_modified_answers(inp, &reads, &mut v);
    stored_jobs(inp, &writes, &served_ids, &mut v);
    expiry(inp, &reads, &served_ids, &mut v);
    v
}

/// One run per source at a time; at most one scheduled run per tick.
fn runs_per_source(inp: &Input<'_>, reads: &HashMap<String, Reads>, v: &mut Vec<String>) {
    if !inp.leases_lost {
        let mut seen = HashSet::new();
        for r in inp.runs.iter().filter(|r| reads[&r.id].overlapped) {
            if seen.insert(r.source) {
                let others: Vec<String> = inp
                    .runs
                    .iter()
                    .filter(|o| o.source == r.source && reads[&o.id].overlapped)
                    .map(|o| {
                        format!(
                            "{} ({}, {} .. {})",
                            o.id,
                            o.status,
                            ts(o.start),
                            o.finish.map_or("-".into(), ts)
                        )
                    })
                    .collect();
                v.push(format!(
                    "source {} had runs in progress at the same time: {}",
                    r.source,
                    others.join(", ")
                ));
            }
        }
    }
    // One scheduled run per source and cron tick: each records its tick (a database dropped in
    // between took the record of the first with it).
    let mut ticks: HashMap<(usize, Time), &Run> = HashMap::new();
    let mut sched: Vec<&Run> = inp
        .runs
        .iter()
        .filter(|r| r.trigger == "schedule")
        .collect();
    sched.sort_by_key(|r| r.start);
    for r in sched {
        let Some(tick) = r.tick else {
            v.push(format!("scheduled run {} records no tick", r.id));
            continue;
        };
        if let Some(other) = ticks.insert((r.source, tick), r)
            && !inp.wipes.iter().any(|w| *w > other.start && *w < r.start)
        {
            v.push(format!(
                "source {} was run twice for one tick ({}): runs {} and {} at {} and {}",
                r.source,
                ts(tick),
                other.id,
                r.id,
                ts(other.start),
                ts(r.start)
            ));
        }
    }
}

/// Completed runs in order of their end, with the version each read last.
fn completed_reads<'a>(
    inp: &'a Input<'_>,
    reads: &'a HashMap<String, Reads>,
    source: usize,
) -> Vec<(&'a Run, usize)> {
    let mut out: Vec<(&Run, usize)> = inp
        .runs
        .iter()
        .filter(|r| r.source == source && r.status == "completed" && r.finish.is_some())
        .filter_map(|r| match reads[&r.id].last_body() {
            Some((ver, false)) => Some((r, ver)),
            _ => None,
        })
        .collect();
    out.sort_by_key(|(r, _)| r.finish);
    out
}

/// A 304 is right only for the version that the source's last completed run read: validators
/// are those of a body whose run stored it all.
fn not_modified_answers(inp: &Input<'_>, reads: &HashMap<String, Reads>, v: &mut Vec<String>) {
    for s in inp.served {
        let Answer::NotModified { version } = s.answer else {
            continue;
        };
        let done = completed_reads(inp, reads, s.source);
        let wipe = inp.wipes.iter().filter(|w| **w < s.at).max();
        let last = done.iter().rfind(|(r, _)| {
            r.finish.is_some_and(|f| f < s.at) && wipe.is_none_or(|w| r.start > *w)
        });
        let ending = done
            .iter()
            .filter(|(r, _)| r.start <= s.at && r.finish.is_some_and(|f| f >= s.at));
        let mut allowed: BTreeSet<usize> = ending.map(|(_, ver)| *ver).collect();
        if let Some((_, ver)) = last {
            allowed.insert(*ver);
        }
        if !allowed.contains(&version) {
            v.push(format!(
                "source {} was answered 304 at {} with the validators of version {version}, but its last completed run had read {}",
                s.source,
                ts(s.at),
                last.map_or("nothing".into(), |(r, ver)| format!("version {ver} (run {})", r.id))
            ));
        }
    }
}

/// Every job holds a content the model allows, once, with only sources that carried it.
fn stored_jobs(
    inp: &Input<'_>,
    writes: &HashMap<Identity, Vec<model::Write>>,
    served_ids: &BTreeMap<Identity, BTreeSet<usize>>,
    v: &mut Vec<String>,
) {
    let mut stored: HashMap<Identity, &Job> = HashMap::new();
    for j in inp.jobs {
        if stored.insert(j.identity, j).is_some() {
            v.push(format!("job {:?} is stored twice", j.identity));
        }
    }
    let none = Vec::new();
    let end = DateTime::<Utc>::MAX_UTC;
    for (id, sources) in served_ids {
        let allowed = model::possible(writes.get(id).unwrap_or(&none), end, end, "");
        let got: Content = stored.get(id).map(|j| j.rev.unwrap_or(u32::MAX));
        if !allowed.contains(&got) {
            v.push(format!(
                "job pub{}/{} is {}, the model allows {}",
                id.0,
                id.1,
                if got.is_some() {
                    format!("stored with {}", show(&got))
                } else {
                    "not stored".into()
                },
                show_set(&allowed)
            ));
        }
        if let Some(j) = stored.get(id) {
            for s in &j.sources {
                let ok = inp
                    .source_ids
                    .iter()
                    .position(|x| x == s)
                    .is_some_and(|i| sources.contains(&i));
                if !ok {
                    v.push(format!(
                        "job pub{}/{} lists source `{s}`, which never served it",
                        id.0, id.1
                    ));
                }
            }
        }
    }
    for j in inp.jobs {
        if !served_ids.contains_key(&j.identity) {
            v.push(format!(
                "job {} ({:?}) was never served",
                j.raw_id, j.identity
            ));
        }
    }
}

/// Closed only after `close_after` complete runs of every source carrying it missed it (for a
/// windowed source, only runs whose window held the job: not older than the oldest item the
/// run read); open while the last complete run of a source carrying it saw it.
fn expiry(
    inp: &Input<'_>,
    reads: &HashMap<String, Reads>,
    served_ids: &BTreeMap<Identity, BTreeSet<usize>>,
    v: &mut Vec<String>,
) {
    let last_wipe = inp.wipes.iter().max();
    let stored: HashMap<Identity, &Job> = inp.jobs.iter().map(|j| (j.identity, j)).collect();
    for s in 0..inp.feeds.sources.len() {
        let p = inp.feeds.sources[s].publisher;
        let Some((r, ver)) = completed_reads(inp, reads, s).into_iter().next_back() else {
            continue;
        };
        if last_wipe.is_some_and(|w| r.start < *w) || reads[&r.id].overlapped {
            continue;
        }
        for it in inp.feeds.versions[s][ver].distinct_valid() {
            if let Some(j) = stored.get(&(p, it.id))
                && j.closed
            {
                v.push(format!(
                    "job pub{p}/{} is closed, but the last complete run of source {s} ({}) saw it",
                    it.id, r.id
                ));
            }
        }
    }
    if last_wipe.is_some() || inp.close_after == 0 {
        return;
    }
    let carries = |s: usize, id: Identity, r: &Run| {
        reads[&r.id].bodies.iter().any(|&(_, ver, _)| {
            inp.feeds.versions[s][ver]
                .items
                .iter()
                .any(|i| i.valid && (inp.feeds.sources[s].publisher, i.id) == id)
        })
    };
    for (id, sources) in served_ids {
        let Some(j) = stored.get(id) else { continue };
        if j.closed {
            continue;
        }
        let mut missed_everywhere = true;
        for &s in sources {
            let last_touch = inp
                .runs
                .iter()
                .filter(|r| r.source == s && carries(s, *id, r))
                .map(|r| r.finish.unwrap_or(DateTime::<Utc>::MAX_UTC))
                .max();
            let spec = &inp.feeds.sources[s];
            let date = crate::feeds::posted(id.1);
            let after = completed_reads(inp, reads, s)
                .iter()
                .filter(|(r, _)| last_touch.is_none_or(|t| r.start > t) && !reads[&r.id].overlapped)
                .filter(|(_, ver)| {
                    !spec.windowed
                        || inp.feeds.versions[s][*ver]
                            .window_start()
                            .is_some_and(|oldest| date >= oldest)
                })
                .count();
            if after < inp.close_after as usize {
                missed_everywhere = false;
                break;
            }
        }
        if missed_everywhere {
            v.push(format!(
                "job pub{}/{} is open, but at least {} complete runs of every source that carried it ({:?}) missed it",
                id.0, id.1, inp.close_after, sources
            ));
        }
    }
}
