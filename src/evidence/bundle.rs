//! The bundle on disk: a directory (`--out-dir`) or `incident-<name>-<UTC timestamp>.tar.gz`.
//!
//! Every file goes through an [`EntryWriter`] that counts its bytes and hashes them (SHA-256) as
//! they are written, so the manifest never needs a second pass. For the archive, each file is
//! compressed into its own gzip member in a staging directory while it is written (logs stream
//! concurrently, so compression runs on every core); finishing concatenates the members
//! ([`super::archive`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::write::GzEncoder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::archive::{LEVEL, Member, check_path, concatenate};
use super::redact::Redactor;
use crate::error::{Error, Result};

const IO_BUFFER: usize = super::archive::IO_BUFFER;

/// One file of the bundle, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub redactions: usize,
}

enum Layout {
    Directory(PathBuf),
    Archive {
        staging: tempfile::TempDir,
        archive: PathBuf,
        mtime: u64,
    },
}

/// A bundle being written; entries may be added from many tasks at once.
pub struct Bundle {
    layout: Layout,
    entries: Mutex<Vec<(Entry, Option<PathBuf>)>>,
}

impl Bundle {
    /// A directory bundle; the directory is created, and must be empty if it exists.
    pub fn directory(dir: &Path) -> Result<Bundle> {
        if dir.exists() {
            let mut listing = std::fs::read_dir(dir)
                .map_err(|e| Error::io(format!("read directory {}", dir.display()), e))?;
            if listing.next().is_some() {
                return Err(Error::Usage(format!(
                    "--out-dir {} is not empty: name a new or empty directory",
                    dir.display()
                )));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Input(format!(
                "--out-dir {}: cannot create it ({e}): name a directory you can write to",
                dir.display()
            ))
        })?;
        Ok(Bundle {
            layout: Layout::Directory(dir.to_path_buf()),
            entries: Mutex::new(Vec::new()),
        })
    }

    /// A `.tar.gz` bundle at `archive`; parts are staged in a hidden directory beside it.
    pub fn archive(archive: &Path, mtime: jiff::Timestamp) -> Result<Bundle> {
        let parent = archive
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if archive.exists() {
            return Err(Error::Usage(format!(
                "{} already exists: move it away or pass --archive-dir",
                archive.display()
            )));
        }
        let staging = tempfile::Builder::new()
            .prefix(".incident-staging-")
            .tempdir_in(parent)
            .map_err(|e| {
                Error::Input(format!(
                    "cannot write the bundle in {} ({e}): pass --archive-dir with a directory you can write to",
                    parent.display()
                ))
            })?;
        Ok(Bundle {
            layout: Layout::Archive {
                staging,
                archive: archive.to_path_buf(),
                mtime: mtime.as_second().max(0) as u64,
            },
            entries: Mutex::new(Vec::new()),
        })
    }

    /// Where the bundle ends up.
    pub fn location(&self) -> &Path {
        match &self.layout {
            Layout::Directory(dir) => dir,
            Layout::Archive { archive, .. } => archive,
        }
    }

    /// A writer for the bundle file `path` (`logs/pod/app.log`); call [`EntryWriter::finish`].
    pub fn writer(&self, path: &str) -> Result<EntryWriter<'_>> {
        check_path(path)?;
        let (sink, part) = match &self.layout {
            Layout::Directory(dir) => {
                let target = dir.join(path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
                }
                let file = File::create(&target)
                    .map_err(|e| Error::io(format!("create {}", target.display()), e))?;
                (Sink::Plain(BufWriter::with_capacity(IO_BUFFER, file)), None)
            }
            Layout::Archive { staging, .. } => {
                let index = self.lock().len();
                let part = staging
                    .path()
                    .join(format!("{index:06}-{}.gz", path.replace('/', "_")));
                let file = File::create(&part)
                    .map_err(|e| Error::io(format!("create {}", part.display()), e))?;
                let encoder = GzEncoder::new(BufWriter::with_capacity(IO_BUFFER, file), LEVEL);
                (Sink::Gzip(encoder), Some(part))
            }
        };
        Ok(EntryWriter {
            bundle: self,
            path: path.to_string(),
            sink,
            part,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Adds a small file from memory.
    pub fn add(&self, path: &str, contents: &[u8], redactions: usize) -> Result<Entry> {
        let mut writer = self.writer(path)?;
        writer
            .write_all(contents)
            .map_err(|e| Error::io(format!("write {path} to the bundle"), e))?;
        writer.finish(redactions)
    }

    /// Adds a text file after redacting it; `extra` counts redactions made before (blanked env
    /// values), so the manifest's count per file is complete.
    pub fn add_text(
        &self,
        path: &str,
        text: &str,
        redactor: &Redactor,
        extra: usize,
    ) -> Result<()> {
        let (redacted, count) = redactor.redact_str(text);
        self.add(path, redacted.as_bytes(), count + extra)
            .map(|_| ())
    }

    /// The entries so far, sorted by path.
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self.lock().iter().map(|(e, _)| e.clone()).collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries
    }

    /// Writes the archive (for a directory bundle there is nothing left to do) and returns where
    /// the bundle is. The archive appears under its final name only once complete.
    pub fn finish(self) -> Result<PathBuf> {
        let entries = {
            let mut entries = std::mem::take(&mut *self.lock());
            entries.sort_by(|a, b| a.0.path.cmp(&b.0.path));
            entries
        };
        match self.layout {
            Layout::Directory(dir) => Ok(dir),
            Layout::Archive {
                staging,
                archive,
                mtime,
            } => {
                let partial = archive.with_extension("gz.partial");
                // One top-level directory, named as the archive: `tar xzf` spills nothing
                // beside it, and the manifest's relative paths hold inside it.
                let top = top_directory(&archive);
                let paths: Vec<String> = entries
                    .iter()
                    .map(|(entry, _)| format!("{top}/{}", entry.path))
                    .collect();
                let members: Vec<Member> = entries
                    .iter()
                    .zip(&paths)
                    .map(|((entry, part), path)| Member {
                        path,
                        size: entry.size,
                        part: part.as_deref(),
                    })
                    .collect();
                let write = || concatenate(&partial, &members, mtime);
                write().map_err(|e| Error::io(format!("write {}", partial.display()), e))?;
                std::fs::rename(&partial, &archive).map_err(|e| {
                    Error::io(
                        format!("rename {} to {}", partial.display(), archive.display()),
                        e,
                    )
                })?;
                drop(staging);
                Ok(archive)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Entry, Option<PathBuf>)>> {
        // A panic while holding the lock only ever pushes an entry; the list stays usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

/// Writes one bundle file, hashing and counting what passes through.
pub struct EntryWriter<'b> {
    bundle: &'b Bundle,
    path: String,
    sink: Sink,
    part: Option<PathBuf>,
    hasher: Sha256,
    size: u64,
}

impl EntryWriter<'_> {
    /// Completes the file and records it (with its redaction count) for the manifest.
    pub fn finish(self, redactions: usize) -> Result<Entry> {
        let context = || format!("write {} to the bundle", self.path);
        match self.sink {
            Sink::Plain(writer) => {
                writer
                    .into_inner()
                    .map_err(|e| Error::io(context(), e.into_error()))?;
            }
            Sink::Gzip(mut encoder) => {
                // Tar pads each file to a 512-byte block; the padding lives in the file's member.
                let pad = (512 - (self.size % 512) as usize) % 512;
                encoder
                    .write_all(&[0u8; 512][..pad])
                    .and_then(|()| encoder.finish())
                    .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                    .map_err(|e| Error::io(context(), e))?;
            }
        }
        let entry = Entry {
            path: self.path,
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            redactions,
        };
        self.bundle.lock().push((entry.clone(), self.part));
        Ok(entry)
    }
}

impl Write for EntryWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = match &mut self.sink {
            Sink::Plain(w) => w.write(data)?,
            Sink::Gzip(w) => w.write(data)?,
        };
        self.hasher.update(&data[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

/// The directory an archive unpacks into: its file name without `.tar.gz`
/// (`incident-web-20261122T100000Z`).
pub fn top_directory(archive: &Path) -> String {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))
        .unwrap_or(&name);
    if stem.is_empty() || stem == "." || stem == ".." {
        "incident".to_string()
    } else {
        stem.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn ts() -> jiff::Timestamp {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    #[test]
    fn an_archive_of_concatenated_members_unpacks_with_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incident-web-20261122T100000Z.tar.gz");
        let bundle = Bundle::archive(&path, ts()).unwrap();
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let long_name = format!("logs/{}/app.log", "p".repeat(120));
        let mut writer = bundle.writer(&long_name).unwrap();
        for chunk in big.chunks(7777) {
            writer.write_all(chunk).unwrap();
        }
        let logged = writer.finish(2).unwrap();
        bundle.add("manifest.json", b"{}", 0).unwrap();
        bundle.add("empty.txt", b"", 0).unwrap();
        assert_eq!(logged.size, big.len() as u64);
        assert_eq!(logged.sha256, sha(&big));
        let entries = bundle.entries();
        assert_eq!(entries.len(), 3);
        let done = bundle.finish().unwrap();
        assert_eq!(done, path);
        assert!(
            !dir.path()
                .join("incident-web-20261122T100000Z.tar.gz.partial")
                .exists()
        );

        let file = File::open(&path).unwrap();
        let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let full = entry.path().unwrap().to_string_lossy().into_owned();
            // Every entry sits under the one top-level directory (issue 18 item 5).
            let name = full
                .strip_prefix("incident-web-20261122T100000Z/")
                .unwrap_or_else(|| panic!("{full} is outside incident-web-20261122T100000Z/"))
                .to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            let listed = entries.iter().find(|e| e.path == name).unwrap();
            assert_eq!(listed.sha256, sha(&data), "{name}");
            seen.push(name);
        }
        seen.sort();
        assert_eq!(seen, ["empty.txt", long_name.as_str(), "manifest.json"]);
        // Staging parts are gone with the bundle.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn a_directory_bundle_writes_files_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bundle");
        let bundle = Bundle::directory(&out).unwrap();
        bundle
            .add("k8s/deployment.yaml", b"kind: Deployment\n", 1)
            .unwrap();
        let entries = bundle.entries();
        bundle.finish().unwrap();
        let written = std::fs::read(out.join("k8s/deployment.yaml")).unwrap();
        assert_eq!(entries[0].sha256, sha(&written));
        assert_eq!(entries[0].redactions, 1);
    }

    #[test]
    fn a_non_empty_directory_or_an_existing_archive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), "x").unwrap();
        assert_eq!(
            Bundle::directory(dir.path()).err().unwrap().exit().code(),
            2
        );
        let archive = dir.path().join("x");
        assert_eq!(
            Bundle::archive(&archive, ts()).err().unwrap().exit().code(),
            2
        );
    }

    #[test]
    fn a_place_that_cannot_hold_the_bundle_is_an_input_error_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = Bundle::directory(&file.join("sub")).err().unwrap();
        assert_eq!(err.exit().code(), 2);
        assert!(err.to_string().starts_with("--out-dir "), "{err}");
        let err = Bundle::archive(&file.join("incident.tar.gz"), ts())
            .err()
            .unwrap();
        assert_eq!(err.exit().code(), 2);
        assert!(err.to_string().contains("--archive-dir"), "{err}");
    }

    #[test]
    fn paths_cannot_escape_the_bundle() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert!(check_path("logs/web-1/app.previous.log").is_ok());
    }
}
