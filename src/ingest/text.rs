//! Plain-text normalization shared by every format: entity decoding, tag stripping, control
//! character removal, Unicode NFC, whitespace collapsing and length caps.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Resolves an XML entity reference (the name between `&` and `;`). Unknown names return
/// `None`; callers keep them literally, because a sloppy feed must not lose the whole item.
pub fn resolve_entity(name: &str) -> Option<Cow<'static, str>> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code)
            .filter(|c| is_allowed_char(*c))
            .map(|c| c.to_string().into());
    }
    quick_xml::escape::resolve_html5_entity(name).map(Cow::Borrowed)
}

/// XML 1.0 `Char` minus the C0/C1 controls that only cause trouble downstream (MongoDB, JSON,
/// terminals). Tab and newlines are kept.
pub fn is_allowed_char(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => false,
        '\u{fffe}' | '\u{ffff}' => false,
        // Bidi overrides let a title display reversed text (catalog D54).
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => false,
        _ => true,
    }
}

/// Removes characters that are not allowed in stored text.
pub fn strip_control(s: &str) -> Cow<'_, str> {
    // Printable ASCII, tab and line breaks are allowed: only other bytes need the char walk.
    let clean_ascii = |b: &u8| matches!(b, b' '..=b'~' | b'\t' | b'\n' | b'\r');
    let all_clean = s
        .as_bytes()
        .chunks(64)
        .all(|c| c.iter().fold(true, |ok, b| ok & clean_ascii(b)));
    if all_clean || s.chars().all(is_allowed_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|c| is_allowed_char(*c)).collect())
    }
}

/// Unicode NFC, so that `é` typed as one code point and as `e` + combining accent store (and
/// de-duplicate) the same (catalog D54). Borrows when the text already is NFC, as nearly all is.
pub fn nfc(s: &str) -> Cow<'_, str> {
    // Characters below U+0300 (lead bytes below 0xCC) are NFC and never combine with what
    // precedes them, so text made only of them is NFC.
    let low = s
        .as_bytes()
        .chunks(64)
        .all(|c| c.iter().fold(true, |ok, &b| ok & (b < 0xCC)));
    if low || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// Cuts `s` to at most `max` characters, on a character boundary.
pub fn truncate_chars(s: &mut String, max: usize) {
    // No more bytes than the cap means no more characters: skip the walk.
    if s.len() <= max {
        return;
    }
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
    }
}

/// Decodes HTML entities once (`&amp;amp;` becomes `&amp;`). Feeds put HTML-escaped text
/// inside CDATA, which the XML layer returns raw.
pub fn decode_entities(s: &str) -> Cow<'_, str> {
    if memchr::memchr(b'&', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    html_escape::decode_html_entities(s)
}

/// Removes markup: anything from `<` followed by a letter, `/`, `!` or `?` up to the next `>`.
/// A lone `<` (as in "salary < 50k") is kept.
pub fn strip_tags(s: &str) -> Cow<'_, str> {
    if !s.contains('<') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || "/!?".contains(c));
        match after.find('>') {
            Some(end) if opens_tag => {
                // A tag boundary separates words ("a<br>b" reads "a b").
                out.push(' ');
                rest = &after[end + 1..];
            }
            _ if opens_tag => {
                rest = "";
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Collapses runs of whitespace into one space and trims the ends.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

const VISIBLE: u8 = 0;
const SPACE: u8 = 1;
const OTHER: u8 = 2;

/// Byte classes for [`Collapser`]: ASCII whitespace as `char::is_whitespace` has it, other
/// ASCII, and non-ASCII bytes (decoded as characters).
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => SPACE,
            _ => VISIBLE,
        };
        b += 1;
    }
    t
};

/// Builds text line by line as pieces arrive: whitespace runs within a line become one space,
/// lines are trimmed and empty lines dropped, lines joined by `\n`. Feeding pieces and then
/// [`Collapser::finish`] equals splitting the concatenation into lines, collapsing each with
/// [`collapse_whitespace`], dropping empty ones and joining with `\n`.
pub struct Collapser {
    out: String,
    /// A space is owed before the next visible character of this line.
    space: bool,
    /// The current line has a visible character.
    line_started: bool,
}

impl Collapser {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            out: String::with_capacity(n),
            space: false,
            line_started: false,
        }
    }

    pub fn feed(&mut self, s: &str) {
        if self.feed_simple(s) {
            return;
        }
        let bytes = s.as_bytes();
        // `s[run..i]` is visible text already separated from what precedes it, not yet copied.
        let mut run = 0;
        let mut i = 0;
        while i < bytes.len() {
            // Inside a word: skip visible ASCII quickly.
            if self.line_started && !self.space {
                while i < bytes.len() && CLASS[bytes[i] as usize] == VISIBLE {
                    i += 1;
                }
                if i == bytes.len() {
                    break;
                }
            }
            let b = bytes[i];
            let (ws, len) = match CLASS[b as usize] {
                VISIBLE => (false, 1),
                SPACE => (true, 1),
                _ => {
                    let c = s[i..].chars().next().unwrap_or('\0');
                    (c.is_whitespace(), c.len_utf8())
                }
            };
            if ws {
                self.out.push_str(&s[run..i]);
                if b == b'\n' {
                    self.line_started = false;
                    self.space = false;
                } else if self.line_started {
                    self.space = true;
                }
                run = i + len;
            } else if !self.line_started || self.space {
                self.out.push_str(&s[run..i]);
                if !self.line_started {
                    if !self.out.is_empty() {
                        self.out.push('\n');
                    }
                } else {
                    self.out.push(' ');
                }
                self.space = false;
                self.line_started = true;
                run = i;
            }
            i += len;
        }
        self.out.push_str(&s[run..]);
    }

    /// Text of printable ASCII with single spaces between words, the bulk of any description,
    /// is copied whole: the byte-by-byte walk would copy it unchanged. Returns whether it was.
    fn feed_simple(&mut self, s: &str) -> bool {
        let start = s.len() - s.trim_start_matches(' ').len();
        let t = s[start..].trim_end_matches(' ');
        let (lead, trail) = (start > 0, start + t.len() < s.len());
        if t.is_empty() || !is_simple(t.as_bytes()) {
            return false;
        }
        if !self.line_started {
            if !self.out.is_empty() {
                self.out.push('\n');
            }
            self.line_started = true;
        } else if self.space || lead {
            self.out.push(' ');
        }
        self.out.push_str(t);
        self.space = trail;
        true
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Printable ASCII (0x20 to 0x7E) without two spaces in a row: 16 bytes per step on x86-64.
fn is_simple(b: &[u8]) -> bool {
    let mut i = 0;
    let mut prev_space = false;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        while i + 16 <= b.len() {
            // SAFETY: the 16 bytes from `i` are inside `b` and the load needs no alignment;
            // SSE2, all these intrinsics need, is part of every x86-64 CPU.
            let (odd, spaces) = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast());
                // Signed compare: bytes from 0x80 up are negative, so below 0x20 too.
                let odd = _mm_or_si128(
                    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
                );
                let spaces = _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8));
                (_mm_movemask_epi8(odd), _mm_movemask_epi8(spaces) as u32)
            };
            if odd != 0 || spaces & (spaces >> 1) != 0 || (prev_space && spaces & 1 != 0) {
                return false;
            }
            prev_space = spaces & 0x8000 != 0;
            i += 16;
        }
    }
    for &c in &b[i..] {
        if !(b' '..0x7f).contains(&c) || (prev_space && c == b' ') {
            return false;
        }
        prev_space = c == b' ';
    }
    true
}

/// The pipeline for titles and short fields: strip tags, decode entities once, strip again
/// (decoded `&lt;b&gt;` is markup too), drop control characters, NFC, collapse whitespace, cap.
/// Returns `None` when nothing is left.
pub fn plain(raw: &str, max_chars: usize) -> Option<String> {
    let stripped = strip_tags(raw);
    let decoded = decode_entities(&stripped);
    let stripped = strip_tags(&decoded);
    let mut out = collapse_whitespace(&nfc(&strip_control(&stripped)));
    truncate_chars(&mut out, max_chars);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition [`Collapser`] must meet: lines collapsed one by one, empty ones dropped.
    fn collapsed_lines(s: &str) -> String {
        s.split('\n')
            .map(collapse_whitespace)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn simple_text_is_printable_ascii_without_double_spaces_at_any_offset() {
        let base = "We are looking for a Senior Engineer to join our platform team now";
        assert!(is_simple(base.as_bytes()));
        for at in 0..base.len() {
            for bad in ["  ", "\t", "\n", "\u{7f}", "\u{1}", "é", "\u{a0}"] {
                let mut s = base.to_owned();
                s.insert_str(at, bad);
                assert!(!is_simple(s.as_bytes()), "{s:?}");
            }
        }
    }

    #[test]
    fn collapser_fed_in_pieces_equals_collapsing_the_whole_text() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let atoms = [
            "a", "word", "x.y", " ", "  ", "\n", "\t", "\u{a0}", "é", "\u{2003}", "\r\n", "\u{1}",
        ];
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let mut pieces = Vec::new();
            for _ in 0..rng.random_range(0..6) {
                let mut p = String::new();
                for _ in 0..rng.random_range(0..6) {
                    p.push_str(atoms[rng.random_range(0..atoms.len())]);
                }
                pieces.push(p);
            }
            let mut c = Collapser::with_capacity(0);
            for p in &pieces {
                c.feed(p);
            }
            assert_eq!(c.finish(), collapsed_lines(&pieces.concat()), "{pieces:?}");
        }
    }

    #[test]
    fn plain_decodes_strips_and_collapses() {
        // As the XML layer hands it over: `&amp;amp;` in the source is `&amp;` here.
        let raw = "Senior <b>Dev</b> &amp;\n\t Lead";
        assert_eq!(plain(raw, 100).as_deref(), Some("Senior Dev & Lead"));
        assert_eq!(
            plain("Senior &lt;b&gt;Dev&lt;/b&gt;", 100).as_deref(),
            Some("Senior Dev")
        );
    }

    #[test]
    fn plain_keeps_a_lone_less_than_sign() {
        assert_eq!(plain("pay < 50k", 100).as_deref(), Some("pay < 50k"));
    }

    #[test]
    fn plain_drops_control_and_bidi_characters_and_caps_length() {
        assert_eq!(plain("a\u{0}b\u{202e}c", 100).as_deref(), Some("abc"));
        assert_eq!(plain("héllo wörld", 4).as_deref(), Some("héll"));
        assert_eq!(plain("  <br/> ", 10), None);
    }

    #[test]
    fn plain_text_is_nfc_so_composed_and_decomposed_forms_are_equal() {
        let composed = plain("Caf\u{e9} Lead", 100);
        let decomposed = plain("Cafe\u{301} Lead", 100);
        assert_eq!(composed.as_deref(), Some("Caf\u{e9} Lead"));
        assert_eq!(composed, decomposed);
        assert!(matches!(nfc("plain ascii"), Cow::Borrowed(_)));
    }

    #[test]
    fn entities_resolve_numeric_and_html5_names_but_not_unknown_ones() {
        assert_eq!(resolve_entity("#8211").as_deref(), Some("\u{2013}"));
        assert_eq!(resolve_entity("#x41").as_deref(), Some("A"));
        assert_eq!(resolve_entity("nbsp").as_deref(), Some("\u{a0}"));
        assert_eq!(resolve_entity("#0"), None);
        assert_eq!(resolve_entity("xxe"), None);
    }
}
