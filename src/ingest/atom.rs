//! Atom 1.0 (and 0.3) entry fields. The driver in [`super::xml`] streams the entries; this
//! module only maps fields.

use super::item::RawItem;
use super::xml::{Field, local};

/// Maps one entry child (or grandchild, for `author/name`) onto the raw item.
pub fn map_field(item: &mut RawItem, f: &mut Field<'_>) {
    let text = f.text.as_str();
    let set = |slot: &mut Option<String>, value: &str| {
        if slot.is_none() && !value.trim().is_empty() {
            *slot = Some(value.to_owned());
        }
    };
    if let Some(parent) = f.parent {
        if local(parent) == "author" && local(f.name) == "name" {
            set(&mut item.author, text);
        }
        return;
    }
    match local(f.name) {
        "id" => set(&mut item.guid, text),
        "title" => set(&mut item.title, text),
        "link" => {
            // rel defaults to alternate; enclosures, edits and replies are not the posting.
            let rel = f.attr("rel").unwrap_or("alternate");
            if rel == "alternate"
                && let Some(href) = f.attr("href")
            {
                set(&mut item.link, href);
            }
        }
        // `published` is when the job was posted; `updated` (or 0.3's `issued`/`modified`)
        // only stands in when it is missing.
        "published" | "issued" => item.date = Some(text.to_owned()),
        "updated" | "modified" => set(&mut item.date, text),
        "summary" => set(&mut item.summary, &as_html(f)),
        "content" => set(&mut item.content, &as_html(f)),
        "category" => {
            if let Some(term) = f.attr("label").or(f.attr("term")) {
                item.categories.push(term.to_owned());
            }
        }
        "author" => {}
        _ => item.add_extra(f.name, text),
    }
}

/// Atom text constructs: `type="text"` (the default) is plain text and must be escaped before
/// it is treated as HTML; `html` is escaped HTML (already unescaped by the XML layer); `xhtml`
/// arrives as HTML rebuilt by the driver (see `xml::xhtml`).
fn as_html(f: &Field<'_>) -> String {
    match f.attr("type") {
        Some("html") | Some("text/html") | Some("xhtml") => f.text.clone(),
        _ => html_escape::encode_text(&f.text).into_owned(),
    }
}
