//! `GET /api/jobs/export`: the list's filters, CSV that spreadsheets read safely, NDJSON, and
//! an export far larger than the daemon's memory growth.

use futures_util::StreamExt;
use mongodb::bson::{Document, doc};
use serde_json::Value;

use crate::helpers::*;

fn job(id: &str, f: impl FnOnce(&mut Document)) -> Document {
    let mut d = doc! {
        "_id": id,
        "externalId": format!("ext-{id}"),
        "publisher": "example.com",
        "title": format!("Job {id}"),
        "company": "Example Co",
        "locations": ["Remote"],
        "remote": true,
        "employmentType": "FULL_TIME",
        "categories": [],
        "url": format!("https://example.com/jobs/{id}"),
        "datePosted": "2026-11-30T05:00:00.000Z",
        "status": "open",
        "sources": ["alpha"],
        "descriptionHtml": "<p>d</p>",
        "descriptionText": "d",
        "contentHash": "secret-hash",
        "firstSeenAt": "2026-11-30T05:00:00.000Z",
        "updatedAt": "2026-11-30T05:00:00.000Z",
        "lastSeenAt": "2026-11-30T05:00:00.000Z",
    };
    f(&mut d);
    d
}

/// An RFC 4180 reader, to read back what the export wrote.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field");
    assert!(
        field.is_empty() && row.is_empty(),
        "no CRLF after the last row"
    );
    rows
}

#[tokio::test]
async fn csv_export_escapes_quotes_commas_and_line_breaks_and_defuses_formulas() {
    let app = TestApp::spawn().await;
    let jobs = app.db.collection::<Document>("jobs");
    jobs.insert_many([
        job("j1", |d| {
            d.insert("title", "Engineer, \"Senior\"");
            d.insert("company", "=HYPERLINK(\"http://evil\",\"x\")");
            d.insert("locations", vec!["Berlin", "Paris"]);
            d.insert("descriptionText", "line one\nline two\r\nthree");
        }),
        job("j2", |d| {
            d.insert("title", "+33 dial");
            d.insert("company", "@SUM(A1)");
            d.insert("descriptionText", "-1");
            d.insert("salary", doc! {"min": 50000, "currency": "EUR"});
        }),
        job("j3", |d| {
            d.insert("status", "closed");
            d.insert("sources", vec!["beta"]);
            d.insert("title", "Closed elsewhere");
        }),
    ])
    .await
    .unwrap();

    let r = app.get("/api/jobs/export?format=csv&source=alpha").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let disposition = r.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"jobs-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = r.text().await.unwrap();
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 3, "{text}");
    let header = &rows[0];
    assert_eq!(header[0], "id");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (j1, j2) = (&rows[1], &rows[2]);
    assert_eq!(j1[col("id")], "j1");
    assert_eq!(j1[col("title")], "Engineer, \"Senior\"");
    assert_eq!(j1[col("company")], "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(j1[col("locations")], "Berlin; Paris");
    assert_eq!(j1[col("descriptionText")], "line one\nline two\r\nthree");
    assert_eq!(j2[col("title")], "'+33 dial");
    assert_eq!(j2[col("company")], "'@SUM(A1)");
    assert_eq!(j2[col("descriptionText")], "'-1");
    let salary: Value = serde_json::from_str(&j2[col("salary")]).unwrap();
    assert_eq!(salary["currency"], "EUR");
    assert_eq!(j2[col("remote")], "true");
    assert!(!text.contains("secret-hash"));

    // NDJSON: one document per line, the list's filters applied.
    let r = app
        .get("/api/jobs/export?format=ndjson&status=closed")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["_id"], "j3");
    assert_eq!(lines[0]["descriptionHtml"], "<p>d</p>");
    assert!(lines[0].get("contentHash").is_none());
    let r = app.get("/api/jobs/export?format=ndjson&q=engineer").await;
    assert_eq!(r.text().await.unwrap().lines().count(), 1);

    for (q, code) in [
        ("format=xml", "validation.format"),
        ("format=csv&page=2", "validation.query"),
        ("status[$ne]=open", "validation.query"),
        ("remote=maybe", "validation.remote"),
    ] {
        let (s, e) = get_json(&app, &format!("/api/jobs/export?{q}")).await;
        assert_eq!((s, e["error"]["code"].as_str()), (400, Some(code)), "{q}");
    }
    let r = get_with(&app, "/api/jobs/export", None).await;
    assert_eq!(r.status(), 401);
    app.cleanup().await;
}

/// `VmRSS` and `VmHWM` (peak) of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn an_export_of_100000_jobs_streams_without_holding_it_in_memory() {
    const JOBS: usize = 100_000;
    let s = test_settings();
    let client = mongodb::Client::with_uri_str(s.mongodb.uri.expose())
        .await
        .unwrap();
    let db = client.database(&s.mongodb.database);
    let coll = db.collection::<Document>("jobs");
    // About 400 bytes of text per job: the export is over 60 MB, far above what the daemon
    // may grow by.
    let filler = "lorem ipsum dolor sit amet, ".repeat(15);
    let started = std::time::Instant::now();
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(5_000) {
        let docs: Vec<Document> = chunk
            .iter()
            .map(|i| {
                job(&format!("job-{i:06}"), |d| {
                    d.insert("descriptionText", format!("{i} {filler}"));
                })
            })
            .collect();
        coll.insert_many(docs).await.unwrap();
    }

    let inserted = started.elapsed();
    job_importer::ingest::fetch::install_crypto_provider();
    let daemon = DaemonProcess::start(&s, "http", &[]);
    let addr = daemon
        .wait_listening(std::time::Duration::from_secs(60))
        .await;
    let pid = daemon.child.id();
    let http = reqwest::Client::new();
    // Warm up the path (first connections, pools), then take the baseline.
    let r = http
        .get(format!(
            "http://{addr}/api/jobs/export?format=csv&q=nothing-matches"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().lines().count(), 1);
    // Resets the peak (`VmHWM`) to the current size, so the peak read at the end is this
    // export's.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let (baseline, _) = memory_kb(pid);

    let r = http
        .get(format!("http://{addr}/api/jobs/export?format=csv"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let (mut bytes, mut rows, mut chunks) = (0usize, 0usize, 0usize);
    let mut last = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("the export is not cut off");
        bytes += chunk.len();
        chunks += 1;
        rows += chunk.iter().filter(|b| **b == b'\n').count();
        if chunk.len() > 40 {
            last = String::from_utf8_lossy(&chunk[chunk.len() - 40..]).into_owned();
        }
    }
    let (_, peak) = memory_kb(pid);
    let grew_kb = peak.saturating_sub(baseline);
    let export_kb = (bytes / 1024) as u64;
    eprintln!(
        "export: {export_kb} kB in {chunks} chunks; daemon {baseline} kB, peak +{grew_kb} kB; \
         jobs inserted in {inserted:?}, exported in {:?}",
        started.elapsed() - inserted
    );
    assert_eq!(rows, JOBS + 1, "a header and one line per job");
    assert!(last.ends_with("\r\n"), "{last:?}");
    assert!(export_kb > 60_000, "the export is {export_kb} kB");
    assert!(chunks > 100, "the body came in {chunks} chunks");
    // Held whole, the body alone would add its size; streamed, the daemon grows by a few
    // cursor batches and chunks.
    assert!(
        grew_kb < export_kb / 4,
        "the daemon's peak memory grew by {grew_kb} kB for an export of {export_kb} kB"
    );
    drop(daemon);
    db.drop().await.ok();
}
