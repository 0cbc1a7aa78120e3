//! RSS 2.0, 0.9x and RDF (RSS 1.0) item fields, including the WP Job Manager `job_listing:*`
//! extension. The driver in [`super::xml`] streams the items; this module only maps fields.

use super::item::RawItem;
use super::xml::{Field, canonical, in_unknown_namespace, local, prefix};

/// The prefix WP Job Manager writes. Its namespace URI is each site's own URL, so its fields
/// are recognised by local name under any namespace that is not a known one (whatever the
/// prefix, or none); this prefix counts too when a document uses it without declaring it.
const WPJM: &str = "job_listing";

/// Whether an element may carry a WP Job Manager field: in a site's own namespace, or under
/// the plugin's prefix left undeclared.
fn job_extension(f: &Field<'_>) -> bool {
    in_unknown_namespace(f) || (f.ns.is_none() && prefix(f.name) == Some(WPJM))
}

/// Names feeds give a posting's expiry date.
fn is_expiry(local: &str) -> bool {
    matches!(
        local,
        "expires_at"
            | "expires"
            | "expiry_date"
            | "expiryDate"
            | "expiration_date"
            | "validThrough"
            | "valid_through"
            | "job_expires"
    )
}

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
    // An expiry date, bare (We Work Remotely's `expires_at`) or in a site's own namespace.
    if ((f.ns.is_none() && prefix(f.name).is_none()) || job_extension(f))
        && is_expiry(local(f.name))
    {
        return set(&mut item.valid_through, text);
    }
    if job_extension(f) {
        match local(f.name) {
            "company" | "company_name" => return set(&mut item.company, text),
            "location" => return item.locations.push(text),
            "job_type" => return item.job_types.push(text),
            "category" | "job_category" => return item.categories.push(text),
            "salary" => return set(&mut item.salary_text, text),
            "company_logo" | "logo" => return set(&mut item.logo, text),
            // A site's default namespace covers the core elements too (`title`, `link`).
            _ if prefix(f.name).is_some() => return item.add_extra(f.name, &text),
            _ => {}
        }
    }
    match canonical(f).as_ref() {
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
