//! Logs: `kubectl logs -l`, previous containers after a crash, timestamps/since/tail/limit,
//! and a lazily generated 10 MB log streamed over HTTP.

use std::time::Duration;

use serde_json::Value;
use simcluster::{LogScript, PodBehavior, Readiness};

use crate::common::*;

#[tokio::test]
async fn kubectl_logs_by_label_with_tail_and_timestamps() {
    let sim = start(5.0).await;
    sim.script_image(
        "nginx:*",
        PodBehavior {
            logs: LogScript {
                lines: vec!["GET /orders n={n} token=phx_plantedSecret123 pod={pod}".into()],
                every: Duration::from_secs(1),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    sim.clock().advance(Duration::from_secs(30));
    sim.clear_requests();
    let out = k.ok(&["logs", "-l", "app=web", "--tail=2"]);
    assert_eq!(out.lines().count(), 6, "2 lines from each of 3 pods: {out}");
    assert!(
        out.lines()
            .all(|l| l.contains("token=phx_plantedSecret123")),
        "{out}"
    );
    let log_reqs: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .collect();
    assert_eq!(log_reqs.len(), 3);
    assert!(
        log_reqs
            .iter()
            .all(|r| r.query_param("tailLines").as_deref() == Some("2")
                && r.query_param("container").as_deref() == Some("web"))
    );

    let pod = pods(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = k.ok(&["logs", &pod, "--timestamps", "--tail=1"]);
    let (ts, rest) = out.trim().split_once(' ').expect("timestamped line");
    assert!(ts.parse::<jiff::Timestamp>().is_ok(), "{ts}");
    assert!(rest.contains(&format!("pod={pod}")));
    let recent = k.ok(&["logs", &pod, "--since=5s"]);
    let n = recent.lines().count();
    assert!((4..=7).contains(&n), "about 5 s of 1 line/s: {n}\n{recent}");
    let limited = k.ok(&["logs", &pod, "--limit-bytes=10"]);
    assert_eq!(limited.len(), 10);
    let err = k.fails(&["logs", &pod, "--previous"]);
    assert!(
        err.contains("previous terminated container \"web\" in pod"),
        "{err}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn previous_container_logs_after_a_crash() {
    let sim = start(20.0).await;
    sim.script_image(
        "crashy:1",
        PodBehavior {
            readiness: Readiness::CrashLoop {
                after: Duration::from_secs(5),
                exit_code: 1,
                reason: "Error".into(),
            },
            logs: LogScript {
                previous_lines: vec![
                    "starting {pod}".into(),
                    "panic: posthog key phx_leaked".into(),
                ],
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let k = Kubectl::new(&sim);
    k.apply(
        &WEB.replace("image: nginx:1", "image: crashy:1")
            .replace("replicas: 3", "replicas: 1"),
    );
    assert!(
        sim.wait_until(WAIT, |s| pods(s)
            .first()
            .and_then(|p| p
                .pointer("/status/containerStatuses/0/restartCount")
                .and_then(Value::as_i64))
            .unwrap_or(0)
            >= 1)
            .await
    );
    let pod = pods(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let prev = k.ok(&["logs", &pod, "--previous"]);
    assert_eq!(
        prev,
        format!("starting {pod}\npanic: posthog key phx_leaked\n")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_logs_stream_without_being_stored() {
    let sim = start(5.0).await;
    let bulk = 10 * 1024 * 1024;
    sim.script_image(
        "nginx:*",
        PodBehavior {
            logs: LogScript {
                bulk_bytes: bulk,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    sim.apply_yaml(&WEB.replace("replicas: 3", "replicas: 1"))
        .expect("apply");
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let pod = pods(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let url = format!(
        "{}/api/v1/namespaces/default/pods/{pod}/log?container=web",
        sim.url()
    );
    let mut r = http().get(&url).send().await.expect("log request");
    assert_eq!(r.status().as_u16(), 200);
    let (mut total, mut chunks) = (0u64, 0);
    while let Some(c) = r.chunk().await.expect("chunk") {
        total += c.len() as u64;
        chunks += 1;
    }
    assert!(total >= bulk, "{total}");
    assert!(chunks > 10, "streamed in chunks: {chunks}");
    // The stored pod stays small.
    assert!(pods(&sim)[0].to_string().len() < 10_000);
    let tail = reqwest::get(format!("{url}&tailLines=1"))
        .await
        .expect("tail")
        .text()
        .await
        .expect("text");
    assert_eq!(tail.lines().count(), 1);
    sim.shutdown().await;
}
