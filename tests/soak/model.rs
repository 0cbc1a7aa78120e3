//! What the system stored, read back (runs, jobs), and the model computed from the feed
//! versions and the feed server's log alone: which version each run read, and which contents a
//! job may hold at a given moment.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document};

use crate::feed_server::{Answer, Served};
use crate::feeds::{Feeds, Version};

pub type Time = DateTime<Utc>;

/// A job of the model: (publisher, item id).
pub type Identity = (usize, u32);

/// What a job may hold: absent, or an item revision.
pub type Content = Option<u32>;

#[derive(Clone, Debug)]
pub struct Run {
    pub id: String,
    pub source: usize,
    pub status: String,
    pub trigger: String,
    /// The cron tick a scheduled run was started for.
    pub tick: Option<Time>,
    pub start: Time,
    pub finish: Option<Time>,
    pub counts: Counts,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: i64,
    pub new: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub duplicate: i64,
    pub failed: i64,
}

#[derive(Clone, Debug)]
pub struct Job {
    pub identity: Identity,
    pub rev: Option<u32>,
    pub closed: bool,
    pub sources: Vec<String>,
    pub raw_id: String,
}

fn int(d: &Document, k: &str) -> i64 {
    match d.get(k) {
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Double(v)) => *v as i64,
        _ => 0,
    }
}

fn time(d: &Document, k: &str) -> Option<Time> {
    let s = d.get_str(k).ok()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn run_from(d: &Document, source_ids: &[String]) -> Option<Run> {
    let sid = d.get_str("sourceId").ok()?;
    let source = source_ids.iter().position(|s| s == sid)?;
    Some(Run {
        id: d.get_str("_id").ok()?.to_owned(),
        source,
        status: d.get_str("status").unwrap_or("?").to_owned(),
        trigger: d.get_str("trigger").unwrap_or("?").to_owned(),
        tick: time(d, "scheduledFor"),
        start: time(d, "importDateTime")?,
        finish: time(d, "finishedAt"),
        counts: Counts {
            total: int(d, "totalFetched"),
            new: int(d, "newJobs"),
            updated: int(d, "updatedJobs"),
            unchanged: int(d, "unchangedJobs"),
            duplicate: int(d, "duplicateJobs"),
            failed: int(d, "failedJobs"),
        },
        error: d
            .get_document("error")
            .ok()
            .map(|e| e.get_str("code").unwrap_or("?").to_owned()),
    })
}

/// A stored job mapped back to the model's identity (`pub{p}` and `.../jobs/{id}`), with the
/// revision its title names.
pub fn job_from(d: &Document) -> Option<Job> {
    let publisher = d.get_str("publisher").ok()?;
    let p: usize = publisher.strip_prefix("pub")?.parse().ok()?;
    let ext = d.get_str("externalId").ok()?;
    let id: u32 = ext
        .rsplit_once("/jobs/")?
        .1
        .trim_end_matches('/')
        .parse()
        .ok()?;
    let rev = d
        .get_str("title")
        .ok()
        .and_then(|t| t.rsplit_once(" r"))
        .and_then(|(_, r)| r.parse().ok());
    let sources = d
        .get_array("sources")
        .map(|a| {
            a.iter()
                .filter_map(|b| b.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some(Job {
        identity: (p, id),
        rev,
        closed: d.get_str("status").ok() == Some("closed"),
        sources,
        raw_id: d.get_str("_id").unwrap_or("?").to_owned(),
    })
}

/// Which versions a run was served (200s, in order) and whether another run of its source
/// overlapped it (then the attribution of reads by time is ambiguous).
#[derive(Clone, Debug, Default)]
pub struct Reads {
    pub bodies: Vec<(Time, usize, bool)>,
    pub not_modified: Vec<(Time, usize)>,
    pub overlapped: bool,
}

impl Reads {
    /// The version the run read last, when it was a whole document.
    pub fn last_body(&self) -> Option<(usize, bool)> {
        self.bodies.last().map(|&(_, v, t)| (v, t))
    }
}

/// The requests of the run's source that arrived while the run was in progress.
pub fn reads_of(run: &Run, runs: &[Run], served: &[Served]) -> Reads {
    let end = run.finish.unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut r = Reads {
        overlapped: runs.iter().any(|o| {
            o.id != run.id
                && o.source == run.source
                && o.start < end
                && o.finish.unwrap_or(DateTime::<Utc>::MAX_UTC) > run.start
        }),
        ..Default::default()
    };
    for s in served
        .iter()
        .filter(|s| s.source == run.source && s.at >= run.start && s.at <= end)
    {
        match s.answer {
            Answer::Body { version, truncated } => r.bodies.push((s.at, version, truncated)),
            Answer::NotModified { version } => r.not_modified.push((s.at, version)),
            Answer::Error(_) => {}
        }
    }
    r
}

/// A write the model knows of: a run that may have stored `content` for a job in
/// `[from, to]`; `definite` when it certainly did by `to` (a completed run's last version).
#[derive(Clone, Debug)]
pub struct Write {
    pub from: Time,
    pub to: Time,
    pub content: Content,
    pub definite: bool,
    pub run: String,
}

/// Every write per job: each read of a run may have stored its items; a completed run stored
/// the items of the version it read last; a fresh database stored "absent" for everything.
pub fn writes(
    feeds: &Feeds,
    runs: &[Run],
    reads: &HashMap<String, Reads>,
    wipes: &[Time],
    identities: &BTreeSet<Identity>,
) -> HashMap<Identity, Vec<Write>> {
    let mut out: HashMap<Identity, Vec<Write>> = HashMap::new();
    let mut add = |p: usize, v: &Version, w: &Write| {
        for it in v.items.iter().filter(|i| i.valid) {
            out.entry((p, it.id)).or_default().push(Write {
                content: Some(it.rev),
                ..w.clone()
            });
        }
    };
    for run in runs {
        let p = feeds.sources[run.source].publisher;
        let to = run.finish.unwrap_or(DateTime::<Utc>::MAX_UTC);
        let Some(rd) = reads.get(&run.id) else {
            continue;
        };
        for &(_, v, _) in &rd.bodies {
            let w = Write {
                from: run.start,
                to,
                content: None,
                definite: false,
                run: run.id.clone(),
            };
            add(p, &feeds.versions[run.source][v], &w);
        }
        if run.status == "completed"
            && let Some((v, false)) = rd.last_body()
            && !rd.overlapped
        {
            let w = Write {
                from: run.start,
                to,
                content: None,
                definite: true,
                run: run.id.clone(),
            };
            add(p, &feeds.versions[run.source][v], &w);
        }
    }
    for &t in wipes {
        for &id in identities {
            out.entry(id).or_default().push(Write {
                from: t,
                to: t,
                content: None,
                definite: true,
                run: "fresh database".into(),
            });
        }
    }
    out
}

/// What a job may hold when a run that began at `t` and ended at `until` looks at it: the
/// content of the last definite write that ended before `t` (absent when none), plus every
/// write that may have happened between that write's start and `until` (a run of another
/// source that overlaps may store a shared job first). `exclude` leaves out the run judged.
pub fn possible(ws: &[Write], t: Time, until: Time, exclude: &str) -> BTreeSet<Content> {
    let last = ws
        .iter()
        .filter(|w| w.definite && w.to < t && w.run != exclude)
        .max_by_key(|w| w.to);
    let mut set = BTreeSet::new();
    set.insert(last.and_then(|w| w.content));
    let since = last.map(|w| w.from);
    for w in ws {
        if w.run == exclude || w.from >= until {
            continue;
        }
        if since.is_none_or(|s| w.to > s) {
            set.insert(w.content);
        }
    }
    set
}
