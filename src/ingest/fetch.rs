//! Streaming HTTP fetch with explicit limits and the SSRF policy.
