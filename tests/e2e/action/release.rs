//! The release path that can run here (no GitHub): archives are reproducible, the release script
//! is idempotent and marks prereleases, the krew manifest goes through a pull request (never to
//! a prerelease's), the local-build krew script writes a manifest with its archive's real
//! checksum — and the workflow wires those steps in that order with the permissions they need.
//! `gh` is a stand-in script that records its calls; `origin` is a local bare repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::krew;
use crate::support::run;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script(path: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join(path));
    cmd
}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A small executable standing in for the binary (packing the real one takes seconds).
fn fake_binary(dir: &Path) -> PathBuf {
    let path = dir.join("kubectl-posthog-build");
    std::fs::write(&path, "#!/bin/sh\necho kubectl-posthog 9.9.9\n").unwrap();
    path
}

fn package(binary: &Path, os: &str, arch: &str, out: &Path, epoch: Option<&str>) -> PathBuf {
    let mut cmd = script(".github/scripts/package.sh");
    cmd.args([binary.to_str().unwrap(), os, arch, out.to_str().unwrap()]);
    match epoch {
        Some(epoch) => cmd.env("SOURCE_DATE_EPOCH", epoch),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    PathBuf::from(out.stdout.trim())
}

/// Guards issue 16: archives carried the packing time, owner and umask, so two runs on the same
/// binary gave different bytes (and different checksums in sha256sums.txt and the manifest).
#[test]
fn archives_are_byte_for_byte_reproducible() {
    for (os, ext) in [("linux", "tar.gz"), ("windows", "zip")] {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let binary = fake_binary(one.path());
        let first = package(
            &binary,
            os,
            "amd64",
            &one.path().join("dist"),
            Some("1700000000"),
        );
        // Later, from another copy with another mtime, mode and umask.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let copy = two.path().join("other-name");
        std::fs::copy(&binary, &copy).unwrap();
        run(Command::new("chmod").arg("700").arg(&copy));
        run(Command::new("touch").arg(&copy));
        let mut cmd = Command::new("bash");
        cmd.args(["-c", "umask 077; exec bash \"$0\" \"$@\""])
            .arg(repo().join(".github/scripts/package.sh"))
            .args([
                copy.to_str().unwrap(),
                os,
                "amd64",
                two.path().join("dist").to_str().unwrap(),
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000");
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let second = PathBuf::from(out.stdout.trim());
        assert!(
            first
                .to_str()
                .unwrap()
                .ends_with(&format!("kubectl-posthog_{os}_amd64.{ext}"))
        );
        assert_eq!(
            sha256_of(&first),
            sha256_of(&second),
            "{os}: the same binary gives the same bytes"
        );
        // Another epoch is another archive: the time really is in it.
        let three = tempfile::tempdir().unwrap();
        let other = package(&binary, os, "amd64", three.path(), Some("1800000000"));
        assert_ne!(sha256_of(&first), sha256_of(&other), "{os}");
    }

    // What the entries say: root-owned, fixed modes and time, the binary first.
    let dir = tempfile::tempdir().unwrap();
    let archive = package(
        &fake_binary(dir.path()),
        "linux",
        "arm64",
        dir.path(),
        Some("1700000000"),
    );
    let listing = run(Command::new("tar")
        .args(["--utc", "--numeric-owner", "-tvzf"])
        .arg(&archive));
    let lines: Vec<Vec<&str>> = listing
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{}", listing.stdout);
    assert_eq!(lines[0][0], "-rwxr-xr-x");
    assert_eq!(lines[0][1], "0/0");
    assert_eq!(lines[0][5], "kubectl-posthog");
    assert_eq!(lines[1][0], "-rwxr-xr-x");
    assert_eq!(lines[1][1], "0/0");
    assert_eq!(lines[1][5], "kubectl_complete-posthog");
    assert_eq!(lines[2][0], "-rw-r--r--");
    assert_eq!(lines[2][1], "0/0");
    assert_eq!(lines[2][5], "LICENSE");
    assert_eq!(
        format!("{} {}", lines[0][3], lines[0][4]),
        "2023-11-14 22:13",
        "SOURCE_DATE_EPOCH 1700000000"
    );
    // gzip stores no name and no time (bytes 4..8 are the time).
    let bytes = std::fs::read(&archive).unwrap();
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
    assert_eq!(bytes[3] & 0x08, 0, "no file name in the gzip header");
}

/// A `gh` that records every call in `$GH_LOG` and answers `release view` / `pr list` from
/// files the test controls.
fn fake_gh(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let gh = bin.join("gh");
    std::fs::write(
        &gh,
        r#"#!/usr/bin/env bash
printf '%s\n' "$*" >> "$GH_LOG"
case "$1 $2" in
  "release view") [ -f "$GH_STATE/release-$3" ] && exit 0; echo "release not found" >&2; exit 1 ;;
  "release create") touch "$GH_STATE/release-$3" ;;
  "pr list") if [ -f "$GH_STATE/pr-open" ]; then echo 1; else echo 0; fi ;;
  "pr create") touch "$GH_STATE/pr-open" ;;
esac
exit 0
"#,
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&gh));
    bin
}

struct Gh {
    dir: tempfile::TempDir,
    path: String,
}

impl Gh {
    fn new() -> Gh {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_gh(dir.path());
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Gh { dir, path }
    }

    fn command(&self, script_path: &str) -> Command {
        let mut cmd = script(script_path);
        cmd.env("PATH", &self.path)
            .env("GH_LOG", self.dir.path().join("log"))
            .env("GH_STATE", self.dir.path().join("state"))
            .env("GITHUB_REPOSITORY", "acme/kubectl-posthog");
        cmd
    }

    /// The calls since the last look, and forgets them.
    fn calls(&self) -> Vec<String> {
        let log = self.dir.path().join("log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        text.lines().map(str::to_string).collect()
    }
}

/// Guards issue 16: `-rc` tags were published without `--prerelease` (and became Latest), and a
/// re-run failed on the existing release.
#[test]
fn release_script_marks_prereleases_and_finishes_on_a_rerun() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("sha256sums.txt"), "x").unwrap();
    std::fs::write(dist.path().join("kubectl-posthog_linux_amd64.tar.gz"), "y").unwrap();
    let gh = Gh::new();
    let publish = |tag: &str| {
        let out = run(gh
            .command(".github/scripts/publish-release.sh")
            .args([tag, dist.path().to_str().unwrap()]));
        assert_eq!(out.code, 0, "{tag}: {}{}", out.stdout, out.stderr);
    };

    publish("v1.2.0-rc.1");
    let calls = gh.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("release view v1.2.0-rc.1"));
    assert!(
        calls[1].starts_with("release create v1.2.0-rc.1 ")
            && calls[1].contains("--verify-tag")
            && calls[1].ends_with("--prerelease --latest=false"),
        "{calls:?}"
    );
    // The re-run uploads again instead of failing.
    publish("v1.2.0-rc.1");
    let calls = gh.calls();
    assert!(
        calls[1].starts_with("release upload v1.2.0-rc.1 ") && calls[1].contains("--clobber"),
        "{calls:?}"
    );
    assert_eq!(
        calls[2],
        "release edit v1.2.0-rc.1 --repo acme/kubectl-posthog --prerelease --latest=false"
    );

    publish("v1.2.0");
    let calls = gh.calls();
    assert!(
        calls[1].starts_with("release create v1.2.0 ") && !calls[1].contains("--prerelease"),
        "{calls:?}"
    );

    let out = run(gh
        .command(".github/scripts/publish-release.sh")
        .args(["1.2.0", dist.path().to_str().unwrap()]));
    assert_eq!(out.code, 2, "a tag without v is refused");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args));
    assert_eq!(out.code, 0, "git {args:?}: {}", out.stderr);
    out.stdout.trim().to_string()
}

/// Guards issue 16: the manifest was pushed to main after the release (refused under branch
/// protection, and a re-run failed); a prerelease's manifest was committed to main.
#[test]
fn krew_manifest_goes_through_one_pull_request_and_never_for_a_prerelease() {
    let root = tempfile::tempdir().unwrap();
    let origin = root.path().join("origin.git");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q", "--bare", "-b", "main"]);
    let work = root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("krew-manifest.yaml"), "old\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "start"]);
    git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    let manifest = root.path().join("krew-manifest.yaml");
    std::fs::write(&manifest, "the manifest of v1.2.0\n").unwrap();

    let gh = Gh::new();
    let propose = |tag: &str| {
        let out = run(gh
            .command(".github/scripts/krew-pr.sh")
            .current_dir(&work)
            .args([tag, manifest.to_str().unwrap()]));
        assert_eq!(out.code, 0, "{tag}: {}{}", out.stdout, out.stderr);
        out.stdout
    };

    let said = propose("v1.2.0-rc.1");
    assert!(said.contains("is a prerelease"), "{said}");
    assert!(gh.calls().is_empty());
    assert_eq!(
        git(
            &origin,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads"]
        ),
        "main"
    );

    propose("v1.2.0");
    let calls = gh.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with(
        "pr list --repo acme/kubectl-posthog --head krew-manifest/v1.2.0 --base main"
    ));
    assert!(calls[1].starts_with(
        "pr create --repo acme/kubectl-posthog --head krew-manifest/v1.2.0 --base main"
    ));
    assert_eq!(
        git(
            &origin,
            &["show", "krew-manifest/v1.2.0:krew-manifest.yaml"]
        ),
        "the manifest of v1.2.0"
    );
    assert_eq!(
        git(&origin, &["show", "main:krew-manifest.yaml"]),
        "old",
        "main itself is never pushed to"
    );

    // A re-run: the branch is rewritten, no second pull request.
    let said = propose("v1.2.0");
    let calls = gh.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        said.contains("a pull request for krew-manifest/v1.2.0 is open"),
        "{said}"
    );
}

/// Guards issue 16: the README's `krew install --manifest=krew-manifest.yaml --archive=…`
/// cannot work with the committed manifest's zero checksums; the local-build script writes one
/// that can.
#[test]
fn krew_local_packs_a_build_with_a_manifest_krew_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let binary = fake_binary(dir.path());
    let out_dir = dir.path().join("krew");
    let out = run(script(".github/scripts/krew-local.sh")
        .args([binary.to_str().unwrap(), out_dir.to_str().unwrap()]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let archive = out_dir.join("kubectl-posthog_linux_amd64.tar.gz");
    assert_eq!(
        out.stdout.trim(),
        format!(
            "kubectl krew install --manifest={}/krew-manifest.yaml --archive={}",
            out_dir.display(),
            archive.display()
        )
    );
    let manifest: Value =
        krew::parse(&std::fs::read_to_string(out_dir.join("krew-manifest.yaml")).unwrap());
    assert_eq!(krew::validate(&manifest), Vec::<String>::new());
    assert_eq!(
        manifest["spec"]["version"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    let platforms = manifest["spec"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 1, "this machine's platform only");
    assert_eq!(
        platforms[0]["sha256"],
        sha256_of(&archive),
        "the archive's real checksum"
    );
    assert_eq!(platforms[0]["selector"]["matchLabels"]["os"], "linux");
    assert_eq!(platforms[0]["uri"], format!("file://{}", archive.display()));
}

fn load(path: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(repo().join(path)).unwrap()).unwrap()
}

fn step_index(steps: &[Value], needle: &str) -> usize {
    steps
        .iter()
        .position(|s| s.to_string().contains(needle))
        .unwrap_or_else(|| panic!("no step with {needle}"))
}

#[test]
fn release_workflow_packs_once_attests_then_publishes_and_proposes() {
    let workflow = load(".github/workflows/release.yml");
    assert_eq!(
        workflow["permissions"],
        serde_json::json!({}),
        "nothing by default"
    );
    assert_eq!(
        workflow["jobs"]["build"]["permissions"],
        serde_json::json!({"contents": "read"})
    );
    let release = &workflow["jobs"]["release"];
    for (permission, level) in [
        ("contents", "write"),
        ("pull-requests", "write"),
        ("id-token", "write"),
        ("attestations", "write"),
    ] {
        assert_eq!(release["permissions"][permission], level, "{permission}");
    }
    let steps = release["steps"].as_array().unwrap();
    let order = [
        step_index(steps, "package.sh"),
        step_index(steps, "sha256sum"),
        step_index(steps, "krew-manifest.sh"),
        step_index(steps, "attest-build-provenance"),
        step_index(steps, "publish-release.sh"),
        step_index(steps, "krew-pr.sh"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(
        steps[order[0]].to_string().contains("SOURCE_DATE_EPOCH"),
        "packed with a fixed time"
    );
    assert_eq!(
        steps[order[3]]["with"]["subject-checksums"], "dist/sha256sums.txt",
        "every archive is attested"
    );
    // The manifest is never pushed to main directly.
    let text = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    assert!(!text.contains("HEAD:main"), "{text}");
}

/// Guards issue 16: `contents: write` was granted workflow-wide in the example; each job asks
/// for what it writes.
#[test]
fn example_jobs_ask_for_what_they_write() {
    let example = load("docs/examples/posthog-gates.yml");
    assert_eq!(example["permissions"], serde_json::json!({}));
    let merge = &example["jobs"]["merge-gate"]["permissions"];
    assert_eq!(merge["contents"], "read");
    assert_eq!(merge["pull-requests"], "write");
    let deploy = &example["jobs"]["deploy-gate"]["permissions"];
    assert_eq!(deploy["contents"], "write", "commit comments");
    assert_eq!(deploy["checks"], "write", "the check run");
}
