//! Atom `type="xhtml"` content: the markup inside is XML, so it is rebuilt as HTML text from
//! the events instead of being flattened to its text like other fields.

use quick_xml::events::BytesStart;

use super::local;
use crate::ingest::text::decode_entities;

/// Elements without an end tag in HTML; writing `</br>` would read as a second `<br>`.
const VOID: [&str; 8] = ["area", "br", "col", "hr", "img", "source", "track", "wbr"];

/// Open markup inside one xhtml field.
pub struct Xhtml {
    /// Depth of the field element (`content`, `summary`).
    pub depth: usize,
    /// Open elements inside it; `None` for the wrapper `div`, which is not content (RFC 4287
    /// §3.1.1.3).
    names: Vec<Option<String>>,
}

impl Xhtml {
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            names: Vec::new(),
        }
    }

    /// A start tag at `depth` (below the field): its HTML form is appended to `out`.
    pub fn open(&mut self, e: &BytesStart<'_>, depth: usize, out: &mut String) {
        let qname = e.name().as_ref().to_owned();
        let name = local(&qname).to_ascii_lowercase();
        if depth == self.depth + 1 && name == "div" && self.names.is_empty() {
            self.names.push(None);
            return;
        }
        out.push('<');
        out.push_str(&name);
        for a in e.html_attributes().flatten() {
            let key = a.key.as_ref().to_owned();
            if key == "xmlns" || key.starts_with("xmlns:") || key.starts_with("xml:") {
                continue;
            }
            let value = decode_entities(&a.value).into_owned();
            out.push(' ');
            out.push_str(local(&key));
            out.push_str("=\"");
            out.push_str(&html_escape::encode_double_quoted_attribute(&value));
            out.push('"');
        }
        out.push('>');
        self.names.push(Some(name));
    }

    /// An end tag below the field.
    pub fn close(&mut self, out: &mut String) {
        if let Some(Some(name)) = self.names.pop()
            && !VOID.contains(&name.as_str())
        {
            out.push_str("</");
            out.push_str(&name);
            out.push('>');
        }
    }

    /// Text below the field, escaped again because it is now HTML.
    pub fn text(s: &str, out: &mut String) {
        out.push_str(&html_escape::encode_text(s));
    }
}
