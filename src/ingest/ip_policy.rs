//! Which addresses the fetcher may connect to. (Placeholder: the contract only.)

use super::fetch::FetchError;

pub fn check_url(_url: &url::Url, _allow_private: bool) -> Result<(), FetchError> {
    Ok(())
}
