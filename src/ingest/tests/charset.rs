//! Character encodings: BOMs, UTF-16, Windows-1252 and lying declarations (catalog C34-C36).

use super::{fixture, opts, postings, run};

const FEED: &str = "<?xml version=\"1.0\" encoding=\"ENC\"?><rss version=\"2.0\"><channel>\
    <item><title>Caf\u{e9} \u{201c}Dev\u{201d} \u{20ac}</title><guid>1</guid></item></channel></rss>";

fn title_of(bytes: &[u8], header: Option<&str>) -> (String, Option<&'static str>) {
    let mut o = opts("https://ex.com/");
    o.header_charset = header.map(str::to_owned);
    let (items, summary) = run(bytes, &o);
    assert_eq!(summary.error, None);
    (postings(items).remove(0).title, summary.encoding)
}

fn utf16(s: &str, little: bool) -> Vec<u8> {
    s.encode_utf16()
        .flat_map(|u| {
            if little {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            }
        })
        .collect()
}

const WANT: &str = "Caf\u{e9} \u{201c}Dev\u{201d} \u{20ac}";

#[test]
fn utf8_with_and_without_bom_reads_the_same() {
    let doc = FEED.replace("ENC", "UTF-8");
    assert_eq!(title_of(doc.as_bytes(), None).0, WANT);
    let with_bom = [&b"\xEF\xBB\xBF"[..], doc.as_bytes()].concat();
    assert_eq!(title_of(&with_bom, None), (WANT.to_owned(), Some("UTF-8")));
}

#[test]
fn utf16_with_bom_and_without_reads_the_same() {
    let doc = FEED.replace("ENC", "UTF-16");
    let le = [&[0xFF, 0xFE][..], &utf16(&doc, true)].concat();
    let be = [&[0xFE, 0xFF][..], &utf16(&doc, false)].concat();
    assert_eq!(title_of(&le, None), (WANT.to_owned(), Some("UTF-16LE")));
    assert_eq!(title_of(&be, None), (WANT.to_owned(), Some("UTF-16BE")));
    assert_eq!(title_of(&utf16(&doc, true), None).0, WANT, "no BOM");
}

#[test]
fn iso_8859_1_label_reads_as_windows_1252_smart_quotes_and_euro() {
    let (title, enc) = title_of(&encode_1252(&FEED.replace("ENC", "ISO-8859-1")), None);
    assert_eq!((title.as_str(), enc), (WANT, Some("windows-1252")));
    let (items, _) = run(
        fixture!("latin1_windows1252.xml"),
        &opts("https://emplois.example/"),
    );
    let job = postings(items).remove(0);
    assert_eq!(
        job.title,
        "D\u{e9}veloppeur \u{201c}backend\u{201d} \u{2013} caf\u{e9} \u{20ac}"
    );
    assert!(
        job.description_text
            .is_some_and(|t| t.contains("Z\u{fc}rich"))
    );
}

#[test]
fn valid_utf8_wins_over_a_lying_latin1_declaration() {
    let doc = FEED.replace("ENC", "ISO-8859-1");
    assert_eq!(
        title_of(doc.as_bytes(), None),
        (WANT.to_owned(), Some("UTF-8"))
    );
}

#[test]
fn latin1_bytes_under_a_utf8_header_are_still_readable() {
    let doc = encode_1252(&FEED.replace(" encoding=\"ENC\"", ""));
    assert_eq!(title_of(&doc, Some("utf-8")).0, WANT);
}

#[test]
fn header_charset_beats_the_xml_declaration() {
    let doc = FEED.replace("ENC", "UTF-8").replace(
        "Caf\u{e9} \u{201c}Dev\u{201d} \u{20ac}",
        "\u{41f}\u{440}\u{43e}\u{433}\u{440}\u{430}\u{43c}\u{43c}\u{438}\u{441}\u{442}",
    );
    let (bytes, _, _) = encoding_rs::KOI8_R.encode(&doc);
    assert_eq!(
        title_of(&bytes, Some("koi8-r")).0,
        "\u{41f}\u{440}\u{43e}\u{433}\u{440}\u{430}\u{43c}\u{43c}\u{438}\u{441}\u{442}"
    );
}

#[test]
fn invalid_utf8_sequences_are_replaced_not_fatal() {
    let doc = FEED.replace("ENC", "UTF-8").replace("Dev", "D\u{1}ev");
    let mut bytes = doc.into_bytes();
    let at = bytes.windows(3).position(|w| w == b"D\x01e").unwrap_or(0);
    bytes.splice(at..at, [0xED, 0xA0, 0x80, 0xC0, 0xAF]);
    let (title, _) = title_of(&bytes, None);
    assert!(
        title.starts_with("Caf\u{e9} \u{201c}") && title.contains("ev"),
        "{title}"
    );
    assert!(!title.contains('\u{1}'));
}

fn encode_1252(s: &str) -> Vec<u8> {
    encoding_rs::WINDOWS_1252.encode(s).0.into_owned()
}

#[test]
fn one_byte_reads_split_characters_without_damage() {
    let padding = "<!-- pad -->".repeat(200);
    let doc = FEED
        .replace("ENC", "UTF-8")
        .replace("<rss", &format!("{padding}<rss"));
    let docs = [
        doc.clone().into_bytes(),
        [&[0xFF, 0xFE][..], &utf16(&doc, true)].concat(),
        encode_1252(&doc.replace("UTF-8", "windows-1252")),
    ];
    for bytes in docs {
        let reader = std::io::BufReader::with_capacity(1, &bytes[..]);
        let mut titles = Vec::new();
        let summary = crate::ingest::parse(reader, &opts("https://ex.com/"), &mut |item| {
            titles.push(item.map(|j| j.title));
            std::ops::ControlFlow::Continue(())
        });
        assert_eq!(summary.error, None);
        assert_eq!(titles, [Ok(WANT.to_owned())]);
    }
}

#[test]
fn an_unknown_label_falls_back_to_the_bytes_utf8_or_windows_1252() {
    let doc = FEED.replace("ENC", "utf8mb4");
    assert_eq!(
        title_of(doc.as_bytes(), None),
        (WANT.to_owned(), Some("UTF-8"))
    );
    let latin = encode_1252(&FEED.replace("ENC", "x-no-such-charset"));
    assert_eq!(
        title_of(&latin, None),
        (WANT.to_owned(), Some("windows-1252"))
    );
    assert_eq!(title_of(&latin, Some("bogus")).0, WANT);
}

#[test]
fn a_label_that_cannot_be_decoded_safely_is_a_parse_encoding_error() {
    let latin = encode_1252(&FEED.replace(" encoding=\"ENC\"", ""));
    let (_, summary) = run(&latin, &opts("https://ex.com/"));
    assert_eq!(summary.error, None, "no label: Windows-1252");
    let mut o = opts("https://ex.com/");
    o.header_charset = Some("iso-2022-kr".into());
    let (items, summary) = run(&latin, &o);
    let error = summary.error.unwrap_or_else(|| panic!("no error"));
    assert_eq!(error.code, crate::domain::codes::PARSE_ENCODING);
    assert!(error.message.contains("iso-2022-kr"), "{}", error.message);
    assert!(items.is_empty());
    // Valid UTF-8 under the same label still reads.
    let utf8 = FEED.replace(" encoding=\"ENC\"", "");
    let (_, summary) = run(utf8.as_bytes(), &o);
    assert_eq!(summary.error, None);
}
