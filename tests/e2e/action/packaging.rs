//! The release path end to end on this machine: `package.sh` packs the built binary with LICENSE,
//! `sha256sum` writes the sums, `krew-manifest.sh` fills the manifest from them (valid by krew's
//! rules), and the action's `install.sh` downloads from a local server, verifies the SHA-256 and
//! installs a binary that runs — or refuses a tampered archive. `resolve.sh` picks the archive.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::StatusCode;

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

/// Serves the files of `dir` at `/{name}` (a release download URL).
async fn serve(dir: PathBuf) -> String {
    let app = Router::new().route(
        "/{name}",
        axum::routing::get(move |UrlPath(name): UrlPath<String>| {
            let dir = dir.clone();
            async move {
                match std::fs::read(dir.join(&name)) {
                    Ok(bytes) => Ok(bytes),
                    Err(_) => Err(StatusCode::NOT_FOUND),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The release directory, packed once for all tests here (packing the debug binary takes seconds).
/// Tests that change files work on a copy.
fn dist() -> &'static Path {
    static DIST: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIST.get_or_init(pack).path()
}

fn copy_of_dist() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dist()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    copy
}

/// Packs the real binary for linux/amd64 and stand-in files for the other platforms (their
/// binaries cannot be built here); returns the dist directory with sha256sums.txt.
fn pack() -> tempfile::TempDir {
    let dist = tempfile::tempdir().unwrap();
    // The debug binary without its debug info: the same program, a tenth of the bytes to pack.
    let stripped = dist.path().join("kubectl-posthog-stripped");
    let out = run(Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(env!("CARGO_BIN_EXE_kubectl-posthog")));
    assert_eq!(out.code, 0, "strip (binutils): {}", out.stderr);
    let out = run(script(".github/scripts/package.sh").args([
        stripped.to_str().unwrap(),
        "linux",
        "amd64",
        dist.path().to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .trim()
            .ends_with("kubectl-posthog_linux_amd64.tar.gz"),
        "{}",
        out.stdout
    );
    let fake = dist.path().join("fake-binary");
    std::fs::write(&fake, "#!/bin/sh\necho other platform\n").unwrap();
    for (os, arch) in [("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")] {
        let out = run(script(".github/scripts/package.sh").args([
            fake.to_str().unwrap(),
            os,
            arch,
            dist.path().to_str().unwrap(),
        ]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    for arch in ["amd64", "arm64"] {
        // Windows archives are zips made by zip or 7z on the runner; stand-in bytes are enough here.
        std::fs::write(
            dist.path()
                .join(format!("kubectl-posthog_windows_{arch}.zip")),
            arch,
        )
        .unwrap();
    }
    std::fs::remove_file(&fake).unwrap();
    std::fs::remove_file(&stripped).unwrap();
    let out = run(Command::new("bash")
        .current_dir(dist.path())
        // sha256sum on Linux, shasum on macOS: the same output format.
        .args([
            "-c",
            "if command -v sha256sum >/dev/null; then sha256sum kubectl-posthog_*; \
             else shasum -a 256 kubectl-posthog_*; fi > sha256sums.txt",
        ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    dist
}

#[test]
fn archive_holds_the_binary_and_the_license() {
    let archive = dist().join("kubectl-posthog_linux_amd64.tar.gz");
    let listing = run(Command::new("tar").arg("-tzf").arg(&archive));
    let mut names: Vec<&str> = listing.stdout.lines().collect();
    names.sort();
    assert_eq!(names, ["LICENSE", "kubectl-posthog"]);
}

#[test]
fn krew_manifest_is_filled_from_the_release_sums() {
    let dist = copy_of_dist();
    let sums = dist.path().join("sha256sums.txt");
    let base = "https://github.com/kubectl-posthog/kubectl-posthog/releases/download/v1.2.3";
    let out = run(script(".github/scripts/krew-manifest.sh").args([
        "v1.2.3",
        sums.to_str().unwrap(),
        base,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let manifest = krew::parse(&out.stdout);
    assert_eq!(krew::validate(&manifest), Vec::<String>::new());
    assert_eq!(manifest["spec"]["version"], "v1.2.3");
    let platforms = manifest["spec"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 6);
    for platform in platforms {
        let uri = platform["uri"].as_str().unwrap();
        let archive = uri.rsplit('/').next().unwrap();
        assert!(uri.starts_with(base), "{uri}");
        assert_eq!(
            platform["sha256"],
            sha256_of(&dist.path().join(archive)),
            "{archive}"
        );
    }

    // A release missing an archive cannot produce a manifest.
    std::fs::write(
        &sums,
        std::fs::read_to_string(&sums)
            .unwrap()
            .replace("windows_arm64", "windows_x"),
    )
    .unwrap();
    let out = run(script(".github/scripts/krew-manifest.sh").args([
        "v1.2.3",
        sums.to_str().unwrap(),
        base,
    ]));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("no sha256 for kubectl-posthog_windows_arm64.zip"),
        "{}",
        out.stderr
    );
    let out = run(script(".github/scripts/krew-manifest.sh").args([
        "1.2.3",
        sums.to_str().unwrap(),
        base,
    ]));
    assert_eq!(out.code, 2, "a version without its v is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_verifies_the_checksum_then_installs_a_working_binary() {
    let dist = copy_of_dist();
    let url = serve(dist.path().to_path_buf()).await;
    let install_dir = tempfile::tempdir().unwrap();
    let binary = install_dir
        .path()
        .join("v9.9.9/linux_amd64/kubectl-posthog");
    let install = |archive: &str| {
        let mut cmd = script(".github/action/install.sh");
        cmd.env("KP_BASE_URL", &url)
            .env("KP_ARCHIVE", archive)
            .env("KP_INSTALL_DIR", binary.parent().unwrap())
            .env("KP_BINARY", &binary);
        cmd
    };
    let out = tokio::task::spawn_blocking({
        let mut cmd = install("kubectl-posthog_linux_amd64.tar.gz");
        move || run(&mut cmd)
    })
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("kubectl-posthog {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(binary.parent().unwrap().join("LICENSE").is_file());

    // A tampered archive is refused and nothing is installed.
    let tampered = dist.path().join("kubectl-posthog_darwin_arm64.tar.gz");
    let mut bytes = std::fs::read(&tampered).unwrap();
    bytes.push(0);
    std::fs::write(&tampered, bytes).unwrap();
    std::fs::remove_dir_all(binary.parent().unwrap()).unwrap();
    let out = tokio::task::spawn_blocking({
        let mut cmd = install("kubectl-posthog_darwin_arm64.tar.gz");
        move || run(&mut cmd)
    })
    .await
    .unwrap();
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("::error title=kubectl-posthog install::checksum mismatch for kubectl-posthog_darwin_arm64.tar.gz"), "{}", out.stdout);
    assert!(!binary.exists());
}

#[test]
fn resolve_picks_the_archive_for_the_runner() {
    let cases = [
        (
            "Linux",
            "X64",
            "v0.3.1",
            "",
            "v0.3.1",
            "kubectl-posthog_linux_amd64.tar.gz",
            "kubectl-posthog",
        ),
        (
            "macOS",
            "ARM64",
            "",
            "v1.2.3",
            "v1.2.3",
            "kubectl-posthog_darwin_arm64.tar.gz",
            "kubectl-posthog",
        ),
        (
            "Windows",
            "ARM64",
            "v2.0.0",
            "main",
            "v2.0.0",
            "kubectl-posthog_windows_arm64.zip",
            "kubectl-posthog.exe",
        ),
    ];
    for (os, arch, version, action_ref, want_version, archive, exe) in cases {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        let out = run(script(".github/action/resolve.sh")
            .env("GITHUB_OUTPUT", &output)
            .env("RUNNER_TOOL_CACHE", dir.path())
            .env("KP_RUNNER_OS", os)
            .env("KP_RUNNER_ARCH", arch)
            .env("KP_VERSION", version)
            .env("KP_ACTION_REF", action_ref)
            .env("KP_ACTION_REPOSITORY", "acme/kubectl-posthog")
            .env("KP_SERVER_URL", "https://github.example.com"));
        assert_eq!(out.code, 0, "{os}/{arch}: {}", out.stdout);
        let text = std::fs::read_to_string(&output).unwrap();
        assert!(
            text.contains(&format!("version={want_version}\n")),
            "{text}"
        );
        assert!(text.contains(&format!("archive={archive}\n")), "{text}");
        assert!(text.contains(&format!("base-url=https://github.example.com/acme/kubectl-posthog/releases/download/{want_version}\n")), "{text}");
        assert!(
            text.contains(&format!("/kubectl-posthog/{want_version}/")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("binary=") && l.ends_with(exe)),
            "{text}"
        );
    }
    let out = run(script(".github/action/resolve.sh")
        .env("GITHUB_OUTPUT", "/dev/null")
        .env("KP_RUNNER_OS", "Linux")
        .env("KP_RUNNER_ARCH", "X86")
        .env("KP_VERSION", "v1.0.0"));
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("unsupported runner architecture 'X86'"),
        "{}",
        out.stdout
    );
    let out = run(script(".github/action/resolve.sh")
        .env("GITHUB_OUTPUT", "/dev/null")
        .env("KP_RUNNER_OS", "Linux")
        .env("KP_RUNNER_ARCH", "X64")
        .env("KP_VERSION", "1.0"));
    assert_eq!(out.code, 2, "{}", out.stdout);
}

#[test]
fn run_script_turns_inputs_into_flags() {
    let dir = tempfile::tempdir().unwrap();
    let echo = dir.path().join("echo-args");
    std::fs::write(
        &echo,
        "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n",
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&echo));
    let step = |command: &str, comment: &str, fail_on: &str| {
        let mut cmd = script(".github/action/run.sh");
        cmd.env("KP_BINARY", &echo)
            .env("KP_COMMAND", command)
            .env(
                "KP_ARGS",
                "deploy/web  -n prod\n--image app=ghcr.io/acme/*:1.5",
            )
            .env("KP_COMMENT", comment)
            .env("KP_COMMIT_COMMENT", "true")
            .env("KP_FAIL_ON", fail_on)
            .env("KP_MAX_WAIT", "30s");
        run(&mut cmd)
    };
    let out = step("canary", "true", "p1");
    assert_eq!(out.code, 0, "{}", out.stdout);
    let argv: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        argv,
        [
            "[canary]",
            "[deploy/web]",
            "[-n]",
            "[prod]",
            "[--image]",
            "[app=ghcr.io/acme/*:1.5]",
            "[--github]",
            "[--no-progress]",
            "[--pr-comment]",
            "[--commit-comment]",
            "[--github-max-wait]",
            "[30s]",
        ],
        "split on whitespace, no glob expansion; no --fail-on for a canary"
    );
    assert!(
        out.stdout
            .contains("::warning title=kubectl-posthog::fail-on is ignored for canary"),
        "{}",
        out.stdout
    );
    let out = step("triage", "true", "p1");
    assert!(out.stdout.contains("[--fail-on]\n[p1]"), "{}", out.stdout);
    let out = step("preflight", "false", "");
    assert!(
        !out.stdout.contains("[--pr-comment]") && !out.stdout.contains("[--fail-on]"),
        "{}",
        out.stdout
    );

    let out = step("deploy", "true", "");
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("::error title=kubectl-posthog::command 'deploy' is not one of"),
        "{}",
        out.stdout
    );
    let out = step("preflight", "yes", "");
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("comment must be true or false"),
        "{}",
        out.stdout
    );
    let mut cmd = script(".github/action/run.sh");
    let out = run(cmd
        .env("KP_BINARY", dir.path().join("missing"))
        .env("KP_COMMAND", "preflight"));
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("is not an executable file"),
        "{}",
        out.stdout
    );
}
