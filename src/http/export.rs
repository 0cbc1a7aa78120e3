//! Jobs written out as CSV (RFC 4180, safe to open in a spreadsheet) or NDJSON (one job
//! document per line, as `GET /api/jobs/{id}` serves it), in chunks of about `CHUNK_BYTES`
//! so a response streams at the pace its reader takes it.

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

use crate::store::StoreError;
use crate::store::mongo::jobs_query::JobView;

/// Bytes gathered before a chunk is handed to the connection: large enough to keep per-chunk
/// costs small, small enough to be nothing next to a cursor batch.
const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }
}

/// The CSV columns, in order. Lists are joined with `"; "`; the salary is its JSON.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "externalId",
    "publisher",
    "title",
    "company",
    "locations",
    "remote",
    "employmentType",
    "categories",
    "url",
    "datePosted",
    "salary",
    "status",
    "sources",
    "firstSeenAt",
    "updatedAt",
    "lastSeenAt",
    "descriptionText",
];

/// One CSV field. A value that a spreadsheet would run as a formula (it starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading `'`, so it is shown as text; a value
/// holding a quote, a comma or a line break is quoted, with its quotes doubled.
pub fn csv_field(value: &str, out: &mut String) {
    let guarded = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = value.contains(['"', ',', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    if quoted {
        for c in value.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn csv_record<'a>(fields: impl IntoIterator<Item = &'a str>, out: &mut String) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(f, out);
    }
    out.push_str("\r\n");
}

pub fn csv_header(out: &mut String) {
    csv_record(CSV_COLUMNS.iter().copied(), out);
}

pub fn csv_row(job: &JobView, out: &mut String) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let salary = job
        .salary
        .as_ref()
        .filter(|v| !v.is_null())
        .map(|v| v.to_string())
        .unwrap_or_default();
    let remote = job.remote.map(|r| r.to_string()).unwrap_or_default();
    let values: [String; 18] = [
        job.id.clone(),
        job.external_id.clone(),
        opt(&job.publisher),
        job.title.clone(),
        opt(&job.company),
        job.locations.join("; "),
        remote,
        opt(&job.employment_type),
        job.categories.join("; "),
        opt(&job.url),
        opt(&job.date_posted),
        salary,
        opt(&job.status),
        job.sources.join("; "),
        opt(&job.first_seen_at),
        opt(&job.updated_at),
        opt(&job.last_seen_at),
        opt(&job.description_text),
    ];
    csv_record(values.iter().map(String::as_str), out);
}

pub fn ndjson_row(job: &JobView, out: &mut String) {
    // A JobView always serializes; an error would be a bug, and it drops only this line.
    if let Ok(line) = serde_json::to_string(job) {
        out.push_str(&line);
        out.push('\n');
    }
}

/// The body of an export: the rows of `jobs` in `format`, gathered into chunks. A failure of
/// the cursor ends the stream with an error, so the client sees a cut-off response (no
/// final chunk) rather than a short file that looks complete.
pub fn body(
    format: Format,
    jobs: impl Stream<Item = Result<JobView, StoreError>> + Unpin + 'static,
) -> impl Stream<Item = Result<Bytes, StoreError>> {
    let mut header = String::new();
    if format == Format::Csv {
        csv_header(&mut header);
    }
    futures_util::stream::unfold(
        (jobs, Some(header)),
        move |(mut jobs, pending)| async move {
            let mut buf = pending?;
            loop {
                match jobs.next().await {
                    Some(Ok(job)) => {
                        match format {
                            Format::Csv => csv_row(&job, &mut buf),
                            Format::Ndjson => ndjson_row(&job, &mut buf),
                        }
                        if buf.len() >= CHUNK_BYTES {
                            return Some((Ok(Bytes::from(buf)), (jobs, Some(String::new()))));
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "export cut off: the jobs could not be read");
                        return Some((Err(e), (jobs, None)));
                    }
                    None if buf.is_empty() => return None,
                    None => return Some((Ok(Bytes::from(buf)), (jobs, None))),
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(v: &str) -> String {
        let mut s = String::new();
        csv_field(v, &mut s);
        s
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed_and_quotes_are_doubled() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field(""), "");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\rlf"), "\"cr\rlf\"");
        assert_eq!(field("naïve 東京"), "naïve 東京");
    }

    #[test]
    fn values_a_spreadsheet_would_evaluate_are_prefixed_with_a_quote() {
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("+33 1 23"), "'+33 1 23");
        assert_eq!(field("-2"), "'-2");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("\tx"), "'\tx");
        assert_eq!(
            field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        // Only at the start.
        assert_eq!(field("a=b"), "a=b");
    }
}
