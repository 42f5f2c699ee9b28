//! Byte ranges of the archive file, and the temp copy a stream is spooled
//! into so it can be read at random.

use super::ImportError;
use crate::fsutil::unique_name;
use crate::Store;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

/// A byte range of the archive file, read with positional reads so any
/// number of sections can be open at once.
pub(super) struct Section<'a> {
    file: &'a File,
    start: u64,
    pos: u64,
    end: u64,
}

impl<'a> Section<'a> {
    pub(super) fn new(file: &'a File, start: u64, len: u64) -> Self {
        Section {
            file,
            start,
            pos: start,
            end: start + len,
        }
    }

    pub(super) fn len(&self) -> u64 {
        self.end - self.start
    }

    /// The first bytes of the section, without consuming them.
    pub(super) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len()) as usize;
        self.file.read_exact_at(&mut buf[..n], self.start)?;
        Ok(n)
    }
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.end.saturating_sub(self.pos)) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Section<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => self.start.checked_add(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.end.checked_add_signed(d),
        };
        match target {
            // Past the end is allowed, as for files; reads there see EOF.
            Some(t) if t >= self.start => {
                self.pos = t;
                Ok(t - self.start)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            )),
        }
    }
}

/// Copies a stream (a pipe) into an unlinked temp file under the store's
/// `tmp/`, so it can be read at random and vanishes with the process.
pub(super) fn spool(store: &Store, mut input: impl Read, label: &str) -> Result<File, ImportError> {
    let path = store.tmp_dir().join(unique_name("load-"));
    let io_err = |op| {
        let archive = label.to_string();
        move |source| ImportError::Io {
            archive,
            op,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(io_err("create temp copy"))?;
    fs::remove_file(&path).map_err(io_err("unlink temp copy"))?;
    io::copy(&mut input, &mut file).map_err(io_err("copy into temp file"))?;
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("rewind temp copy"))?;
    Ok(file)
}
