//! kubectl as the judge: apply, get (server-side Tables), scale, events, delete, errors and
//! `auth can-i`, each checked against kubectl's output and the resulting objects.

use serde_json::Value;
use simcluster::AccessDenial;

use crate::common::*;

#[tokio::test]
async fn apply_then_get_shows_real_columns() {
    let sim = start(5.0).await;
    let k = Kubectl::new(&sim);
    let out = k.apply(WEB);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(out.contains("service/web created"), "{out}");
    assert!(
        sim.wait_until(WAIT, |s| rolled_out(s, "web")).await,
        "web rolls out"
    );

    let table = rows(&k.ok(&["get", "deploy,rs,pods"]));
    assert_eq!(
        table[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(&table[1][..4], ["deployment.apps/web", "3/3", "3", "3"]);
    let rs_header = table
        .iter()
        .position(|r| r[0] == "NAME" && r.get(1).map(String::as_str) == Some("DESIRED"))
        .expect("rs table");
    assert_eq!(
        table[rs_header],
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    );
    let rs = &table[rs_header + 1];
    assert!(rs[0].starts_with("replicaset.apps/web-"), "{rs:?}");
    assert_eq!(&rs[1..4], ["3", "3", "3"]);
    let pod_header = table
        .iter()
        .position(|r| r.get(2).map(String::as_str) == Some("STATUS"))
        .expect("pod table");
    assert_eq!(
        table[pod_header],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let pod_rows = &table[pod_header + 1..];
    assert_eq!(pod_rows.len(), 3);
    let rs_name = rs[0].trim_start_matches("replicaset.apps/");
    for p in pod_rows {
        assert!(p[0].starts_with(&format!("pod/{rs_name}-")), "{p:?}");
        assert_eq!(
            p[0].len(),
            format!("pod/{rs_name}-").len() + 5,
            "5-char suffix: {p:?}"
        );
        assert_eq!(&p[1..4], ["1/1", "Running", "0"]);
    }

    // Re-apply a change: kubectl computes a strategic merge patch.
    k.apply(
        &WEB.replace("image: nginx:1", "image: nginx:2")
            .replace("replicas: 3", "replicas: 2"),
    );
    let d = deployment(&sim, "web");
    assert_eq!(
        d.pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str),
        Some("nginx:2")
    );
    assert_eq!(
        d.pointer("/metadata/generation").and_then(Value::as_i64),
        Some(2)
    );
    assert!(sim.requests().iter().any(|r| r.method == "PATCH"
        && r.content_type.as_deref() == Some("application/strategic-merge-patch+json")));
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let wide = rows(&k.ok(&["get", "deploy", "web", "-o", "wide"]));
    assert_eq!(
        wide[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(wide[1][5..], ["web", "nginx:2", "app=web"]);

    let svc = rows(&k.ok(&["get", "svc", "web"]));
    assert_eq!(
        svc[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(svc[1][1], "ClusterIP");
    assert_eq!(svc[1][4], "80/TCP");
    let ep = k.ok(&["get", "endpoints", "web", "-o", "json"]);
    let ep: Value = serde_json::from_str(&ep).expect("endpoints json");
    assert_eq!(
        ep.pointer("/subsets/0/addresses")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        ep.pointer("/subsets/0/addresses/0/targetRef/kind")
            .and_then(Value::as_str),
        Some("Pod")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn scale_events_and_namespaces() {
    let sim = start(5.0).await;
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let out = k.ok(&["scale", "deploy/web", "--replicas=5"]);
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.ends_with("/deployments/web/scale"))
    );
    assert!(
        sim.wait_until(WAIT, |s| rolled_out(s, "web") && pods(s).len() == 5)
            .await
    );

    let events = rows(&k.ok(&["get", "events"]));
    assert_eq!(
        events[0],
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    let rs = replicasets(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let text = k.ok(&["get", "events"]);
    assert!(
        text.contains(&format!("Scaled up replica set {rs} from 0 to 3")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Scaled up replica set {rs} from 3 to 5")),
        "{text}"
    );
    assert!(text.contains("deployment/web"), "{text}");
    for reason in [
        "Scheduled",
        "Pulled",
        "Created",
        "Started",
        "SuccessfulCreate",
        "ScalingReplicaSet",
    ] {
        assert!(
            events.iter().any(|r| r.contains(&reason.to_string())),
            "missing {reason} in {text}"
        );
    }
    let ns = rows(&k.ok(&["get", "ns"]));
    assert_eq!(ns[0], ["NAME", "STATUS", "AGE"]);
    assert!(ns.iter().any(|r| r[0] == "default" && r[1] == "Active"));
    let by_field = k.ok(&[
        "get",
        "pods",
        "--field-selector=status.phase=Running",
        "-o",
        "name",
    ]);
    assert_eq!(by_field.lines().count(), 5);
    let by_set = k.ok(&[
        "get",
        "pods",
        "-l",
        "app in (web),track notin (canary),!missing",
        "-o",
        "name",
    ]);
    assert_eq!(by_set.lines().count(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn delete_cascades_and_not_found_reads_like_a_cluster() {
    let sim = start(5.0).await;
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let err = k.fails(&["get", "deploy", "nope"]);
    assert!(
        err.contains("Error from server (NotFound): deployments.apps \"nope\" not found"),
        "{err}"
    );
    let out = k.ok(&["delete", "deploy", "web"]);
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    assert!(
        sim.wait_until(WAIT, |s| replicasets(s).is_empty() && pods(s).is_empty())
            .await,
        "RS and pods are collected"
    );
    let none = k.run(&["get", "rs,pods"]);
    assert!(
        none.stderr
            .contains("No resources found in default namespace."),
        "{none:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_can_i_answers_from_access_rules() {
    let sim = start(1.0).await;
    let k = Kubectl::new(&sim);
    assert_eq!(
        k.ok(&["auth", "can-i", "patch", "deployments"]).trim(),
        "yes"
    );
    sim.deny_access(AccessDenial {
        verb: Some("patch".into()),
        resource: Some("deployments".into()),
        ..Default::default()
    });
    let r = k.run(&["auth", "can-i", "patch", "deployments"]);
    assert!(!r.ok);
    assert_eq!(r.stdout.trim(), "no - denied by simcluster access rules");
    assert_eq!(k.ok(&["auth", "can-i", "get", "deployments"]).trim(), "yes");
    sim.shutdown().await;
}

#[tokio::test]
async fn yaml_output_round_trips_metadata() {
    let sim = start(5.0).await;
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let json: Value = serde_json::from_str(&k.ok(&["get", "rs", "-o", "json"])).expect("json list");
    let rs = &json["items"][0];
    let hash = rs
        .pointer("/metadata/labels/pod-template-hash")
        .and_then(Value::as_str)
        .expect("hash label");
    assert_eq!(
        rs.pointer("/metadata/name").and_then(Value::as_str),
        Some(format!("web-{hash}").as_str())
    );
    assert_eq!(
        rs.pointer("/spec/selector/matchLabels/pod-template-hash")
            .and_then(Value::as_str),
        Some(hash)
    );
    assert_eq!(
        rs.pointer("/spec/template/metadata/labels/pod-template-hash")
            .and_then(Value::as_str),
        Some(hash)
    );
    let owner = &rs["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Deployment");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    assert_eq!(owner["uid"], deployment(&sim, "web")["metadata"]["uid"]);
    for a in [
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
    ] {
        assert!(
            rs.pointer(&format!("/metadata/annotations/{}", a.replace('/', "~1")))
                .is_some(),
            "missing {a}"
        );
    }
    let yaml = k.ok(&["get", "deploy", "web", "-o", "yaml"]);
    assert!(yaml.contains("observedGeneration: 1"), "{yaml}");
    assert!(yaml.contains("reason: NewReplicaSetAvailable"), "{yaml}");
    assert!(yaml.contains("reason: MinimumReplicasAvailable"), "{yaml}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_binary_serves_a_seeded_cluster() {
    let dir = tempfile::tempdir().expect("dir");
    let seed = dir.path().join("seed.yaml");
    std::fs::write(&seed, WEB).expect("seed");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_simcluster"))
        .args([
            "--seed-file",
            &seed.to_string_lossy(),
            "--kubeconfig-out",
            &kubeconfig.to_string_lossy(),
            "--speed",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("simcluster starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("banner");
    assert!(
        line.starts_with("simcluster listening on http://127.0.0.1:"),
        "{line}"
    );
    let run = |args: &[&str]| {
        std::process::Command::new(kubectl_bin())
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("kubectl")
    };
    let mut rolled = false;
    for _ in 0..100 {
        let out = run(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ]);
        if String::from_utf8_lossy(&out.stdout) == "3" {
            rolled = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(rolled, "the seeded deployment rolls out");
}

#[tokio::test]
async fn describe_restart_wait_diff_and_server_dry_run() {
    let sim = start(5.0).await;
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    let out = k.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "--timeout=60s",
    ]);
    assert!(out.contains("deployment.apps/web condition met"), "{out}");
    let d = k.ok(&["describe", "deploy", "web"]);
    assert!(
        d.contains(
            "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable"
        ),
        "{d}"
    );
    assert!(d.contains("NewReplicaSet:   web-"), "{d}");
    assert!(d.contains("ScalingReplicaSet"), "{d}");
    let pod = pods(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let p = k.ok(&["describe", "pod", &pod]);
    assert!(p.contains("Node:         sim-node-1/10.0.0.1"), "{p}");
    assert!(p.contains("Controlled By:  ReplicaSet/web-"), "{p}");

    let out = k.ok(&["rollout", "restart", "deploy/web"]);
    assert!(out.contains("deployment.apps/web restarted"), "{out}");
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert_eq!(replicasets(&sim).len(), 2, "a restart is a new template");

    let path = k.dir().join("web4.yaml");
    std::fs::write(&path, WEB.replace("replicas: 3", "replicas: 4")).expect("write");
    let p = path.to_string_lossy().into_owned();
    let diff = k.run(&["diff", "-f", &p]);
    assert!(
        diff.stdout.contains("-  replicas: 3") && diff.stdout.contains("+  replicas: 4"),
        "{diff:?}"
    );
    let out = k.ok(&["apply", "--dry-run=server", "--validate=false", "-f", &p]);
    assert!(
        out.contains("deployment.apps/web configured (server dry run)"),
        "{out}"
    );
    assert_eq!(
        deployment(&sim, "web")["spec"]["replicas"],
        3,
        "dry runs change nothing"
    );
    let out = k.ok(&["apply", "--server-side", "--validate=false", "-f", &p]);
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    assert_eq!(deployment(&sim, "web")["spec"]["replicas"], 4);
    sim.shutdown().await;
}
