//! The command line contract: help, version, exit codes, colour and the kubectl plugin mechanism.

use crate::support::{bin, bin_dir, kubectl, run, run_in_tty};

#[test]
fn help_lists_subcommands_and_exit_codes() {
    let out = run(bin().arg("--help"));
    assert_eq!(out.code, 0);
    for sub in [
        "preflight",
        "canary",
        "rollback",
        "triage",
        "evidence",
        "demo",
        "completion",
    ] {
        assert!(
            out.stdout.contains(sub),
            "missing {sub} in help:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("130  interrupted"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Usage: kubectl posthog"),
        "{}",
        out.stdout
    );
}

#[test]
fn version_prints_the_package_version() {
    let out = run(bin().arg("--version"));
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout.trim(),
        format!("kubectl-posthog {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = run(bin().args(["preflight", "--no-such-flag"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);
}

#[test]
fn malformed_target_is_one_line_with_exit_2() {
    for target in ["statefulset/web", "Web_App"] {
        let out = run(bin().args(["rollback", target]));
        assert_eq!(out.code, 2, "{target}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.starts_with("error: invalid target"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_output_format_is_rejected() {
    let out = run(bin().args(["preflight", "-o", "xml"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("table, json, yaml, markdown"),
        "{}",
        out.stderr
    );
}

#[test]
fn completion_scripts_for_every_shell() {
    // bash, zsh and fish ask the binary (`__complete`), tested by running them in
    // tests/e2e/completion.rs; PowerShell's script is clap_complete's static one.
    for shell in ["bash", "zsh", "fish", "powershell", "kubectl"] {
        let out = run(bin().args(["completion", shell]));
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("kubectl-posthog"), "{shell}");
        let expected = if shell == "powershell" {
            "preflight"
        } else {
            "__complete"
        };
        assert!(out.stdout.contains(expected), "{shell}: {}", out.stdout);
    }
}

#[test]
fn errors_are_plain_when_piped_and_coloured_only_on_request() {
    let piped = run(bin().args(["rollback", "Bad"]));
    assert!(!piped.stderr.contains('\x1b'), "{:?}", piped.stderr);
    let forced = run(bin().args(["--color", "always", "rollback", "Bad"]));
    assert!(forced.stderr.contains("\x1b["), "{:?}", forced.stderr);
}

#[test]
fn terminal_gets_colour_unless_no_color_or_never() {
    let tty = run_in_tty(&["rollback", "Bad"], &[]);
    assert!(
        tty.stdout.contains("\x1b["),
        "a terminal is coloured: {:?}",
        tty.stdout
    );
    let no_color = run_in_tty(&["rollback", "Bad"], &[("NO_COLOR", "1")]);
    assert!(
        !no_color.stdout.contains("\x1b["),
        "NO_COLOR: {:?}",
        no_color.stdout
    );
    let never = run_in_tty(&["--color", "never", "rollback", "Bad"], &[]);
    assert!(
        !never.stdout.contains("\x1b["),
        "--color never: {:?}",
        never.stdout
    );
}

#[test]
fn works_as_a_kubectl_plugin() {
    let path = std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let out = run(std::process::Command::new(kubectl())
        .args(["posthog", "--help"])
        .env("PATH", &path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for sub in ["preflight", "canary", "rollback", "evidence", "demo"] {
        assert!(
            out.stdout.contains(sub),
            "kubectl posthog --help lacks {sub}:\n{}",
            out.stdout
        );
    }
    let list = run(std::process::Command::new(kubectl())
        .args(["plugin", "list"])
        .env("PATH", &path));
    assert!(
        list.stdout.contains("kubectl-posthog"),
        "{}{}",
        list.stdout,
        list.stderr
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_exit_3() {
    // `kubectl posthog … | head` closes the pipe: no "Broken pipe" error line (issue 17).
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/preflight/fixtures/gaps.yaml"
    );
    for args in [
        vec!["completion", "bash"],
        vec![
            "preflight",
            "checkout",
            "-f",
            fixture,
            "--offline",
            "-o",
            "json",
        ],
    ] {
        let mut child = bin()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
    }
}

#[test]
fn help_lists_the_command_flags_first_and_the_global_ones_under_their_own_heading() {
    // Issue 17: --kubeconfig, --image, --request-timeout, -o, --steps… were interleaved, and
    // `[env: PROMETHEUS_URL=…]` printed an environment value.
    for (args, own) in [
        (
            vec!["canary", "--help"],
            ["--image", "--steps", "--pause", "--dry-run"],
        ),
        (
            vec!["rollback", "--help"],
            ["--to-revision", "--dry-run", "--timeout", "--no-wait"],
        ),
        (
            vec!["triage", "--help"],
            ["--fail-on", "--prometheus-url", "--apply", "--yes"],
        ),
    ] {
        let out = run(bin()
            .args(&args)
            .env("PROMETHEUS_URL", "http://user:hunter2@prom:9090")
            .env("GITHUB_ACTIONS", "true"));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let help = &out.stdout;
        let global = help
            .find("Global options (kubectl-style")
            .unwrap_or_else(|| panic!("{args:?}: no global heading:\n{help}"));
        for flag in own {
            let at = help
                .find(&format!("--{}", flag.trim_start_matches('-')))
                .unwrap();
            assert!(
                at < global,
                "{args:?}: {flag} is not with the command's own options"
            );
        }
        for flag in [
            "--kubeconfig",
            "--context",
            "--namespace",
            "--request-timeout",
            "--output",
            "--color",
        ] {
            let at = help
                .find(flag)
                .unwrap_or_else(|| panic!("{args:?}: {flag} missing"));
            assert!(
                at > global,
                "{args:?}: {flag} is not under the global heading"
            );
        }
        assert!(
            !help.contains("hunter2") && !help.contains("=true]"),
            "{args:?}: {help}"
        );
    }
}
