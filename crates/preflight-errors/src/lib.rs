//! Preflight's stable error codes, their exit statuses and their guide anchors.
//!
//! Every failure the tool reports names one [`Code`]. Each code has a section in
//! `docs/auth-troubleshooting.md` whose heading is the code itself, so
//! `docs/auth-troubleshooting.md#pf003` always explains `PF003`. A test in the CLI crate
//! fails when a code has no section or a section names a code that no longer exists.

pub use code::{Code, ExitStatus};

mod code;
