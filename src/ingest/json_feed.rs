//! JSON Feed 1.0 / 1.1 (<https://jsonfeed.org/version/1.1>) items.

use serde_json::Value;

use super::item::RawItem;
use super::json::{first_text, list_of, text_of};
use crate::domain::Failure;
use crate::domain::codes::ITEM_INVALID;

/// A JSON Feed announces itself with a `version` URL.
pub fn is_json_feed(root: &Value) -> bool {
    root.get("version")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("https://jsonfeed.org/version/1"))
}

pub fn items(root: &Value) -> &[Value] {
    root.get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub fn read_item(v: &Value) -> Result<RawItem, Failure> {
    if !v.is_object() {
        return Err(Failure::for_item(
            ITEM_INVALID,
            "the item is not an object",
            None,
        ));
    }
    let author = v
        .get("authors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .or_else(|| v.get("author"))
        .and_then(|a| a.get("name"))
        .and_then(text_of);
    let content_text =
        first_text(v, &["content_text"]).map(|t| html_escape::encode_text(&t).into_owned());
    Ok(RawItem {
        guid: first_text(v, &["id"]),
        link: first_text(v, &["url", "external_url"]),
        title: first_text(v, &["title"]),
        content: first_text(v, &["content_html"]).or(content_text),
        summary: first_text(v, &["summary"]).map(|t| html_escape::encode_text(&t).into_owned()),
        date: first_text(v, &["date_published", "date_modified"]),
        author,
        categories: v.get("tags").map(list_of).unwrap_or_default(),
        logo: first_text(v, &["image", "banner_image"]),
        ..Default::default()
    })
}
