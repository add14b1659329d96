//! The workflow files and action.yml parse, and reference only actions, inputs, outputs, steps and
//! scripts that exist. Third-party actions are checked against a table of their real inputs, read
//! from each action's action.yml at the version pinned here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// Every third-party action used, pinned by full commit SHA: the version its comment must name,
/// and its inputs, both read from its action.yml at that commit (all node24 or composite).
const KNOWN_ACTIONS: &[(&str, &str, &[&str])] = &[
    (
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
        &[
            "repository",
            "ref",
            "token",
            "ssh-key",
            "ssh-known-hosts",
            "ssh-strict",
            "ssh-user",
            "persist-credentials",
            "path",
            "clean",
            "filter",
            "sparse-checkout",
            "sparse-checkout-cone-mode",
            "fetch-depth",
            "fetch-tags",
            "show-progress",
            "lfs",
            "submodules",
            "set-safe-directory",
            "github-server-url",
            "allow-unsafe-pr-checkout",
        ],
    ),
    (
        "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae",
        "v5.0.5",
        &[
            "path",
            "key",
            "restore-keys",
            "upload-chunk-size",
            "enableCrossOsArchive",
            "fail-on-cache-miss",
            "lookup-only",
            "save-always",
        ],
    ),
    (
        "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        "v7.0.0",
        &[
            "name",
            "path",
            "if-no-files-found",
            "retention-days",
            "compression-level",
            "overwrite",
            "include-hidden-files",
            "archive",
        ],
    ),
    (
        "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        "v8.0.1",
        &[
            "name",
            "artifact-ids",
            "path",
            "pattern",
            "merge-multiple",
            "github-token",
            "repository",
            "run-id",
            "skip-decompress",
            "digest-mismatch",
        ],
    ),
    (
        "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
        "v7.0.0",
        &[
            "python-version",
            "python-version-file",
            "cache",
            "architecture",
            "check-latest",
            "token",
            "cache-dependency-path",
            "update-environment",
            "allow-prereleases",
            "freethreaded",
            "pip-version",
        ],
    ),
    (
        "actions/attest-build-provenance@a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32",
        "v4.1.0",
        &[
            "subject-path",
            "subject-digest",
            "subject-name",
            "subject-checksums",
            "predicate-type",
            "predicate",
            "predicate-path",
            "push-to-registry",
            "create-storage-record",
            "show-summary",
            "github-token",
        ],
    ),
    (
        // The head of the action's `stable` branch (the branch names the toolchain).
        "dtolnay/rust-toolchain@29eef336d9b2848a0b548edc03f92a220660cdb8",
        "stable",
        &["toolchain", "targets", "target", "components"],
    ),
    (
        "Swatinem/rust-cache@6323deb102c322ba6fcbdcafc7e3dddab59af2b6",
        "v2.9.2",
        &[
            "prefix-key",
            "shared-key",
            "key",
            "add-job-id-key",
            "add-rust-environment-hash-key",
            "env-vars",
            "workspaces",
            "cache-directories",
            "cache-targets",
            "cache-on-failure",
            "cache-all-crates",
            "cache-workspace-crates",
            "save-if",
            "cache-provider",
            "cache-bin",
            "lookup-only",
            "cmd-format",
        ],
    ),
];

/// Problems with how a third-party `uses:` line is written: pinned by full SHA, the version in
/// a comment, and one of the actions in [`KNOWN_ACTIONS`].
fn pin_problems(text: &str, at: &str) -> Vec<String> {
    let re = regex::Regex::new(r"(?m)^\s*(?:-\s+)?uses:\s*(\S+)(.*)$").unwrap();
    let mut problems = Vec::new();
    for captures in re.captures_iter(text) {
        let uses = &captures[1];
        let rest = captures[2].trim();
        if uses.starts_with("./") || uses.starts_with("kubectl-posthog/kubectl-posthog@") {
            continue;
        }
        let sha = uses.rsplit_once('@').map(|(_, r)| r).unwrap_or("");
        if !(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())) {
            problems.push(format!("{at}: {uses} is not pinned by a full commit SHA"));
            continue;
        }
        match KNOWN_ACTIONS.iter().find(|(name, _, _)| *name == uses) {
            None => problems.push(format!(
                "{at}: {uses} is not in the table of checked actions"
            )),
            Some((_, version, _)) if rest != format!("# {version}") => problems.push(format!(
                "{at}: {uses} needs the comment `# {version}`, has `{rest}`"
            )),
            Some(_) => {}
        }
    }
    problems
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &str) -> (String, Value) {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"));
    (text, value)
}

struct OwnAction {
    inputs: BTreeMap<String, Value>,
    outputs: BTreeSet<String>,
}

fn own_action() -> OwnAction {
    let (_, action) = load("action.yml");
    OwnAction {
        inputs: action["inputs"]
            .as_object()
            .unwrap()
            .clone()
            .into_iter()
            .collect(),
        outputs: action["outputs"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect(),
    }
}

/// `steps.ID.outputs.NAME` references in a text.
fn step_output_refs(text: &str) -> Vec<(String, String)> {
    let re = regex::Regex::new(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)").unwrap();
    re.captures_iter(text)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

/// Checks one workflow; returns its problems.
fn check_workflow(path: &str, own: &OwnAction) -> Vec<String> {
    let (text, workflow) = load(path);
    let mut problems = pin_problems(&text, path);
    if workflow["on"].is_null() {
        problems.push(format!("{path}: no `on`"));
    }
    let Some(jobs) = workflow["jobs"].as_object() else {
        return vec![format!("{path}: no jobs")];
    };
    for (job_name, job) in jobs {
        let at = format!("{path} job {job_name}");
        if job["runs-on"].is_null() {
            problems.push(format!("{at}: no runs-on"));
        }
        let steps = job["steps"].as_array().cloned().unwrap_or_default();
        if steps.is_empty() {
            problems.push(format!("{at}: no steps"));
        }
        let mut own_ids = BTreeSet::new();
        let mut all_ids = BTreeSet::new();
        for step in &steps {
            let uses = step["uses"].as_str();
            if uses.is_some() == step["run"].is_string() {
                problems.push(format!(
                    "{at}: a step needs exactly one of uses and run: {step}"
                ));
            }
            if let Some(id) = step["id"].as_str() {
                all_ids.insert(id.to_string());
            }
            let with: Vec<String> = step["with"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let Some(uses) = uses else { continue };
            if uses == "./" || uses.starts_with("kubectl-posthog/kubectl-posthog@") {
                if let Some(id) = step["id"].as_str() {
                    own_ids.insert(id.to_string());
                }
                for key in &with {
                    if !own.inputs.contains_key(key) {
                        problems.push(format!("{at}: our action has no input {key:?}"));
                    }
                }
                continue;
            }
            match KNOWN_ACTIONS.iter().find(|(name, _, _)| *name == uses) {
                None => problems.push(format!(
                    "{at}: {uses} is not in the table of checked actions"
                )),
                Some((_, _, inputs)) => {
                    for key in &with {
                        if !inputs.contains(&key.as_str()) {
                            problems.push(format!("{at}: {uses} has no input {key:?}"));
                        }
                    }
                }
            }
        }
        let job_text = serde_json::to_string(job).unwrap();
        for (id, output) in step_output_refs(&job_text) {
            if !all_ids.contains(&id) {
                problems.push(format!("{at}: steps.{id} is not a step of this job"));
            } else if own_ids.contains(&id) && !own.outputs.contains(&output) {
                problems.push(format!("{at}: our action has no output {output:?}"));
            }
        }
        for script in scripts_in(&job_text) {
            if !repo().join(&script).is_file() {
                problems.push(format!("{at}: {script} does not exist"));
            }
        }
    }
    problems
}

fn scripts_in(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\.github/(?:scripts|action)/[A-Za-z0-9_.-]+\.sh").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn workflows_reference_only_existing_actions_inputs_and_outputs() {
    let own = own_action();
    let mut problems = Vec::new();
    for path in [
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        "docs/examples/posthog-gates.yml",
    ] {
        problems.extend(check_workflow(path, &own));
    }
    assert_eq!(problems, Vec::<String>::new());
}

#[test]
fn action_yml_is_a_composite_that_maps_every_input_to_env() {
    let (text, action) = load("action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    assert_eq!(pin_problems(&text, "action.yml"), Vec::<String>::new());
    for step in action["runs"]["steps"].as_array().unwrap() {
        if let Some(uses) = step["uses"].as_str() {
            let (_, _, inputs) = KNOWN_ACTIONS.iter().find(|(n, _, _)| *n == uses).unwrap();
            for key in step["with"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                assert!(inputs.contains(&key.as_str()), "{uses} has no input {key}");
            }
        }
    }
    let own = own_action();
    for name in [
        "command",
        "args",
        "github-token",
        "comment",
        "fail-on",
        "version",
        "binary-path",
        "working-directory",
        "comment-mode",
        "comment-key",
        "check-run",
        "upload-sarif",
    ] {
        assert!(own.inputs.contains_key(name), "input {name}");
    }
    for name in [
        "verdict",
        "failed",
        "warnings",
        "report-json",
        "comment-url",
        "check-run-url",
        "sarif",
    ] {
        assert!(own.outputs.contains(name), "output {name}");
    }
    let steps = action["runs"]["steps"].as_array().unwrap();
    let ids: BTreeSet<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    for (id, _) in step_output_refs(&text) {
        assert!(
            ids.contains(id.as_str()),
            "steps.{id} is not a step of the action"
        );
    }
    let input_re = regex::Regex::new(r"inputs\.([A-Za-z0-9_-]+)").unwrap();
    let mut used = BTreeSet::new();
    for captures in input_re.captures_iter(&text) {
        assert!(
            own.inputs.contains_key(&captures[1]),
            "inputs.{} is not an input",
            &captures[1]
        );
        used.insert(captures[1].to_string());
    }
    for name in own.inputs.keys() {
        assert!(used.contains(name), "input {name} is never used");
    }
    for step in steps {
        if step["run"].is_string() {
            assert_eq!(
                step["shell"], "bash",
                "composite run steps need a shell: {step}"
            );
            // Inputs reach scripts only through env (no INPUT_* on the real runner), and never
            // by ${{ }} inside the script text (that would be a script injection).
            let run = step["run"].as_str().unwrap();
            assert!(
                !run.contains("${{"),
                "expression inside a run script: {run}"
            );
            assert!(
                !run.contains("INPUT_"),
                "INPUT_* is not set for composite actions: {run}"
            );
        }
    }
    for script in scripts_in(&text) {
        assert!(repo().join(&script).is_file(), "{script} does not exist");
        let body = std::fs::read_to_string(repo().join(&script)).unwrap();
        assert!(
            !body.contains("$INPUT_") && !body.contains("${INPUT_"),
            "{script} relies on INPUT_*"
        );
    }
}

#[test]
fn the_table_check_catches_a_wrong_input() {
    // Guards the check itself: a misspelt input or an unknown action must be reported.
    let own = own_action();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n        with:\n          fetch_depth: 0\n      - uses: some/unknown@v1\n      - uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v4\n        with: {path: x, key: y}\n      - id: gate\n        uses: ./\n        with:\n          comand: preflight\n      - run: echo ${{ steps.gate.outputs.verdit }}\n",
    )
    .unwrap();
    let problems = check_workflow(path.to_str().unwrap(), &own);
    let text = problems.join("\n");
    assert!(
        text.contains(
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 has no input \"fetch_depth\""
        ),
        "{text}"
    );
    assert!(
        text.contains("some/unknown@v1 is not pinned by a full commit SHA"),
        "{text}"
    );
    assert!(
        text.contains("needs the comment `# v5.0.5`, has `# v4`"),
        "{text}"
    );
    assert!(
        text.contains("our action has no input \"comand\""),
        "{text}"
    );
    assert!(
        text.contains("our action has no output \"verdit\""),
        "{text}"
    );
}
