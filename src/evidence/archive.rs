//! The `.tar.gz` a bundle becomes: for each file a gzip member holding its tar header, then the
//! file's own member (compressed while it streamed), and a last member with the end-of-archive
//! blocks. Concatenated members are one valid gzip stream (RFC 1952 §2.2) that `tar xzf` reads.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::error::{Error, Result};

pub const IO_BUFFER: usize = 64 * 1024;
/// Fast compression: logs shrink ~10x even at level 1, and the bundle is wanted now.
pub const LEVEL: Compression = Compression::fast();

/// One file of the archive: its path inside, its size, and its compressed member (none when empty).
pub struct Member<'a> {
    pub path: &'a str,
    pub size: u64,
    pub part: Option<&'a Path>,
}

/// Writes the archive to `out`, members in the order given, and syncs it.
pub fn concatenate(out: &Path, members: &[Member], mtime: u64) -> io::Result<()> {
    let mut writer = BufWriter::with_capacity(IO_BUFFER, File::create(out)?);
    for member in members {
        writer.write_all(&gzip(&tar_header(member.path, member.size, mtime)?)?)?;
        if let Some(part) = member.part {
            io::copy(&mut File::open(part)?, &mut writer)?;
        }
    }
    writer.write_all(&gzip(&[0u8; 1024])?)?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// The tar header block(s) for a regular file (GNU long-name blocks included when needed).
fn tar_header(path: &str, size: u64, mtime: u64) -> io::Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data(&mut header, path, io::empty())?;
    let mut bytes = builder.into_inner()?;
    // `into_inner` appends the end-of-archive blocks, which belong only at the very end.
    bytes.truncate(bytes.len().saturating_sub(1024));
    Ok(bytes)
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), LEVEL);
    encoder.write_all(data)?;
    encoder.finish()
}

/// Bundle paths are relative, `/`-separated and never climb out of the bundle.
pub fn check_path(path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!("invalid bundle path {path:?}")))
    }
}
