//! Issue 14's leak test: every credential shape the red team planted — a Secret's value raw,
//! JSON-escaped, URL-encoded, base64 and base64url; literal credential env values in the spec,
//! in the last-applied-configuration annotation and in an initContainer; a value after a separate
//! `--db-password` argument; `DB_PASS`; a webhook URL's userinfo, token and secret path; a
//! change-cause with a password; a `phs_` key that changes between revisions — and then every
//! command in every format (and `-vvv`, and GitHub mode) is run against it, and every byte of
//! stdout, stderr and every file written (bundles extracted) is scanned. The count must be 0.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use simcluster::{LogScript, PodBehavior};

use crate::standins::posthog::{Behaviour, PostHogStandIn};
use crate::triage::{DEPLOYMENT, IMAGE, Incident, healthy};

/// The Secret value: a quote, a slash, a plus and padding, so each encoding differs from it.
const SECRET_VALUE: &str = "Jx\"gR2R8/leak+Val=ue==";
const API_TOKEN: &str = "LtmQapiTokenLiteral9911";
const CLIENT_SECRET: &str = "cl\"ientSecretLiteral77";
const WEBHOOK_SECRET: &str = "whsecLiteralWebhook5521";
const INIT_TOKEN: &str = "initTokenLiteral3344";
const DB_PASS: &str = "dbPassLiteral6677";
const FLAG_PASSWORD: &str = "flagPasswordValue8899";
const WEBHOOK_USER_PASSWORD: &str = "hookUserPass4455";
const WEBHOOK_TOKEN: &str = "hookQueryToken2233";
const SLACK_PATH: &str = "SlackSecretPath0011";
const CAUSE_PASSWORD: &str = "causePassw0rd1122";
const OLD_DB_PASSWORD: &str = "databasePasswordOld01";
const NEW_DB_PASSWORD: &str = "databasePasswordNew02";
const SECRET_KEY: &str = "phs_LeakSecretKey3Wq7Er1Ty5Ui9Op2As6Df0Gh";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every needle, each in the form it must never appear in.
fn needles() -> Vec<(String, String)> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let escaped = serde_json::to_string(SECRET_VALUE).unwrap();
    let escaped = escaped[1..escaped.len() - 1].to_string();
    let url_encoded: String = SECRET_VALUE
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut out = vec![
        ("secret raw".into(), SECRET_VALUE.to_string()),
        ("secret JSON-escaped".into(), escaped),
        ("secret URL-encoded".into(), url_encoded),
        ("secret base64".into(), STANDARD.encode(SECRET_VALUE)),
        ("secret base64url".into(), URL_SAFE.encode(SECRET_VALUE)),
        (
            "secret base64url unpadded".into(),
            URL_SAFE_NO_PAD.encode(SECRET_VALUE),
        ),
        ("phs_ key body".into(), SECRET_KEY[4..].to_string()),
    ];
    for (what, value) in [
        ("API_TOKEN literal", API_TOKEN),
        ("CLIENT_SECRET literal", "ientSecretLiteral77"),
        ("POSTHOG_WEBHOOK_SECRET literal", WEBHOOK_SECRET),
        ("initContainer INIT_TOKEN", INIT_TOKEN),
        ("DB_PASS literal", DB_PASS),
        ("--db-password value", FLAG_PASSWORD),
        ("webhook userinfo", WEBHOOK_USER_PASSWORD),
        ("webhook ?token=", WEBHOOK_TOKEN),
        ("Slack secret path", SLACK_PATH),
        ("change-cause password", CAUSE_PASSWORD),
        ("old DATABASE_PASSWORD", OLD_DB_PASSWORD),
        ("new DATABASE_PASSWORD", NEW_DB_PASSWORD),
    ] {
        out.push((what.into(), value.to_string()));
    }
    out
}

fn deployment(db_password: &str, revision_note: &str) -> Value {
    let webhook = format!(
        "https://hooker:{WEBHOOK_USER_PASSWORD}@hooks.slack.com/services/T00/B00/{SLACK_PATH}?token={WEBHOOK_TOKEN}"
    );
    let env = json!([
        {"name": "POSTHOG_API_KEY", "valueFrom": {"secretKeyRef": {"name": "posthog-secrets", "key": "api-key"}}},
        {"name": "POSTHOG_HOST", "value": "https://us.i.posthog.com"},
        {"name": "DATABASE_URL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}},
        {"name": "API_TOKEN", "value": API_TOKEN},
        {"name": "CLIENT_SECRET", "value": CLIENT_SECRET},
        {"name": "POSTHOG_WEBHOOK_SECRET", "value": WEBHOOK_SECRET},
        {"name": "POSTHOG_WEBHOOK_URL", "value": webhook},
        {"name": "DB_PASS", "value": DB_PASS},
        {"name": "DATABASE_PASSWORD", "value": db_password},
        {"name": "FLAGS_SECRET_KEY", "value": SECRET_KEY},
        {"name": "NOTE", "value": revision_note}
    ]);
    let template = json!({
        "metadata": {"labels": {"app": DEPLOYMENT}},
        "spec": {
            "initContainers": [{"name": "init", "image": IMAGE,
                "env": [{"name": "INIT_TOKEN", "value": INIT_TOKEN}]}],
            "containers": [{"name": "app", "image": IMAGE, "env": env,
                "args": ["--db-password", FLAG_PASSWORD, "--port", "8080"],
                "resources": {"limits": {"memory": "256Mi"}}}]
        }
    });
    let spec = json!({
        "replicas": 2,
        "selector": {"matchLabels": {"app": DEPLOYMENT}},
        "template": template
    });
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT}, "spec": spec});
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": applied.to_string(),
            "kubernetes.io/change-cause":
                format!("kubectl set env deploy/{DEPLOYMENT} DB_PASSWORD={CAUSE_PASSWORD} DB_PASS={CAUSE_PASSWORD}")
        }},
        "spec": spec
    })
}

/// Pod logs echoing the Secret's value in every form, as integrations leak them.
fn leaky_lines() -> Vec<String> {
    needles()
        .iter()
        .take(6)
        .map(|(what, form)| format!("level=error msg=\"upstream said {form}\" what={what:?}"))
        .chain([format!(
            "flags local evaluation with {SECRET_KEY} failed status=503"
        )])
        .collect()
}

async fn planted() -> (Incident, PostHogStandIn) {
    let behaviour = PodBehavior {
        logs: LogScript {
            lines: leaky_lines(),
            every: Duration::from_millis(200),
            bulk_bytes: 0,
            previous_lines: Vec::new(),
        },
        ..healthy()
    };
    let incident = Incident::start(behaviour, 2, true).await;
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: db-credentials}}\ntype: Opaque\ndata:\n  password: {}\n",
        b64(SECRET_VALUE)
    );
    incident.sim.apply_yaml(&secret).expect("the db Secret");
    for (password, note) in [(OLD_DB_PASSWORD, "one"), (NEW_DB_PASSWORD, "two")] {
        let mut d = deployment(password, note);
        if let Some(rv) = incident
            .deployment()
            .pointer("/metadata/resourceVersion")
            .cloned()
        {
            d["metadata"]["resourceVersion"] = rv;
        }
        incident
            .sim
            .apply_yaml(&d.to_string())
            .expect("a planted revision");
        let ns = incident.ns.clone();
        let want = note.to_string();
        let ready = incident
            .sim
            .wait_until(Duration::from_secs(30), move |sim| {
                sim.get("apps/v1", "Deployment", Some(&ns), DEPLOYMENT)
                    .is_some_and(|d| {
                        let env = d
                            .pointer("/spec/template/spec/containers/0/env")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        env.iter().any(|e| e["value"] == want.as_str())
                            && d.pointer("/status/updatedReplicas") == Some(&json!(2))
                            && d.pointer("/status/availableReplicas") == Some(&json!(2))
                    })
            })
            .await;
        assert!(ready, "revision {note} did not roll out");
    }
    let escaped = serde_json::to_string(SECRET_VALUE).unwrap();
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{DEPLOYMENT}.leak")},
        "involvedObject": {"kind": "Deployment", "name": DEPLOYMENT, "namespace": incident.ns},
        "reason": "Leaky",
        "message": format!("probe body {{\"password\":{escaped}}} sig={}", needles()[2].1),
        "type": "Warning",
        "lastTimestamp": jiff::Timestamp::now().to_string()
    });
    incident
        .sim
        .apply_yaml(&event.to_string())
        .expect("an event");
    let posthog = PostHogStandIn::start(Behaviour::default()).await;
    (incident, posthog)
}

/// Every file under `dir`, relative path → bytes; `.tar.gz` files are extracted and scanned too.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.ends_with(".tar.gz") {
                let into = dir.join(format!("{rel}.extracted"));
                std::fs::create_dir_all(&into).unwrap();
                let status = std::process::Command::new("tar")
                    .arg("-xzf")
                    .arg(&path)
                    .arg("-C")
                    .arg(&into)
                    .status()
                    .unwrap();
                assert!(status.success(), "tar -xzf {rel}");
                stack.push(into);
            }
            out.insert(rel, std::fs::read(&path).unwrap());
        }
    }
    out
}

/// One run of the binary: a name for messages, its arguments, its extra environment.
type Invocation = (String, Vec<String>, Vec<(String, String)>);

/// The leak scan's tally: bytes scanned, outputs scanned, hits (what, where).
#[derive(Default)]
struct Scan {
    bytes: usize,
    outputs: usize,
    hits: Vec<String>,
}

impl Scan {
    fn scan(&mut self, place: &str, data: &[u8]) {
        self.bytes += data.len();
        self.outputs += 1;
        for (what, needle) in needles() {
            if data.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                self.hits.push(format!("{what} in {place}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_credential_reaches_any_output_of_any_command() {
    let (incident, posthog) = planted().await;
    let work = incident.dir.path().join("out");
    std::fs::create_dir_all(&work).unwrap();
    let mut scan = Scan::default();
    let status = posthog.status_url();
    let remote = [
        "--posthog-host",
        posthog.url(),
        "--status-url",
        status.as_str(),
    ];
    let mut runs: Vec<Invocation> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for format in ["table", "json", "yaml", "markdown", "sarif"] {
        let mut preflight = s(&["preflight", DEPLOYMENT, "-o", format]);
        preflight.extend(s(&remote));
        runs.push((format!("preflight -o {format}"), preflight, vec![]));
        runs.push((
            format!("rollback --dry-run -o {format}"),
            s(&["rollback", DEPLOYMENT, "--dry-run", "-o", format]),
            vec![],
        ));
        runs.push((
            format!("rollback history -o {format}"),
            s(&["rollback", "history", DEPLOYMENT, "-o", format]),
            vec![],
        ));
        runs.push((
            format!("triage -o {format}"),
            s(&["triage", DEPLOYMENT, "-o", format, "--status-url", &status]),
            vec![],
        ));
    }
    let out_dir = work.join("bundle-dir");
    runs.push((
        "evidence --out-dir -vvv".into(),
        s(&[
            "evidence",
            DEPLOYMENT,
            "--since",
            "1h",
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--status-url",
            &status,
            "-vvv",
        ]),
        vec![],
    ));
    runs.push((
        "evidence tar.gz -o json".into(),
        s(&[
            "evidence",
            DEPLOYMENT,
            "--since",
            "1h",
            "--archive-dir",
            work.to_str().unwrap(),
            "--status-url",
            &status,
            "-o",
            "json",
        ]),
        vec![],
    ));
    let mut preflight_vvv = s(&["preflight", DEPLOYMENT, "-vvv"]);
    preflight_vvv.extend(s(&remote));
    runs.push(("preflight -vvv".into(), preflight_vvv, vec![]));
    runs.push((
        "rollback --dry-run -vvv".into(),
        s(&["rollback", DEPLOYMENT, "--dry-run", "-vvv"]),
        vec![],
    ));
    // Its own archive directory: two bundles made in the same second would share a name.
    let github_archives = work.join("github-archives");
    std::fs::create_dir_all(&github_archives).unwrap();
    // GitHub mode: the job summary, outputs, annotations, SARIF and report JSON files.
    for (name, command) in [
        ("preflight", {
            let mut v = s(&["preflight", DEPLOYMENT]);
            v.extend(s(&remote));
            v
        }),
        (
            "evidence",
            s(&[
                "evidence",
                DEPLOYMENT,
                "--since",
                "1h",
                "--archive-dir",
                github_archives.to_str().unwrap(),
                "--status-url",
                &status,
            ]),
        ),
        (
            "rollback-dry-run",
            s(&["rollback", DEPLOYMENT, "--dry-run"]),
        ),
    ] {
        let mut command = command;
        command.extend(s(&[
            "--sarif",
            work.join(format!("{name}.sarif")).to_str().unwrap(),
            "--report-json",
            work.join(format!("{name}.report.json")).to_str().unwrap(),
        ]));
        let env = vec![
            ("GITHUB_ACTIONS".to_string(), "true".to_string()),
            (
                "GITHUB_STEP_SUMMARY".to_string(),
                work.join(format!("{name}.summary.md"))
                    .to_string_lossy()
                    .into_owned(),
            ),
            (
                "GITHUB_OUTPUT".to_string(),
                work.join(format!("{name}.output"))
                    .to_string_lossy()
                    .into_owned(),
            ),
        ];
        runs.push((format!("{name} in GitHub mode"), command, env));
    }

    let mut codes = Vec::new();
    for (name, args, env) in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let run = incident.run_with_env(&args, &env).await;
        assert!(
            run.code != 101 && !run.stderr.contains("panicked"),
            "{name} panicked: {}",
            run.stderr
        );
        // Each command must have done its work (0, or 1 for a failing verdict), or the scan
        // proves nothing.
        assert!(
            run.code == 0 || run.code == 1,
            "{name} exited {}: {}",
            run.code,
            run.stderr
        );
        codes.push(format!("{name}={}", run.code));
        if name == "rollback --dry-run -o table" {
            assert!(
                run.stdout
                    .contains("app/DATABASE_PASSWORD: the value differs (not shown)"),
                "the dry run shows the diff between the planted revisions:\n{}",
                run.stdout
            );
        }
        scan.scan(&format!("{name}: stdout"), run.stdout.as_bytes());
        scan.scan(&format!("{name}: stderr"), run.stderr.as_bytes());
    }
    let written = files(&work);
    assert!(
        written.keys().any(|k| k.ends_with("k8s/deployment.yaml")),
        "a bundle was written: {:?}",
        written.keys().collect::<Vec<_>>()
    );
    assert!(
        written.keys().any(|k| k.contains(".tar.gz.extracted/")),
        "an archive was extracted"
    );
    for (path, data) in &written {
        scan.scan(path, data);
    }
    eprintln!("exit codes: {}", codes.join(", "));
    eprintln!(
        "leak scan: {} outputs and files, {} bytes, {} needles, {} hits",
        scan.outputs,
        scan.bytes,
        needles().len(),
        scan.hits.len()
    );
    assert!(scan.hits.is_empty(), "leaks:\n{}", scan.hits.join("\n"));
}
