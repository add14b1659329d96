//! `--scan PATH`: hardcoded PostHog credentials in source and manifests, honouring `.gitignore`
//! (and `.ignore`), reported as file:line with the value masked.

use std::path::{Path, PathBuf};

use crate::posthog::{KeyKind, find_keys};

/// Files larger than this are skipped (bundles, data files); they are counted in the result.
const MAX_FILE_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ScanHit {
    /// Path relative to the scan root, with `/` separators.
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub kind: KeyKind,
    pub masked: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    pub root: PathBuf,
    pub files_scanned: usize,
    /// Binary or oversized files not read.
    pub files_skipped: usize,
    pub hits: Vec<ScanHit>,
}

#[derive(Debug, thiserror::Error)]
#[error("scan {path}: {detail}")]
pub struct ScanError {
    path: String,
    detail: String,
}

impl From<ScanError> for crate::error::Error {
    fn from(e: ScanError) -> Self {
        crate::error::Error::Input(e.to_string())
    }
}

/// Walks `root` like git would see it (`.gitignore`, `.git/info/exclude`, `.ignore`; hidden files
/// are included because `.env` files are where keys hide) and finds every prefixed key.
pub fn scan(root: &Path) -> Result<ScanResult, ScanError> {
    if !root.exists() {
        return Err(ScanError {
            path: root.display().to_string(),
            detail: "no such file or directory".to_string(),
        });
    }
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .ignore(true)
        // Honour .gitignore even when the tree is not (yet) a git repository.
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut result = ScanResult {
        root: root.to_path_buf(),
        files_scanned: 0,
        files_skipped: 0,
        hits: Vec::new(),
    };
    for entry in walker {
        let entry = entry.map_err(|e| ScanError {
            path: root.display().to_string(),
            detail: e.to_string(),
        })?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        if entry.metadata().map(|m| m.len()).unwrap_or(0) > MAX_FILE_BYTES {
            result.files_skipped += 1;
            continue;
        }
        let Ok(bytes) = std::fs::read(path) else {
            result.files_skipped += 1;
            continue;
        };
        if bytes.iter().take(8192).any(|b| *b == 0) {
            result.files_skipped += 1;
            continue;
        }
        result.files_scanned += 1;
        let text = String::from_utf8_lossy(&bytes);
        let relative = path
            .strip_prefix(root)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let relative = if relative.is_empty() {
            path.display().to_string()
        } else {
            relative
        };
        for key in find_keys(&text) {
            result.hits.push(ScanHit {
                path: relative.clone(),
                line: key.line,
                column: key.column,
                kind: key.kind,
                masked: key.masked,
            });
        }
    }
    result
        .hits
        .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u";

    #[test]
    fn finds_keys_and_honours_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("build")).unwrap();
        std::fs::write(root.join(".gitignore"), "build/\n").unwrap();
        std::fs::write(
            root.join("src/app.js"),
            format!("// init\nposthog.init('{KEY}')\n"),
        )
        .unwrap();
        std::fs::write(root.join(".env"), format!("POSTHOG_API_KEY={KEY}\n")).unwrap();
        std::fs::write(root.join("build/bundle.js"), KEY).unwrap();
        std::fs::write(root.join("logo.png"), [0u8, 1, 2, 3]).unwrap();

        let result = scan(root).unwrap();
        let hits: Vec<(&str, u32)> = result
            .hits
            .iter()
            .map(|h| (h.path.as_str(), h.line))
            .collect();
        assert_eq!(hits, [(".env", 1), ("src/app.js", 2)]);
        assert_eq!(result.hits[0].masked, "phc_…9T0u");
        assert_eq!(result.files_skipped, 1);
        // .gitignore, .env, src/app.js
        assert_eq!(result.files_scanned, 3);
    }

    #[test]
    fn a_missing_path_is_an_error() {
        let err = scan(Path::new("/nonexistent/repo")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/repo"), "{err}");
    }
}
