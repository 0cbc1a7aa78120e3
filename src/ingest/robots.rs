//! `robots.txt` as RFC 9309 reads it: the group naming our product token (else the `*`
//! group) decides, the longest matching rule wins, `Allow` wins a tie, `*` and `$` are the
//! only special characters. The link checker asks it before it requests a posting's URL.

/// The rules of the group that applies to one user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Robots {
    /// (allow, pattern), in file order.
    rules: Vec<(bool, String)>,
}

/// The product token of a User-Agent (`job-importer/0.1 (+https://...)` → `job-importer`),
/// lowercased: what a `User-agent:` line names.
pub fn product_token(user_agent: &str) -> String {
    user_agent
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

impl Robots {
    /// Everything allowed: what a missing `robots.txt` (a 4xx) means.
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// The rules `text` gives the agent whose product token is `token` (lowercase).
    pub fn parse(text: &str, token: &str) -> Self {
        let mut ours = Vec::new();
        let mut any = Vec::new();
        let (mut named_us, mut named_any) = (false, false);
        let (mut in_ours, mut in_any) = (false, false);
        // A run of `User-agent` lines opens a group; the first rule closes the run.
        let mut agents_open = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if !agents_open {
                        (in_ours, in_any) = (false, false);
                        agents_open = true;
                    }
                    let agent = value.to_ascii_lowercase();
                    if agent == "*" {
                        in_any = true;
                        named_any = true;
                    } else if !agent.is_empty() && agent == token {
                        in_ours = true;
                        named_us = true;
                    }
                }
                "allow" | "disallow" => {
                    agents_open = false;
                    // An empty Disallow allows everything, which no rule says best.
                    if value.is_empty() {
                        continue;
                    }
                    let rule = (key == "allow", value.to_owned());
                    if in_ours {
                        ours.push(rule.clone());
                    }
                    if in_any {
                        any.push(rule);
                    }
                }
                _ => {}
            }
        }
        let rules = match (named_us, named_any) {
            (true, _) => ours,
            (false, true) => any,
            _ => Vec::new(),
        };
        Self { rules }
    }

    /// Whether the path (with its query) may be requested.
    pub fn allows(&self, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if !matches(pattern, path) {
                continue;
            }
            let len = pattern.len();
            best = match best {
                Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                _ => Some((len, *allow)),
            };
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// A robots pattern matches a prefix of the path; `*` stands for any run of characters and a
/// final `$` anchors the end.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = path;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 && anchored {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    // An anchored pattern with a `*` returned above; one without must use up the path.
    !anchored || rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TXT: &str = "# comment\n\
        User-agent: Googlebot\nDisallow: /\n\n\
        User-agent: *\nDisallow: /private/\nAllow: /private/open\nDisallow: /*.pdf$\n\n\
        User-agent: other\nUser-agent: job-importer\nDisallow: /mine/\n";

    #[test]
    fn our_own_group_wins_over_the_star_group() {
        let r = Robots::parse(TXT, "job-importer");
        assert!(!r.allows("/mine/1"));
        assert!(r.allows("/private/x"), "the star group is not ours");
    }

    #[test]
    fn the_star_group_applies_when_none_names_us_and_the_longest_rule_wins() {
        let r = Robots::parse(TXT, "someone-else");
        assert!(!r.allows("/private/x"));
        assert!(r.allows("/private/open/1"));
        assert!(r.allows("/jobs/1"));
        assert!(!r.allows("/files/a.pdf"));
        assert!(r.allows("/files/a.pdf?x=1"));
    }

    #[test]
    fn no_group_or_an_empty_disallow_allows_everything() {
        assert!(Robots::parse("User-agent: bot\nDisallow: /\n", "job-importer").allows("/a"));
        assert!(Robots::parse("User-agent: *\nDisallow:\n", "job-importer").allows("/a"));
        assert!(Robots::allow_all().allows("/"));
    }

    #[test]
    fn an_allow_ties_with_a_disallow_of_the_same_length_and_wins() {
        let r = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\n", "x");
        assert!(r.allows("/a/b"));
    }

    #[test]
    fn the_product_token_is_the_agent_up_to_its_version() {
        assert_eq!(
            product_token("Job-Importer/0.1 (+https://x)"),
            "job-importer"
        );
    }
}
