//! The base URL for relative links at each point of a feed: the innermost `xml:base`, else the
//! channel's (or Atom feed's) own link, else the URL the feed was fetched from.

use quick_xml::events::BytesStart;
use url::Url;

use super::local;
use crate::ingest::FeedFormat;
use crate::ingest::text::decode_entities;

pub struct BaseScope {
    doc: Option<Url>,
    /// `xml:base` values in force, with the depth of the element that set each.
    xml_bases: Vec<(usize, Url)>,
    /// The site link: RSS `channel/link`, Atom `feed/link[@rel=alternate]`.
    site: Option<Url>,
    /// The RSS channel link's text while it is being read.
    site_text: Option<String>,
}

/// Depth of RSS/RDF `channel/link` (root = 1).
const RSS_LINK_DEPTH: usize = 3;
/// Depth of Atom `feed/link`.
const ATOM_LINK_DEPTH: usize = 2;

impl BaseScope {
    pub fn new(doc: Option<&Url>) -> Self {
        Self {
            doc: doc.cloned(),
            xml_bases: Vec::new(),
            site: None,
            site_text: None,
        }
    }

    /// Where an `xml:base` or a site link resolves from: XML Base scopes nest over the
    /// document's own URL.
    fn enclosing(&self) -> Option<&Url> {
        self.xml_bases.last().map(|(_, u)| u).or(self.doc.as_ref())
    }

    fn resolve(&self, raw: &str) -> Option<Url> {
        let raw = raw.trim();
        let parsed = match Url::parse(raw) {
            Ok(u) => u,
            Err(url::ParseError::RelativeUrlWithoutBase) => self.enclosing()?.join(raw).ok()?,
            Err(_) => return None,
        };
        matches!(parsed.scheme(), "http" | "https").then_some(parsed)
    }

    /// A start tag at `depth`; `in_item` when it is inside an item (site links are only read
    /// at channel level).
    pub fn open(&mut self, e: &BytesStart<'_>, depth: usize, format: FeedFormat, in_item: bool) {
        // Most tags have no `xml:base`; look for its name before parsing the attributes.
        if e.attributes_raw().contains("xml:base")
            && let Ok(Some(attr)) = e.try_get_attribute("xml:base")
            && let Some(url) = self.resolve(&decode_entities(&attr.value))
        {
            self.xml_bases.push((depth, url));
        }
        if in_item || self.site.is_some() || local(e.name().as_ref()) != "link" {
            return;
        }
        match format {
            FeedFormat::Atom if depth == ATOM_LINK_DEPTH => {
                let attr = |name: &str| {
                    e.try_get_attribute(name)
                        .ok()
                        .flatten()
                        .map(|a| decode_entities(&a.value).into_owned())
                };
                if attr("rel").is_none_or(|r| r == "alternate")
                    && let Some(href) = attr("href")
                {
                    self.site = self.resolve(&href);
                }
            }
            // `atom:link` inside an RSS channel points at the feed itself, not the site.
            FeedFormat::Rss | FeedFormat::Rdf
                if depth == RSS_LINK_DEPTH && e.name().as_ref() == "link" =>
            {
                self.site_text = Some(String::new());
            }
            _ => {}
        }
    }

    /// Text outside items: only the channel link is kept.
    pub fn text(&mut self, s: &str) {
        if let Some(t) = self.site_text.as_mut()
            && t.len() < 4096
        {
            t.push_str(s);
        }
    }

    /// An end tag at `depth`.
    pub fn close(&mut self, depth: usize) {
        if let Some(text) = self.site_text.take_if(|_| depth == RSS_LINK_DEPTH) {
            self.site = self.resolve(&text);
        }
        while self.xml_bases.last().is_some_and(|(d, _)| *d >= depth) {
            self.xml_bases.pop();
        }
    }

    /// The base for an item closing now, if it differs from the document's URL.
    pub fn item_base(&self) -> Option<Url> {
        let base = self
            .xml_bases
            .last()
            .map(|(_, u)| u)
            .or(self.site.as_ref())?;
        (Some(base) != self.doc.as_ref()).then(|| base.clone())
    }
}
