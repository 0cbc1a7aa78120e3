//! The DNS resolver given to reqwest: it resolves once and refuses the whole name when any
//! answer is non-public, so the address dialled is the one checked (no DNS-rebinding window).

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::FetchError;
use crate::domain::codes;
use crate::ingest::ip_policy::check_ip;

pub(super) struct PolicyResolver {
    pub(super) allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    FetchError::transient(
                        codes::FETCH_DNS,
                        format!("could not resolve {host}: {e}"),
                    )
                })?;
            let addrs = vet_addrs(&host, resolved.collect(), allow_private)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Refusing on ANY bad answer, rather than filtering it out, keeps a name that mixes a public
/// and a private address from being a coin toss between them.
pub(super) fn vet_addrs(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, FetchError> {
    if addrs.is_empty() {
        return Err(FetchError::transient(
            codes::FETCH_DNS,
            format!("{host} has no addresses"),
        ));
    }
    if !allow_private {
        for addr in &addrs {
            check_ip(addr.ip()).map_err(|e| FetchError {
                message: format!("{host} resolves to {}", e.message),
                ..e
            })?;
        }
    }
    Ok(addrs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| SocketAddr::new(a.parse().unwrap(), 0))
            .collect()
    }

    #[test]
    fn one_private_answer_among_public_ones_refuses_the_name() {
        let err = vet_addrs(
            "rebind.test",
            addrs(&["93.184.215.14", "169.254.169.254"]),
            false,
        )
        .unwrap_err();
        assert_eq!(err.code, codes::FETCH_BLOCKED_ADDRESS);
        assert!(!err.transient);
        assert!(err.message.contains("rebind.test"), "{}", err.message);
    }

    #[test]
    fn mapped_loopback_answer_is_refused() {
        let err = vet_addrs("m.test", addrs(&["::ffff:127.0.0.1"]), false).unwrap_err();
        assert_eq!(err.code, codes::FETCH_BLOCKED_ADDRESS);
    }

    #[test]
    fn public_answers_pass_and_private_pass_when_allowed() {
        assert_eq!(
            vet_addrs("ok.test", addrs(&["8.8.8.8", "2606:4700::1"]), false)
                .unwrap()
                .len(),
            2
        );
        assert!(vet_addrs("lan.test", addrs(&["10.0.0.1"]), true).is_ok());
    }

    #[test]
    fn no_answers_is_a_dns_failure() {
        let err = vet_addrs("empty.test", Vec::new(), false).unwrap_err();
        assert_eq!(err.code, codes::FETCH_DNS);
    }

    #[tokio::test]
    async fn localhost_resolves_but_is_refused() {
        let resolver = PolicyResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(resolver.resolve(name).await.is_err());
    }
}
