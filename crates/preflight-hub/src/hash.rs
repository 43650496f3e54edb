//! Streaming hashes: LFS oids (sha256) and git blob ids (sha1 of `blob <len>\0<content>`).
//!
//! Files are read in [`BUFFER_SIZE`] pieces, so memory stays flat whatever their size. The
//! functions are blocking; the upload runs them on tokio's blocking pool, except for files of
//! up to 1 MiB, which it hashes inline (cheaper than the round trip).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Bytes read from disk per step when hashing or sending.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// Which digest to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// sha256 of the content: the LFS oid.
    Sha256,
    /// sha1 of `blob <len>\0<content>`: the git blob id of a regular file.
    GitSha1,
}

/// The hex digest of `path`, which must be exactly `expected_size` bytes long.
///
/// A different length (the file changed since it was planned) is an
/// [`io::ErrorKind::InvalidData`] error whose message says so.
pub fn hash_file(path: &Path, kind: HashKind, expected_size: u64) -> io::Result<String> {
    let file = File::open(path)?;
    hash_reader(file, kind, expected_size)
}

/// [`hash_file`] over any reader.
pub fn hash_reader(
    mut reader: impl Read,
    kind: HashKind,
    expected_size: u64,
) -> io::Result<String> {
    // One byte more than expected still sees a file that grew; a small file does not pay
    // for zeroing a full buffer.
    let capacity = usize::try_from(expected_size.saturating_add(1))
        .unwrap_or(BUFFER_SIZE)
        .min(BUFFER_SIZE);
    let mut buffer = vec![0_u8; capacity];
    let mut sha256 = Sha256::new();
    let mut sha1 = Sha1::new();
    if kind == HashKind::GitSha1 {
        sha1.update(format!("blob {expected_size}\0").as_bytes());
    }
    let mut total: u64 = 0;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        total += read as u64;
        if total > expected_size {
            break;
        }
        match kind {
            HashKind::Sha256 => sha256.update(&buffer[..read]),
            HashKind::GitSha1 => sha1.update(&buffer[..read]),
        }
    }
    if total != expected_size {
        return Err(size_changed(expected_size, total));
    }
    Ok(match kind {
        HashKind::Sha256 => hex::encode(sha256.finalize()),
        HashKind::GitSha1 => hex::encode(sha1.finalize()),
    })
}

/// The git blob id of in-memory content.
pub fn git_sha1(content: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(format!("blob {}\0", content.len()).as_bytes());
    sha1.update(content);
    hex::encode(sha1.finalize())
}

/// The sha256 hex of in-memory content.
pub fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

pub(crate) fn size_changed(expected: u64, found: u64) -> io::Error {
    let found = if found > expected {
        format!("more than {expected}")
    } else {
        found.to_string()
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the file changed while being read: expected {expected} bytes, found {found}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // `git hash-object` of "hello\n" and of an empty file.
        assert_eq!(
            git_sha1(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(git_sha1(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(
            hash_reader(&b"hello\n"[..], HashKind::GitSha1, 6).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            hash_reader(&b"abc"[..], HashKind::Sha256, 3).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn streams_large_input_and_checks_size() {
        let content: Vec<u8> = (0..(3 * BUFFER_SIZE + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let streamed = hash_reader(&content[..], HashKind::Sha256, content.len() as u64).unwrap();
        assert_eq!(streamed, sha256_hex(&content));
        let error = hash_reader(&content[..], HashKind::Sha256, 10).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let error = hash_reader(&b"ab"[..], HashKind::GitSha1, 3).unwrap_err();
        assert!(error.to_string().contains("changed"), "{error}");
    }
}
