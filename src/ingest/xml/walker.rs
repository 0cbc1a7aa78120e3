//! The state between XML events: the open item and its fields, depth, base URLs, and the
//! item cap. Finished items go to the caller as raw items.

use std::ops::ControlFlow;

use quick_xml::events::BytesStart;

use super::ns::Namespaces;
use super::scope::BaseScope;
use super::xhtml::Xhtml;
use super::{Dialect, Field, attributes, dialect, local};
use crate::domain::Failure;
use crate::domain::codes::{PARSE_NOT_A_FEED, PARSE_TOO_DEEP, PARSE_TOO_MANY_ITEMS};
use crate::ingest::item::RawItem;
use crate::ingest::{ParseOptions, ParseSummary, RawOutcome};

struct Open {
    name: String,
    /// The element's namespace URI, when one is bound.
    ns: Option<String>,
    attrs: Vec<(String, String)>,
    text: String,
}

/// Item being read: where it started, its fields so far, and the open elements inside it.
pub(super) struct Current {
    depth: usize,
    pub(super) start: u64,
    pub(super) raw: RawItem,
    open: Vec<Open>,
    pub(super) skip: bool,
    xhtml: Option<Xhtml>,
}

pub(super) struct Walker<'a> {
    pub(super) opts: &'a ParseOptions,
    pub(super) summary: ParseSummary,
    pub(super) dialect: Option<Dialect>,
    pub(super) depth: usize,
    pub(super) current: Option<Current>,
    pub(super) scope: BaseScope,
    ns: Namespaces,
}

impl<'a> Walker<'a> {
    pub(super) fn new(opts: &'a ParseOptions) -> Self {
        Self {
            opts,
            summary: ParseSummary::default(),
            dialect: None,
            depth: 0,
            current: None,
            scope: BaseScope::new(opts.base_url.as_ref()),
            ns: Namespaces::default(),
        }
    }

    /// Records the first error; later ones are consequences.
    pub(super) fn fail(&mut self, code: &str, msg: String) {
        self.summary
            .error
            .get_or_insert_with(|| Failure::new(code, msg));
    }

    /// A start tag: checks depth, recognises the root, starts items and fields.
    pub(super) fn open(&mut self, e: &BytesStart<'_>, pos: u64) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > self.opts.limits.max_depth {
            let msg = format!("elements nest deeper than {}", self.opts.limits.max_depth);
            self.fail(PARSE_TOO_DEEP, msg);
            return ControlFlow::Break(());
        }
        let name = e.name().as_ref().to_owned();
        self.ns.open(e, self.depth);
        let Some(d) = self.dialect.as_ref() else {
            self.dialect = dialect(&name);
            self.summary.format = self.dialect.as_ref().map(|d| d.format);
            let Some(d) = self.dialect.as_ref() else {
                let msg = format!("the root element <{name}> is not a feed");
                self.fail(PARSE_NOT_A_FEED, msg);
                return ControlFlow::Break(());
            };
            self.scope.open(e, self.depth, d.format, false);
            return ControlFlow::Continue(());
        };
        self.scope
            .open(e, self.depth, d.format, self.current.is_some());
        if let Some(cur) = self.current.as_mut() {
            if cur.skip {
                return ControlFlow::Continue(());
            }
            if let Some(x) = cur.xhtml.as_mut() {
                if let Some(field) = cur.open.last_mut().filter(|_| !cur.raw.too_large) {
                    x.open(e, self.depth, &mut field.text);
                }
                return ControlFlow::Continue(());
            }
            if self.depth <= cur.depth + 2 {
                let attrs = attributes(e);
                let is_xhtml = attrs.iter().any(|(k, v)| k == "type" && v == "xhtml");
                if is_xhtml && self.depth == cur.depth + 1 {
                    cur.xhtml = Some(Xhtml::new(self.depth));
                }
                let text = String::new();
                let ns = self.ns.resolve(&name).map(str::to_owned);
                cur.open.push(Open {
                    name,
                    ns,
                    attrs,
                    text,
                });
            }
        } else if local(&name) == d.item {
            self.current = Some(Current {
                depth: self.depth,
                start: pos,
                raw: RawItem::default(),
                open: Vec::new(),
                skip: self.summary.items >= self.opts.limits.max_items,
                xhtml: None,
            });
        }
        ControlFlow::Continue(())
    }

    pub(super) fn push_text(&mut self, s: &str) -> ControlFlow<()> {
        let Some(cur) = self.current.as_mut() else {
            self.scope.text(s);
            return ControlFlow::Continue(());
        };
        if !cur.skip
            && let Some(top) = cur.open.last_mut()
            // Past the byte cap only identity fields grow, so the failure can name the item.
            && (!cur.raw.too_large || matches!(local(&top.name), "guid" | "link" | "id"))
        {
            match cur.xhtml {
                Some(_) => Xhtml::text(s, &mut top.text),
                None => top.text.push_str(s),
            }
        }
        ControlFlow::Continue(())
    }

    /// An end tag: finishes a field, or the item (handing it to `emit`).
    pub(super) fn close(
        &mut self,
        emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let depth = self.depth;
        self.depth = depth.saturating_sub(1);
        let flow = self.close_at(depth, emit);
        self.scope.close(depth);
        self.ns.close(depth);
        flow
    }

    fn close_at(
        &mut self,
        depth: usize,
        emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let (Some(cur), Some(d)) = (self.current.as_mut(), self.dialect.as_ref()) else {
            return ControlFlow::Continue(());
        };
        if depth > cur.depth {
            if cur.skip {
                return ControlFlow::Continue(());
            }
            if let Some(x) = cur.xhtml.as_mut().filter(|x| depth > x.depth) {
                if let Some(field) = cur.open.last_mut().filter(|_| !cur.raw.too_large) {
                    x.close(&mut field.text);
                }
                return ControlFlow::Continue(());
            }
            cur.xhtml = None;
            if depth <= cur.depth + 2
                && let Some(open) = cur.open.pop()
            {
                let mut field = Field {
                    name: &open.name,
                    ns: open.ns.as_deref(),
                    parent: cur.open.last().map(|p| p.name.as_str()),
                    attrs: &open.attrs,
                    text: open.text,
                };
                (d.map)(&mut cur.raw, &mut field);
                let text = field.text;
                if let Some(p) = cur.open.last_mut() {
                    p.text.push_str(&text);
                }
            }
            return ControlFlow::Continue(());
        }
        let Some(mut done) = self.current.take() else {
            return ControlFlow::Continue(());
        };
        if done.skip {
            self.summary.skipped += 1;
            let msg = format!(
                "the feed has more than {} items",
                self.opts.limits.max_items
            );
            self.fail(PARSE_TOO_MANY_ITEMS, msg);
            return ControlFlow::Continue(());
        }
        self.summary.items += 1;
        done.raw.base = self.scope.item_base();
        emit(Ok(done.raw))
    }
}
