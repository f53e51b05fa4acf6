//! Files hashed as they stream: the manifest's SHA-256 and byte count of each file come from the
//! bytes actually written (or read), in one pass.

use std::fs::File;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// What the manifest says of a file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digested {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// A file that hashes what is written to it. Put a `BufWriter` in front, so it hashes large
/// blocks.
pub(crate) struct HashingFile {
    file: File,
    hasher: Sha256,
    bytes: u64,
}

impl HashingFile {
    pub fn new(file: File) -> Self {
        Self { file, hasher: Sha256::new(), bytes: 0 }
    }

    /// Flushes to stable storage and returns the digest.
    pub fn finish(self) -> io::Result<Digested> {
        self.file.sync_all()?;
        Ok(Digested { bytes: self.bytes, sha256: self.hasher.finalize().into() })
    }
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A reader that hashes what is read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Reads what is left, then returns the digest of everything read.
    pub fn finish(mut self) -> io::Result<Digested> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(Digested { bytes: self.bytes, sha256: self.hasher.finalize().into() })
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}
