//! Retries with backoff for every network step of Preflight.
