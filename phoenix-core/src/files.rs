//! Reading files, bounded: the one way the product reads a file into memory.
//!
//! Every path the product reads comes from configuration (its own files, the scripts, stacks,
//! secrets and certificates it names) or from the host it manages. A path that is a device, a
//! FIFO or a directory, or a file larger than [`MAX_FILE`], is refused with an error naming it
//! before anything is read: a configuration file symlinked to `/dev/zero` must not be read
//! until the kernel kills the process. A file that grows while it is read is cut at the limit
//! and refused as well. (Files that are only hashed, such as the NVIDIA runfile, are streamed
//! by [`sha256_file`] instead, with no size limit.)

use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest file the product reads into memory: 8 MiB. Configuration files, scripts,
/// stack files, certificates and the host files the product manages are far smaller.
pub const MAX_FILE: u64 = 8 << 20;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It does not exist.
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    /// It is not a regular file.
    #[error("{path} is not a regular file ({kind}); refusing to read it")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// It is larger than [`MAX_FILE`].
    #[error("{path} is larger than {} MiB ({size} bytes); refusing to read it", MAX_FILE >> 20)]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size (at least), in bytes.
        size: u64,
    },
    /// It is not UTF-8 text.
    #[error("{0} is not UTF-8 text")]
    NotText(PathBuf),
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl ReadError {
    /// Whether the file is simply absent.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound(_))
    }
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` (following symbolic links) when it is a regular file of at most
/// [`MAX_FILE`] bytes.
fn open(path: &Path) -> Result<std::fs::File, ReadError> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ReadError::NotFound(path.to_path_buf())
        } else {
            ReadError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    if meta.len() > MAX_FILE {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    std::fs::File::open(path).map_err(io)
}

/// The bytes of `path` (see the module documentation for what is refused).
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>, ReadError> {
    let path = path.as_ref();
    let f = open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > MAX_FILE {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
        });
    }
    Ok(buf)
}

/// The text of `path` (UTF-8).
pub fn read_to_string(path: impl AsRef<Path>) -> Result<String, ReadError> {
    let path = path.as_ref();
    String::from_utf8(read(path)?).map_err(|_| ReadError::NotText(path.to_path_buf()))
}

/// The text of `path`, or `None` when it does not exist; other failures are errors.
pub fn read_to_string_opt(path: impl AsRef<Path>) -> Result<Option<String>, ReadError> {
    match read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The bytes of `path`, or `None` when it does not exist; other failures are errors.
pub fn read_opt(path: impl AsRef<Path>) -> Result<Option<Vec<u8>>, ReadError> {
    match read(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The SHA-256 of a regular file of any size, streamed (for downloads such as the NVIDIA
/// runfile, which are checked, never held in memory).
pub fn sha256_file(path: impl AsRef<Path>) -> Result<String, ReadError> {
    use sha2::{Digest, Sha256};
    let path = path.as_ref();
    let io = |source: std::io::Error| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ReadError::NotFound(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(read_to_string(&p).unwrap(), "hello");
        assert!(read_to_string_opt(d.path().join("nope")).unwrap().is_none());
        assert!(read(d.path().join("nope")).unwrap_err().is_not_found());
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_reading() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("config.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read(&link).unwrap_err().to_string();
        assert!(
            e.contains("is not a regular file (a character device)"),
            "{e}"
        );
        let e = read(d.path()).unwrap_err().to_string();
        assert!(e.contains("(a directory)"), "{e}");
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = read(&fifo).unwrap_err().to_string();
        assert!(e.contains("(a FIFO)"), "{e}");
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MAX_FILE + 1).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("is larger than 8 MiB"), "{e}");
        f.set_len(MAX_FILE).unwrap();
        assert_eq!(read(&p).unwrap().len() as u64, MAX_FILE);
        assert_eq!(sha256_file(&p).unwrap().len(), 64);
    }
}
