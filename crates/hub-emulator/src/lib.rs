//! A Hugging Face Hub emulator for tests and offline CI.
