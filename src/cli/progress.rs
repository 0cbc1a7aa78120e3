//! A one-line progress bar for `job-importer import`, drawn on stderr only when it is a
//! terminal, so piped output and `--json` stay clean.

use std::io::{IsTerminal, Write};

use crate::domain::ImportRun;

const WIDTH: usize = 30;

pub struct Progress {
    enabled: bool,
    drawn: bool,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    pub fn update(&mut self, run: &ImportRun) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        write!(err, "\r\x1b[2K{}", line(run)).ok();
        err.flush().ok();
        self.drawn = true;
    }

    /// Ends the bar's line so the summary starts on its own.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// `[#########.....] 3/10 batches  1,500 items  new 20  updated 3  failed 1  running`
pub fn line(run: &ImportRun) -> String {
    let (done, total) = (
        run.batches_done.max(0),
        run.batches_total.unwrap_or(0).max(0),
    );
    let filled = if total > 0 {
        (done as usize * WIDTH / total as usize).min(WIDTH)
    } else {
        0
    };
    let batches = match run.batches_total {
        Some(t) => format!("{done}/{t} batches"),
        None => format!("{done} batches (reading feed)"),
    };
    format!(
        "[{}{}] {batches}  {} items  new {}  updated {}  failed {}  {}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        run.items_done,
        run.new_jobs,
        run.updated_jobs,
        run.failed_jobs,
        run.status.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Trigger;

    #[test]
    fn the_bar_fills_with_the_batches_done() {
        let mut r =
            ImportRun::new_queued("r".into(), "s", "S", "u", Trigger::Cli, chrono::Utc::now());
        assert!(line(&r).contains("reading feed"));
        r.batches_total = Some(4);
        r.batches_done = 2;
        let l = line(&r);
        assert!(
            l.starts_with(&format!("[{}{}]", "#".repeat(15), ".".repeat(15))),
            "{l}"
        );
        assert!(l.contains("2/4 batches"));
    }
}
