//! The structured JSON-lines auth log.
