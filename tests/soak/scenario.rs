//! A scenario drawn from a seed: its sources, their feed versions, the daemons' settings and
//! the numbered steps (feed changes, triggers, faults). The same seed draws the same scenario.

use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::feeds::{Feeds, SourceSpec};

/// The daemon processes of every scenario: two with every role (two HTTP fronts, two
/// schedulers), one fetcher and worker only.
pub const DAEMON_ROLES: [&str; 3] = [
    "scheduler,fetcher,worker,http",
    "scheduler,fetcher,worker,http",
    "fetcher,worker",
];

#[derive(Clone, Debug)]
pub enum Step {
    /// The feed server serves the source's next version from now on.
    Advance {
        source: usize,
        version: usize,
        what: String,
    },
    Trigger {
        source: usize,
        daemon: usize,
    },
    /// Both HTTP daemons are asked to run the source at the same moment.
    TriggerTwice {
        source: usize,
    },
    Sleep {
        ms: u64,
    },
    /// Signal a daemon, wait for it to exit, start it again after `pause_ms`.
    Kill {
        daemon: usize,
        signal: &'static str,
        pause_ms: u64,
    },
    /// SIGSTOP a daemon for longer than three heartbeats, then SIGCONT: its batches are
    /// delivered again to another worker while it still holds them.
    Freeze {
        daemon: usize,
        ms: u64,
    },
    /// Redis killed and started again; with `loading`, a large append-only file first.
    RestartRedis {
        loading: bool,
        pause_ms: u64,
    },
    RestartMongo {
        pause_ms: u64,
    },
    /// Deletes the job index's keys of the prefix (`part`: about half of them; `everything`:
    /// every key of the prefix, queues and leases included).
    LoseIndex {
        part: bool,
        everything: bool,
    },
    /// Waits until no run is in progress, drops the database, restarts the daemons and
    /// creates the sources again: a fresh database under the old Redis index.
    FreshDatabase,
    WaitQuiet,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Advance { what, .. } => write!(f, "advance {what}"),
            Step::Trigger { source, daemon } => {
                write!(f, "trigger source {source} through daemon {daemon}")
            }
            Step::TriggerTwice { source } => {
                write!(f, "trigger source {source} through daemons 0 and 1 at once")
            }
            Step::Sleep { ms } => write!(f, "sleep {ms} ms"),
            Step::Kill {
                daemon,
                signal,
                pause_ms,
            } => write!(
                f,
                "kill -{signal} daemon {daemon} ({}), restart after {pause_ms} ms",
                DAEMON_ROLES[*daemon]
            ),
            Step::Freeze { daemon, ms } => write!(f, "freeze daemon {daemon} for {ms} ms"),
            Step::RestartRedis { loading, pause_ms } => write!(
                f,
                "restart Redis{} after {pause_ms} ms",
                if *loading {
                    " with a large append-only file (LOADING)"
                } else {
                    ""
                }
            ),
            Step::RestartMongo { pause_ms } => {
                write!(f, "stop FerretDB, start it after {pause_ms} ms")
            }
            Step::LoseIndex { part, everything } => write!(
                f,
                "delete {} of the prefix",
                match (everything, part) {
                    (true, _) => "every key",
                    (false, true) => "part of the job index keys",
                    (false, false) => "the job index keys",
                }
            ),
            Step::FreshDatabase => write!(f, "fresh database under the old index"),
            Step::WaitQuiet => write!(f, "wait until no run is in progress"),
        }
    }
}

/// The daemons' settings a scenario draws.
#[derive(Clone, Debug)]
pub struct Knobs {
    pub batch_size: usize,
    pub stale_after_secs: u64,
    pub close_after_missed_runs: u32,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub knobs: Knobs,
    pub feeds: Feeds,
    pub steps: Vec<Step>,
}

impl Scenario {
    pub fn generate(seed: u64, max_steps: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let publishers = rng.random_range(1..=2);
        let n_sources = rng.random_range(2..=4);
        // Drawn apart from the scenario's stream, so each seed keeps the scenario it drew
        // before sources had an expiry mode.
        let mut modes = StdRng::seed_from_u64(seed ^ 0x5eed_e291);
        let sources: Vec<SourceSpec> = (0..n_sources)
            .map(|i| SourceSpec {
                windowed: modes.random_bool(0.5),
                name: format!("Soak {i}"),
                publisher: i % publishers,
                validators: rng.random_bool(0.5),
                delay_ms: if rng.random_bool(0.25) {
                    rng.random_range(200..1500)
                } else {
                    0
                },
                fail_per_mille: [0, 0, 150, 300][rng.random_range(0..4)],
                cron: rng
                    .random_bool(0.4)
                    .then(|| format!("*/{} * * * * *", rng.random_range(3..=6))),
                window: rng.random_range(6..=30),
            })
            .collect();
        let knobs = Knobs {
            batch_size: [3, 5, 10, 1000][rng.random_range(0..4)],
            stale_after_secs: [2, 3, 5, 30][rng.random_range(0..4)],
            close_after_missed_runs: rng.random_range(1..=3),
        };
        let mut feeds = Feeds::new(sources, publishers, &mut rng);
        let n_steps = rng.random_range(max_steps / 2..=max_steps);
        let mut steps = Vec::with_capacity(n_steps);
        for _ in 0..n_steps {
            let source = rng.random_range(0..n_sources);
            let step = match rng.random_range(0..100) {
                0..=21 => {
                    let what = feeds.advance(source, &mut rng);
                    Step::Advance {
                        source,
                        version: feeds.versions[source].len() - 1,
                        what,
                    }
                }
                22..=41 => Step::Trigger {
                    source,
                    daemon: rng.random_range(0..2),
                },
                42..=47 => Step::TriggerTwice { source },
                48..=59 => Step::Sleep {
                    ms: rng.random_range(100..2500),
                },
                60..=69 => Step::Kill {
                    daemon: rng.random_range(0..DAEMON_ROLES.len()),
                    signal: if rng.random_bool(0.6) { "KILL" } else { "TERM" },
                    pause_ms: rng.random_range(0..2000),
                },
                70..=73 => Step::Freeze {
                    daemon: rng.random_range(0..DAEMON_ROLES.len()),
                    ms: rng.random_range(3500..6000),
                },
                74..=78 => Step::RestartRedis {
                    loading: rng.random_bool(0.3),
                    pause_ms: rng.random_range(0..1500),
                },
                79..=83 => Step::RestartMongo {
                    pause_ms: rng.random_range(0..2500),
                },
                84..=89 => Step::LoseIndex {
                    part: rng.random_bool(0.5),
                    everything: rng.random_bool(0.25),
                },
                90..=91 => Step::FreshDatabase,
                _ => Step::WaitQuiet,
            };
            steps.push(step);
        }
        Self {
            seed,
            knobs,
            feeds,
            steps,
        }
    }

    /// The scenario as printed on failure: its settings, sources and numbered steps.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "seed {}: batch_size {}, stale_after_secs {}, close_after_missed_runs {}\n",
            self.seed,
            self.knobs.batch_size,
            self.knobs.stale_after_secs,
            self.knobs.close_after_missed_runs
        );
        for (i, s) in self.feeds.sources.iter().enumerate() {
            out.push_str(&format!(
                "  source {i}: publisher pub{}, expiry {}, {}, delay {} ms, fails {}/1000, {}, window {}, version 0 has {} entries\n",
                s.publisher,
                s.expiry(),
                if s.validators { "validators" } else { "no validators" },
                s.delay_ms,
                s.fail_per_mille,
                s.cron.as_deref().map_or("manual only".to_owned(), |c| format!("cron {c}")),
                s.window,
                self.feeds.versions[i][0].items.len(),
            ));
        }
        for (i, st) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {st}\n", i + 1));
        }
        out
    }
}
