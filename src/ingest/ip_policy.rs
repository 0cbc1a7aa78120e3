//! Which addresses the fetcher may connect to.
