//! Integration tests for preflight-retry (one binary, one module per concern).

mod events;
mod faults;
mod properties;
mod schedule;
