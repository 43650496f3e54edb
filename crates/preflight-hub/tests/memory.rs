//! Memory stays flat: a file many times larger than the allowed growth goes up (hashed,
//! then sent as multipart ranges) without the process's peak RSS following its size.
//! Its own test binary, so no other test's allocations blur the measurement.

use std::io::Write;
use std::time::Duration;

use hub_emulator::EmulatorConfig;
use preflight_hub::{NoProgress, UploadRequest, upload};
use preflight_retry::RetryConfig;
use preflight_test_support::hub::{alice_config, start_hub_async};

mod common;

const MIB: u64 = 1024 * 1024;

/// Peak resident set size (`VmHWM`) in bytes, on Linux.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[tokio::test]
async fn a_large_file_does_not_grow_memory_with_its_size() {
    let size = 48 * MIB;
    let emu = start_hub_async(EmulatorConfig {
        lfs_multipart_threshold: 8 * MIB,
        multipart_chunk_size: 4 * MIB,
        ..alice_config()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    {
        let mut file = std::fs::File::create(dir.path().join("huge.bin")).unwrap();
        let block: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
        for _ in 0..size / MIB {
            file.write_all(&block).unwrap();
        }
    }
    let retry = RetryConfig::default()
        .without_delays()
        .with_deadline(Some(Duration::from_secs(600)));
    let client = common::hub_client(&emu, common::TOKEN, state.path(), retry);
    let Some(before) = peak_rss() else {
        return; // Not Linux: nothing to measure.
    };
    let outcome = upload(
        &client,
        &UploadRequest::new(dir.path(), "alice/huge"),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(outcome.commit_oid.is_some());
    assert_eq!(outcome.bytes_sent, size);
    let growth = peak_rss().unwrap().saturating_sub(before);
    eprintln!(
        "peak RSS growth: {} KiB for {} MiB",
        growth / 1024,
        size / MIB
    );
    // The emulator in this process streams to disk too; allow a generous margin that is
    // still far below the file size.
    assert!(
        growth < size / 2,
        "peak RSS grew by {} MiB for a {} MiB file",
        growth / MIB,
        size / MIB
    );
    emu.shutdown().await;
}
