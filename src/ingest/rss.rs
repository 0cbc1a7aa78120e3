//! RSS 2.0, 0.9x and RDF (RSS 1.0) item fields, including the WP Job Manager `job_listing:*`
//! extension. The driver in [`super::xml`] streams the items; this module only maps fields.

use super::item::RawItem;
use super::xml::{Field, local, prefix};

/// The WP Job Manager prefix. Its namespace URI is each site's own URL, so fields are
/// recognised by prefix and local name, never by URI.
const WPJM: &str = "job_listing";

/// Maps one RSS item child (or grandchild) onto the raw item; anything unknown goes to `extra`.
pub fn map_field(item: &mut RawItem, f: &mut Field<'_>) {
    if f.parent.is_some() {
        return;
    }
    let text = std::mem::take(&mut f.text);
    let set = |slot: &mut Option<String>, text: String| {
        if slot.is_none() && !text.trim().is_empty() {
            *slot = Some(text);
        }
    };
    if prefix(f.name) == Some(WPJM) {
        match local(f.name) {
            "company" | "company_name" => set(&mut item.company, text),
            "location" => item.locations.push(text),
            "job_type" => item.job_types.push(text),
            "category" | "job_category" => item.categories.push(text),
            "salary" => set(&mut item.salary_text, text),
            "company_logo" | "logo" => set(&mut item.logo, text),
            _ => item.add_extra(f.name, &text),
        }
        return;
    }
    match f.name {
        "title" => set(&mut item.title, text),
        "link" => set(&mut item.link, text),
        "guid" => set(&mut item.guid, text),
        "pubDate" | "dc:date" => set(&mut item.date, text),
        "description" => set(&mut item.summary, text),
        "content:encoded" => set(&mut item.content, text),
        "dc:creator" | "author" => set(&mut item.author, text),
        "category" | "dc:subject" => item.categories.push(text),
        "media:content" | "media:thumbnail" => {
            let is_image = f.attr("medium").is_none_or(|m| m == "image")
                && f.attr("type").is_none_or(|t| t.starts_with("image/"));
            if is_image && item.logo.is_none() {
                item.logo = f.attr("url").map(str::to_owned);
            }
        }
        // Un-prefixed job fields some boards use (We Work Remotely: region, type).
        "company" => set(&mut item.company, text),
        "location" | "region" => item.locations.push(text),
        "type" | "job_type" => item.job_types.push(text),
        "salary" => set(&mut item.salary_text, text),
        _ => item.add_extra(f.name, &text),
    }
}
