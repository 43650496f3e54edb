//! Integration tests of the `preflight` binary against real local servers.
//!
//! Every test runs the real binary with a cleared environment (so the developer's own
//! tokens never leak in) against the Hub emulator on 127.0.0.1:0, and every test that uses
//! a token asserts the token appears nowhere in stdout, stderr or the auth log.

mod support;

mod check_hf;
mod doc_commands;
mod docs;
mod explain_and_demo;
mod github_actions;
mod modal_native;
mod run;
mod run_real_modal;
mod upload;
