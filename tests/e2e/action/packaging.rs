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
pub(super) fn dist() -> &'static Path {
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
    assert_eq!(
        names,
        ["LICENSE", "kubectl-posthog", "kubectl_complete-posthog"]
    );
}

/// kubectl (1.26+) runs `kubectl_complete-posthog` for `kubectl posthog <TAB>`: the archive ships
/// it executable, and unpacked next to the binary on PATH it answers with the subcommands.
#[test]
fn archive_ships_a_working_kubectl_completer() {
    let archive = dist().join("kubectl-posthog_linux_amd64.tar.gz");
    let unpacked = tempfile::tempdir().unwrap();
    let out = run(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(unpacked.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let completer = unpacked.path().join("kubectl_complete-posthog");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&completer).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755, "{mode:o}");
    let path = format!(
        "{}:{}",
        unpacked.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(Command::new(&completer).arg("").env("PATH", path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for sub in ["preflight", "canary", "rollback", "triage", "evidence"] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(sub)),
            "{sub}:\n{}",
            out.stdout
        );
    }
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
        // krew extracts only the files listed: the completer packed in the archive is one.
        if archive == "kubectl-posthog_linux_amd64.tar.gz" {
            let listing = run(Command::new("tar")
                .arg("-tzf")
                .arg(dist.path().join(archive)));
            for file in platform["files"].as_array().unwrap() {
                let from = file["from"].as_str().unwrap();
                assert!(
                    listing.stdout.lines().any(|l| l == from),
                    "{from} is not in {archive}"
                );
            }
        }
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

/// A bare repository at `{root}/acme/kubectl-posthog.git` (what `git ls-remote` reads at
/// `$KP_SERVER_URL/$repo.git`) with commits tagged as a release history; returns the commits.
fn tagged_repository(root: &Path) -> Vec<String> {
    let bare = root.join("acme/kubectl-posthog.git");
    std::fs::create_dir_all(&bare).unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let out = run(Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args));
        assert_eq!(out.code, 0, "git {args:?}: {}", out.stderr);
        out.stdout.trim().to_string()
    };
    git(&bare, &["init", "-q", "--bare"]);
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let mut commits = Vec::new();
    for tags in [
        &["v0.1.0"][..],
        &["v0.2.0-rc.1", "v0.2.0", "v0"][..],
        &["v0.3.0-rc.1"][..],
        &[][..],
    ] {
        git(&work, &["commit", "-q", "--allow-empty", "-m", "c"]);
        for tag in tags {
            // Annotated and lightweight tags both occur: ls-remote peels only the former.
            if tag.contains("rc") {
                git(&work, &["tag", "-a", "-m", tag, tag]);
            } else {
                git(&work, &["tag", tag]);
            }
        }
        commits.push(git(&work, &["rev-parse", "HEAD"]));
    }
    git(
        &work,
        &["push", "-q", bare.to_str().unwrap(), "HEAD:main", "--tags"],
    );
    commits
}

fn resolve(env: &[(&str, &str)]) -> (crate::support::Run, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let mut cmd = script(".github/action/resolve.sh");
    cmd.env("GITHUB_OUTPUT", &output)
        .env("RUNNER_TOOL_CACHE", dir.path())
        .env("KP_RUNNER_OS", "Linux")
        .env("KP_RUNNER_ARCH", "X64")
        .env("KP_ACTION_REPOSITORY", "acme/kubectl-posthog")
        .env_remove("GITHUB_ACTION_PATH")
        .env_remove("KP_VERSION")
        .env_remove("KP_ACTION_REF");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    let version = std::fs::read_to_string(&output)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("version=").map(str::to_string))
        .unwrap_or_default();
    (out, version)
}

/// Guards issue 16: an action pinned by commit SHA installed whatever `releases/latest` was.
#[test]
fn resolve_follows_a_sha_pin_to_its_release_tag_or_asks_for_version() {
    let root = tempfile::tempdir().unwrap();
    let commits = tagged_repository(root.path());
    let server = format!("file://{}", root.path().display());
    let cases = [
        (commits[0].as_str(), "v0.1.0"),
        (commits[1].as_str(), "v0.2.0"), // the release, not its rc nor the major tag
        (commits[2].as_str(), "v0.3.0-rc.1"), // only a prerelease points here
        ("v0", "v0.2.0"),                // the newest final v0.x.y
        ("v0.1", "v0.1.0"),
        ("v0.3.0-rc.1", "v0.3.0-rc.1"),
    ];
    for (action_ref, want) in cases {
        let (out, version) = resolve(&[("KP_SERVER_URL", &server), ("KP_ACTION_REF", action_ref)]);
        assert_eq!(out.code, 0, "{action_ref}: {}", out.stdout);
        assert_eq!(version, want, "{action_ref}");
    }
    // The runner's unpack path names the ref when github.action_ref is empty.
    let path = format!(
        "/home/runner/work/_actions/acme/kubectl-posthog/{}",
        commits[0]
    );
    let (out, version) = resolve(&[("KP_SERVER_URL", &server), ("GITHUB_ACTION_PATH", &path)]);
    assert_eq!(
        (out.code, version.as_str()),
        (0, "v0.1.0"),
        "{}",
        out.stdout
    );

    let (out, version) = resolve(&[("KP_SERVER_URL", &server), ("KP_ACTION_REF", &commits[3])]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(version, "");
    assert!(
        out.stdout.contains(&format!(
            "::error title=kubectl-posthog::the action is pinned to commit {}, and no release tag of acme/kubectl-posthog points at it: set the version input",
            &commits[3][..12]
        )),
        "{}",
        out.stdout
    );
    // The version input wins over the ref.
    let (out, version) = resolve(&[
        ("KP_SERVER_URL", &server),
        ("KP_ACTION_REF", &commits[3]),
        ("KP_VERSION", "v0.1.0"),
    ]);
    assert_eq!(
        (out.code, version.as_str()),
        (0, "v0.1.0"),
        "{}",
        out.stdout
    );
}

/// Guards issue 16: with no release published, a branch ref gave "version 'releases' is not a
/// release tag".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_on_a_branch_says_when_no_release_exists() {
    use axum::response::Redirect;
    let latest = |to: &'static str| {
        Router::new()
            .route(
                "/acme/kubectl-posthog/releases/latest",
                axum::routing::get(move || async move { Redirect::temporary(to) }),
            )
            .fallback(|| async { "a page" })
    };
    for (to, want) in [
        ("/acme/kubectl-posthog/releases/tag/v0.4.2", Ok("v0.4.2")),
        (
            "/acme/kubectl-posthog/releases",
            Err("no release of acme/kubectl-posthog is published at"),
        ),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = latest(to);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let (out, version) = tokio::task::spawn_blocking(move || {
            resolve(&[("KP_SERVER_URL", &url), ("KP_ACTION_REF", "main")])
        })
        .await
        .unwrap();
        match want {
            Ok(tag) => assert_eq!((out.code, version.as_str()), (0, tag), "{}", out.stdout),
            Err(message) => {
                assert_eq!(out.code, 2, "{}", out.stdout);
                assert!(out.stdout.contains(message), "{}", out.stdout);
                assert!(!out.stdout.contains("'releases'"), "{}", out.stdout);
            }
        }
    }
}

/// Runs run.sh with `env` and a binary that prints its arguments one per line as `[arg]`.
fn run_sh(env: &[(&str, &str)]) -> crate::support::Run {
    let dir = tempfile::tempdir().unwrap();
    let echo = dir.path().join("echo-args");
    std::fs::write(
        &echo,
        "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n",
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&echo));
    let mut cmd = script(".github/action/run.sh");
    cmd.env_remove("RUNNER_TEMP").env("KP_BINARY", &echo);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn argv(out: &crate::support::Run) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| l.trim_start_matches('[').trim_end_matches(']').to_string())
        .collect()
}

/// Issue 20: in GitHub mode the action can write preflight's fixes and upload them (the
/// `fix-dir` input becomes `--fix DIR`; the upload step is the action's last).
#[test]
fn fix_dir_becomes_preflights_fix_flag_and_is_refused_elsewhere() {
    let out = run_sh(&[
        ("KP_COMMAND", "preflight"),
        ("KP_ARGS", "-f k8s"),
        ("KP_FIX_DIR", "fixes dir"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let args = argv(&out);
    assert_eq!(
        &args[..5],
        ["preflight", "-f", "k8s", "--fix", "fixes dir"],
        "{args:?}"
    );
    let out = run_sh(&[("KP_COMMAND", "canary"), ("KP_FIX_DIR", "fixes")]);
    assert_ne!(out.code, 0);
    assert!(
        out.stdout.contains("fix-dir is for preflight only"),
        "{}",
        out.stdout
    );
    let action = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml"),
    )
    .unwrap();
    assert!(
        action.contains("name: kubectl-posthog-fixes")
            && action.contains("inputs.fix-dir != '' && inputs.command == 'preflight'"),
        "the action uploads the fix directory"
    );
}

#[test]
fn run_script_turns_inputs_into_flags() {
    let step = |command: &str, comment: &str, fail_on: &str| {
        run_sh(&[
            ("KP_COMMAND", command),
            (
                "KP_ARGS",
                "deploy/web  -n prod\n--image app=ghcr.io/acme/*:1.5",
            ),
            ("KP_COMMENT", comment),
            ("KP_COMMIT_COMMENT", "true"),
            ("KP_FAIL_ON", fail_on),
            ("KP_MAX_WAIT", "30s"),
        ])
    };
    let out = step("canary", "true", "p1");
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        argv(&out),
        [
            "canary",
            "deploy/web",
            "-n",
            "prod",
            "--image",
            "app=ghcr.io/acme/*:1.5",
            "--github",
            "--no-progress",
            "--pr-comment",
            "--commit-comment",
            "--github-max-wait",
            "30s",
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
        "comment: false is no comment at all: {}",
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
        out.stdout
            .contains("::error title=kubectl-posthog::comment must be true or false, not 'yes'"),
        "{}",
        out.stdout
    );
    let mut cmd = script(".github/action/run.sh");
    let out = run(cmd
        .env("KP_BINARY", "/nonexistent/kubectl-posthog")
        .env("KP_COMMAND", "preflight"));
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("is not an executable file"),
        "{}",
        out.stdout
    );
}

/// Guards issue 16: `args` could not hold a path with spaces (`-f 'k8s/my prod.yaml'` became
/// `'k8s/my` and `prod.yaml'`).
#[test]
fn run_script_splits_args_as_a_shell_does_without_expanding() {
    let out = run_sh(&[
        ("KP_COMMAND", "preflight"),
        (
            "KP_ARGS",
            "-f 'k8s/my prod.yaml' --set \"name=a \\\"b\\\"\"\n  -f k8s/x\\ y.yaml --empty '' $HOME *",
        ),
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        argv(&out)[..11],
        [
            "preflight",
            "-f",
            "k8s/my prod.yaml",
            "--set",
            "name=a \"b\"",
            "-f",
            "k8s/x y.yaml",
            "--empty",
            "",
            "$HOME",
            "*",
        ]
    );
    assert!(
        out.stdout
            .contains("kubectl-posthog preflight -f k8s/my\\ prod.yaml"),
        "the echoed command line is quoted too: {}",
        out.stdout
    );
    let out = run_sh(&[
        ("KP_COMMAND", "preflight"),
        ("KP_ARGS", "-f 'k8s/my prod.yaml"),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("::error title=kubectl-posthog::args has an unmatched quote"),
        "{}",
        out.stdout
    );
}

/// Guards issue 16: an invalid `fail-on` gave an exit code but no annotation.
#[test]
fn run_script_refuses_bad_inputs_with_an_error_annotation() {
    for (name, value, message) in [
        (
            "KP_FAIL_ON",
            "P2",
            "fail-on must be one of p1, p2, p3, p4, never, not 'P2'",
        ),
        (
            "KP_COMMENT_MODE",
            "sticky",
            "comment-mode must be one of update, recreate, hide-previous, off",
        ),
        (
            "KP_CHECK_RUN",
            "1",
            "check-run must be true or false, not '1'",
        ),
        (
            "KP_UPLOAD_SARIF",
            "yes",
            "upload-sarif must be true or false",
        ),
    ] {
        let out = run_sh(&[("KP_COMMAND", "preflight"), (name, value)]);
        assert_eq!(out.code, 2, "{name}: {}", out.stdout);
        assert!(
            out.stdout
                .contains(&format!("::error title=kubectl-posthog::{message}")),
            "{name}: {}",
            out.stdout
        );
        assert!(
            argv(&out).is_empty(),
            "the binary never ran: {}",
            out.stdout
        );
    }
}

#[test]
fn run_script_passes_comment_mode_key_check_run_and_sarif() {
    let out = run_sh(&[
        ("KP_COMMAND", "preflight"),
        ("KP_COMMENT_MODE", "hide-previous"),
        ("KP_COMMENT_KEY", "eu"),
        ("KP_CHECK_RUN", "true"),
        ("KP_UPLOAD_SARIF", "true"),
        ("RUNNER_TEMP", "/tmp/runner"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let args = argv(&out).join(" ");
    assert!(
        args.contains("--pr-comment --comment-mode hide-previous --comment-key eu --check-run --upload-sarif --sarif /tmp/runner/kubectl-posthog-preflight.sarif"),
        "{args}"
    );
    let out = run_sh(&[
        ("KP_COMMAND", "preflight"),
        ("KP_COMMENT_MODE", "off"),
        ("KP_COMMIT_COMMENT", "true"),
    ]);
    let args = argv(&out).join(" ");
    assert!(
        !args.contains("comment"),
        "off means no comment anywhere: {args}"
    );
}
