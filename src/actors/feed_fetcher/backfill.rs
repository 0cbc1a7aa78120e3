//! A backfill: one run that reads the feed's pages one after the other (page 1 is the
//! source's URL; page N adds the paging parameter, `paged=N` for WordPress), through the same
//! batcher, so the run's batches, generations and per-identity counts are those of any run:
//! a posting listed on two pages is one job, counted once (the second listing is a
//! duplicate). The walk stops at an empty page, a page with nothing new, the page cap, the
//! last page (404/410) or an error; each page is noted on the run as it is read. A page that
//! fails transiently is fetched again (`pipeline.max_fetch_attempts`, with backoff); one that
//! still fails ends the walk and the run is `partial` with the reason.

use std::time::{Duration, Instant};

use super::fetch_run::{Batcher, PageRead, Read, finish, queue_failed, read_body};
use crate::actors::pipeline::Pipeline;
use crate::actors::retry::backoff;
use crate::domain::source::Source;
use crate::domain::{Backfill, BackfillPage, BackfillStop, Failure};
use crate::ingest::fetch::{FetchBody, FetchError, FetchRequest, FetchResponse};
use crate::store::StoreError;

/// The longest a page waits before it is fetched again (a longer `Retry-After` ends the walk).
const MAX_PAGE_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The URL of page `page` of the feed at `url`: `param=page` replaces any value it had.
pub fn page_url(url: &str, param: &str, page: u32) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(param, &page.to_string());
    Some(u.to_string())
}

/// Walks the pages; `first` is page 1's body, already fetched.
pub(super) async fn walk(
    p: &Pipeline,
    task: &Read,
    source: &Source,
    mut walk: Backfill,
    first: FetchBody,
    epoch: Option<String>,
    started: Instant,
) -> Result<(), StoreError> {
    walk.pages.clear();
    walk.stopped = None;
    let mut b = Batcher::new(p, task, source, epoch).tracking_fresh();
    let mut parse_time = Duration::ZERO;
    let mut error: Option<Failure> = None;
    let mut body = first;
    let mut page: u32 = 1;
    let mut attempts: u32 = 1;
    let stop = loop {
        let read = match read_body(p, source, body, &mut b).await {
            Ok(r) => r,
            Err(e) => return queue_failed(p, task, e).await,
        };
        parse_time += read.parse_time;
        let fresh = b.take_fresh();
        let known = p.store.count_stored_before(&fresh, &task.run_id).await?;
        let new = fresh.len() as i64 - known as i64;
        walk.pages.push(BackfillPage {
            page,
            items: read.items,
            new,
            attempts,
            error: read.error.clone(),
        });
        if let Some(param) = walk
            .page_param
            .clone()
            .or_else(|| page_param(source, &read))
        {
            walk.page_param = Some(param);
        }
        note(p, task, &walk).await?;
        if let Some(e) = read.error {
            error = Some(e);
            break BackfillStop::Error;
        }
        if read.items == 0 {
            break BackfillStop::EmptyPage;
        }
        if new == 0 {
            break BackfillStop::NothingNew;
        }
        // The walk is one fetch step: it ends at the page cap, or before the next page could
        // outlast the step's time limit (`pipeline.step_timeout_secs`).
        let next_page = Duration::from_millis(
            p.settings.pipeline.backfill_page_delay_ms + p.settings.fetch.total_timeout_ms,
        );
        if page >= walk.max_pages
            || started.elapsed() + next_page >= p.settings.pipeline.step_timeout() * 9 / 10
        {
            break BackfillStop::PageCap;
        }
        let Some(param) = walk.page_param.clone() else {
            break BackfillStop::NoPageParam;
        };
        page += 1;
        tokio::time::sleep(Duration::from_millis(
            p.settings.pipeline.backfill_page_delay_ms,
        ))
        .await;
        let Some(url) = page_url(&source.url, &param, page) else {
            break BackfillStop::NoPageParam;
        };
        match fetch_page(p, source, &url).await {
            (Ok(next), tries) => {
                body = next;
                attempts = tries;
            }
            (Err(e), _) if matches!(e.status, Some(404 | 410)) => break BackfillStop::LastPage,
            (Err(e), tries) => {
                let f = Failure::new(e.code, format!("page {page}: {}", e.message));
                walk.pages.push(BackfillPage {
                    page,
                    items: 0,
                    new: 0,
                    attempts: tries,
                    error: Some(f.clone()),
                });
                error = Some(f);
                break BackfillStop::Error;
            }
        }
    };
    walk.stopped = Some(stop);
    note(p, task, &walk).await?;
    tracing::info!(run_id = %task.run_id, pages = walk.pages.len(), stop = ?stop, "backfill walked");
    let fetch_ms = started.elapsed().as_millis() as i64;
    let timing = (fetch_ms, parse_time.as_millis() as i64);
    // Validators belong to the plain URL's last read; a backfill leaves them alone.
    finish(p, b, error.as_ref(), None, timing).await
}

/// The paging parameter: the source's own, else `paged` for a WordPress feed.
fn page_param(source: &Source, read: &PageRead) -> Option<String> {
    source
        .page_param
        .clone()
        .or_else(|| read.wordpress.then(|| "paged".to_owned()))
}

/// Writes the walk so far onto the run and keeps the source's lease (the walk is progress).
async fn note(p: &Pipeline, task: &Read, walk: &Backfill) -> Result<(), StoreError> {
    let noting = p.store.note_backfill(&task.run_id, task.generation, walk);
    let run = p.with_run_lock(&task.run_id, noting).await?;
    if let Some(r) = &run {
        p.runs
            .renew_running(&r.source_id, &r.id, Duration::ZERO)
            .await?;
    }
    p.changed(run).await;
    Ok(())
}

/// Fetches one page, again after transient failures; returns the attempts made.
async fn fetch_page(
    p: &Pipeline,
    source: &Source,
    url: &str,
) -> (Result<FetchBody, FetchError>, u32) {
    let req = FetchRequest {
        url: url.to_owned(),
        user_agent: source.user_agent.clone(),
        etag: None,
        last_modified: None,
        max_body_bytes: source.max_body_bytes,
        allow_private_networks: source.allow_private_networks,
    };
    let max = p.settings.pipeline.max_fetch_attempts.max(1);
    let mut attempt = 1;
    loop {
        let e = match p.fetcher.fetch(&req).await {
            Ok(FetchResponse::Body(body)) => return (Ok(body), attempt),
            // Nothing was sent to be compared with; a server that says so anyway has no page.
            Ok(FetchResponse::NotModified) => FetchError {
                status: Some(404),
                ..FetchError::permanent(crate::domain::codes::FETCH_NOT_MODIFIED, "304 for a page")
            },
            Err(e) => e,
        };
        let delay = backoff(p.settings.pipeline.retry_base(), attempt + 1, e.retry_after);
        if !e.transient || attempt >= max || delay > MAX_PAGE_RETRY_DELAY {
            return (Err(e), attempt);
        }
        tracing::info!(
            url,
            code = e.code,
            ?delay,
            "backfill page will be fetched again"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_url_sets_the_parameter_once_and_keeps_the_rest() {
        assert_eq!(
            page_url("https://b.example/?feed=job_feed&paged=1", "paged", 3).as_deref(),
            Some("https://b.example/?feed=job_feed&paged=3")
        );
        assert_eq!(
            page_url("https://b.example/feed/", "page", 2).as_deref(),
            Some("https://b.example/feed/?page=2")
        );
    }
}
