//! `kubectl posthog demo`: the whole flow against the embedded simulator, as a newcomer runs it.

use crate::support::{bin, run};

#[test]
fn demo_walks_through_every_command_with_the_expected_outcomes() {
    let bundles = tempfile::tempdir().unwrap();
    let kubeconfig = bundles.path().join("kubeconfig");
    let out = run(bin().args([
        "demo",
        "--color",
        "never",
        "--bundle-dir",
        bundles.path().to_str().unwrap(),
        "--kubeconfig-out",
        kubeconfig.to_str().unwrap(),
    ]));
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    for section in [
        "1/6  kubectl posthog preflight",
        "2/6  kubectl posthog canary",
        "3/6  kubectl posthog canary",
        "4/6  kubectl posthog rollback",
        "5/6  kubectl posthog triage",
        "6/6  kubectl posthog evidence",
    ] {
        assert!(
            out.stdout.contains(section),
            "missing {section:?}:\n{}",
            out.stdout
        );
    }
    // The preflight shows every kind of status the checklist can give.
    for status in ["PASS ", "WARN ", "FAIL ", "MANUAL "] {
        assert!(
            out.stdout.contains(status),
            "preflight shows no {status}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("aborted at 34%"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("promoted ghcr.io/acme/posthog-integration:1.5.0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Every step did what it should"),
        "{}",
        out.stdout
    );
    // The bundle exists where it was asked for, and the kubeconfig was written for kubectl.
    let bundle: Vec<_> = std::fs::read_dir(bundles.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("incident-posthog-integration-")
        })
        .collect();
    assert_eq!(
        bundle.len(),
        1,
        "one bundle in {}",
        bundles.path().display()
    );
    assert!(
        std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .contains("simcluster")
    );
}
