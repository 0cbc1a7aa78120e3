//! XML namespaces in force at each point of a feed, and the namespaces whose meaning we know.
//! Fields are matched by namespace URI, never by the prefix a document happens to bind: a
//! prefix is the author's choice, the URI is what the element means.

use quick_xml::events::BytesStart;

use crate::ingest::text::decode_entities;

/// Namespaces with a meaning of their own, and the prefix the mappers know each by. An element
/// in one of them is named `prefix:local` whatever prefix the document used (an empty prefix:
/// the RSS core, named by its local name alone). Compared without scheme or trailing slash.
const KNOWN: &[(&str, &str)] = &[
    ("purl.org/rss/1.0", ""),
    ("my.netscape.com/rdf/simple/0.9", ""),
    ("backend.userland.com/rss2", ""),
    ("purl.org/dc/elements/1.1", "dc"),
    ("purl.org/dc/terms", "dcterms"),
    ("search.yahoo.com/mrss", "media"),
    ("purl.org/rss/1.0/modules/content", "content"),
    ("www.w3.org/2005/Atom", "atom"),
    ("wellformedweb.org/CommentAPI", "wfw"),
    ("purl.org/rss/1.0/modules/slash", "slash"),
    ("purl.org/rss/1.0/modules/syndication", "sy"),
    ("webns.net/mvcb", "admin"),
    ("www.w3.org/1999/02/22-rdf-syntax-ns#", "rdf"),
    ("www.w3.org/1999/xhtml", "xhtml"),
    ("www.itunes.com/dtds/podcast-1.0.dtd", "itunes"),
    ("www.georss.org/georss", "georss"),
    ("www.w3.org/2003/01/geo/wgs84_pos#", "geo"),
    ("rssnamespace.org/feedburner/ext/1.0", "feedburner"),
    ("purl.org/syndication/thread/1.0", "thr"),
];

/// The prefix the mappers know a namespace by, when it is a known one.
pub fn known_prefix(uri: &str) -> Option<&'static str> {
    let bare = uri
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    KNOWN
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(bare))
        .map(|(_, p)| *p)
}

/// The namespace bindings in force, innermost last, each with the depth of the element that
/// declared it.
#[derive(Default)]
pub struct Namespaces {
    bindings: Vec<Binding>,
}

struct Binding {
    depth: usize,
    /// `None`: the default namespace.
    prefix: Option<String>,
    /// Empty: the declaration undoes an outer default namespace (`xmlns=""`).
    uri: String,
}

impl Namespaces {
    /// A start tag at `depth`: records the namespaces it declares.
    pub fn open(&mut self, e: &BytesStart<'_>, depth: usize) {
        // Most tags declare nothing; look for the word before parsing the attributes.
        if !e.attributes_raw().contains("xmlns") {
            return;
        }
        for attr in e.html_attributes().flatten() {
            let key: &str = attr.key.as_ref();
            let prefix = match key.strip_prefix("xmlns") {
                Some("") => None,
                Some(rest) => match rest.strip_prefix(':') {
                    Some(p) => Some(p.to_owned()),
                    None => continue,
                },
                None => continue,
            };
            let uri = decode_entities(&attr.value).trim().to_owned();
            self.bindings.push(Binding { depth, prefix, uri });
        }
    }

    /// An end tag at `depth`: the declarations of the element that closes end with it.
    pub fn close(&mut self, depth: usize) {
        while self.bindings.last().is_some_and(|b| b.depth >= depth) {
            self.bindings.pop();
        }
    }

    /// The namespace URI of an element named `qname`, if one is bound (an undeclared prefix
    /// has none).
    pub fn resolve(&self, qname: &str) -> Option<&str> {
        let prefix = qname.split_once(':').map(|(p, _)| p);
        self.bindings
            .iter()
            .rev()
            .find(|b| b.prefix.as_deref() == prefix)
            .map(|b| b.uri.as_str())
            .filter(|u| !u.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_namespaces_match_without_scheme_or_trailing_slash() {
        assert_eq!(known_prefix("http://search.yahoo.com/mrss"), Some("media"));
        assert_eq!(known_prefix("http://search.yahoo.com/mrss/"), Some("media"));
        assert_eq!(
            known_prefix("https://purl.org/dc/elements/1.1/"),
            Some("dc")
        );
        assert_eq!(known_prefix("http://purl.org/rss/1.0/"), Some(""));
        assert_eq!(known_prefix("https://jobicy.com"), None);
    }

    #[test]
    fn inner_declarations_shadow_outer_ones_until_their_element_closes() {
        let mut ns = Namespaces::default();
        ns.open(
            &BytesStart::from_content(r#"rss xmlns:j="https://a.example/" xmlns="https://d/""#, 3),
            1,
        );
        ns.open(
            &BytesStart::from_content(r#"item xmlns:j="https://b.example/""#, 4),
            3,
        );
        assert_eq!(ns.resolve("j:company"), Some("https://b.example/"));
        assert_eq!(ns.resolve("company"), Some("https://d/"));
        assert_eq!(ns.resolve("x:company"), None);
        ns.close(3);
        assert_eq!(ns.resolve("j:company"), Some("https://a.example/"));
        ns.open(&BytesStart::from_content(r#"item xmlns="""#, 4), 3);
        assert_eq!(ns.resolve("company"), None);
    }
}
