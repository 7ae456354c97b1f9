//! Integrity of what travels between a session and its hosts through S3,
//! which anyone who can write to the job's prefix could replace:
//!
//! * a payload (a map's `payload.rds`, code the hosts run) is checked
//!   against the SHA-256 the session computed before uploading it, which
//!   reaches the hosts in the job's request, not through S3;
//! * a host's results file is signed with HMAC-SHA256 under a key of the
//!   job's own (32 bytes from the operating system's generator), which the
//!   session gives the hosts in the request's environment and never writes
//!   to S3, as SageMaker's remote functions sign theirs. The signature goes
//!   beside the file (`<file>.hmac`, hex) and covers the file's name and its
//!   bytes, so a signed file cannot pass for another of the same job.
//!
//! A file that fails its check is never parsed: the caller gets a
//! [`SimError::Integrity`] naming it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::SimError;

/// Bytes in a job's results key.
pub const KEY_BYTES: usize = 32;

/// What a signature file's name adds to its results file's.
pub const SIGNATURE_SUFFIX: &str = ".hmac";

/// A job's results key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_BYTES]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Key, SimError> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::getrandom(&mut bytes).map_err(|e| {
            SimError::Io(format!(
                "the operating system gave no random bytes for a key: {e}"
            ))
        })?;
        Ok(Key(bytes))
    }

    /// A key written as 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<Key, SimError> {
        let bytes = from_hex(text.trim())
            .filter(|b| b.len() == KEY_BYTES)
            .ok_or_else(|| {
                // (The text itself is not repeated: it may be most of a key.)
                SimError::invalid(
                    "key",
                    format!("must be {} hexadecimal digits", 2 * KEY_BYTES),
                )
            })?;
        let mut key = [0u8; KEY_BYTES];
        key.copy_from_slice(&bytes);
        Ok(Key(key))
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    fn mac(&self, name: &str, bytes: &[u8]) -> Hmac<Sha256> {
        // Any key length is valid for HMAC: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(bytes);
        mac
    }

    /// The signature (hex) of `bytes` as the file named `name`.
    pub fn sign(&self, name: &str, bytes: &[u8]) -> String {
        to_hex(&self.mac(name, bytes).finalize().into_bytes())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn integrity(path: &Path, reason: impl Into<String>) -> SimError {
    SimError::Integrity {
        file: path.display().to_string(),
        reason: reason.into(),
    }
}

fn file_name(path: &Path) -> Result<String, SimError> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| SimError::Io(format!("{} is not a file name", path.display())))
}

/// Where the signature of the file at `path` goes.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(SIGNATURE_SUFFIX);
    PathBuf::from(name)
}

/// The SHA-256 (hex) of the file at `path`, read in pieces.
pub fn sha256_file(path: &Path) -> Result<String, SimError> {
    let io = |e: std::io::Error| SimError::Io(format!("could not read {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(to_hex(&hasher.finalize()))
}

/// Whether the file at `path` has the SHA-256 `expected` (hex).
pub fn check_sha256(path: &Path, expected: &str) -> Result<(), SimError> {
    let expected = expected.trim().to_ascii_lowercase();
    if from_hex(&expected).map(|b| b.len()) != Some(32) {
        return Err(integrity(
            path,
            format!("the SHA-256 it should have is not one (\"{expected}\")"),
        ));
    }
    let found = sha256_file(path)?;
    if found != expected {
        return Err(integrity(
            path,
            format!("its SHA-256 is {found}, not the {expected} the job was given: it was changed after it was submitted"),
        ));
    }
    Ok(())
}

/// Writes the signature of `bytes` as the file `path` to `<path>.hmac`,
/// whole. Written before the file itself is renamed into place, so a file
/// that is there always has its signature.
pub fn write_signature(key: &Key, path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    let signature = key.sign(&file_name(path)?, bytes);
    crate::result_file::write_bytes_atomic(
        &signature_path(path),
        format!("{signature}\n").as_bytes(),
    )
}

/// Signs the file at `source` as the file `path` (which it becomes once
/// renamed), writing `<path>.hmac`.
pub fn sign_file(key: &Key, source: &Path, path: &Path) -> Result<(), SimError> {
    let bytes = std::fs::read(source)
        .map_err(|e| SimError::Io(format!("could not read {}: {e}", source.display())))?;
    write_signature(key, path, &bytes)
}

/// The bytes of the file at `path`, once its signature (`<path>.hmac`) says
/// that a host of the job with `key` wrote them under this name.
pub fn read_signed(key: &Key, path: &Path) -> Result<Vec<u8>, SimError> {
    let signature_file = signature_path(path);
    let signature = match std::fs::read_to_string(&signature_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(integrity(
                path,
                format!(
                    "it has no signature ({}): its job's hosts sign every results file they write",
                    file_name(&signature_file)?
                ),
            ))
        }
        Err(e) => {
            return Err(SimError::Io(format!(
                "could not read {}: {e}",
                signature_file.display()
            )))
        }
    };
    let tag = from_hex(signature.trim())
        .ok_or_else(|| integrity(path, "its signature is not a signature"))?;
    let bytes = std::fs::read(path)
        .map_err(|e| SimError::Io(format!("could not read {}: {e}", path.display())))?;
    key.mac(&file_name(path)?, &bytes)
        .verify_slice(&tag)
        .map_err(|_| {
            integrity(
                path,
                "its signature does not match: it was changed after its host wrote it, or is not this job's",
            )
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sagesim-integrity-test-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keys_are_random_and_read_back_from_hex() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_hex().len(), 64);
        assert_eq!(Key::from_hex(&a.to_hex()).unwrap(), a);
        assert_eq!(format!("{a:?}"), "Key(..)");
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63), &"0".repeat(66)] {
            let e = Key::from_hex(bad).unwrap_err();
            assert!(!e.to_string().contains(bad) || bad.is_empty(), "{e}");
        }
    }

    #[test]
    fn the_sha256_of_a_file_is_the_known_one() {
        let dir = tmpdir("sha");
        let path = dir.join("payload.rds");
        std::fs::write(&path, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&path).unwrap(), abc);
        check_sha256(&path, &abc.to_uppercase()).unwrap();
        std::fs::write(&path, b"abd").unwrap();
        let e = check_sha256(&path, abc).unwrap_err();
        assert!(matches!(e, SimError::Integrity { .. }), "{e}");
        assert!(e.to_string().contains("payload.rds"), "{e}");
        assert!(matches!(
            check_sha256(&path, "nonsense"),
            Err(SimError::Integrity { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_signed_file_reads_back_and_any_change_is_refused() {
        let dir = tmpdir("hmac");
        let key = Key::generate().unwrap();
        let path = dir.join("map-results-algo-1-00000.rds");
        let partial = dir.join("map-results-algo-1-00000.rds.partial");
        std::fs::write(&partial, b"results").unwrap();
        sign_file(&key, &partial, &path).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        assert_eq!(read_signed(&key, &path).unwrap(), b"results");
        // HMAC-SHA256 of the name, a zero byte and the bytes, as any HMAC
        // implementation computes it (Python: hmac.new(key, b"f\0x", sha256)).
        assert_eq!(
            Key([1; KEY_BYTES]).sign("f", b"x"),
            "a8a11ebf2a1527941f09a9fa794b984147a9f48ed0d243150203c39995ca6781"
        );

        let refused = |why: &str| {
            let e = read_signed(&key, &path).unwrap_err();
            assert!(matches!(e, SimError::Integrity { .. }), "{why}: {e}");
            assert!(
                e.to_string().contains("map-results-algo-1-00000.rds"),
                "{e}"
            );
            e
        };
        // Another key, changed bytes, another name, no signature.
        let other = Key::generate().unwrap();
        assert!(read_signed(&other, &path).is_err());
        std::fs::write(&path, b"resultz").unwrap();
        refused("changed");
        std::fs::write(&path, b"results").unwrap();
        let renamed = dir.join("map-results-algo-2-00000.rds");
        std::fs::copy(&path, &renamed).unwrap();
        std::fs::copy(signature_path(&path), signature_path(&renamed)).unwrap();
        assert!(read_signed(&key, &renamed).is_err());
        std::fs::write(signature_path(&path), "not hex\n").unwrap();
        refused("malformed");
        std::fs::remove_file(signature_path(&path)).unwrap();
        let e = refused("unsigned");
        assert!(e.to_string().contains("no signature"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
