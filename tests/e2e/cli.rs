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
