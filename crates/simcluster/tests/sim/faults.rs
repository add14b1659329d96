//! Injected faults: error answers with Retry-After (kubectl retries 429), latency, update
//! conflicts, dropped watches; and the request log that records every request.

use std::time::{Duration, Instant};

use serde_json::Value;
use simcluster::Fault;

use crate::common::*;

#[tokio::test]
async fn errors_with_retry_after_and_the_request_log() {
    let sim = start(1.0).await;
    let http = http();
    let url = format!("{}/api/v1/namespaces/default/pods", sim.url());
    let id = sim.inject(Fault::Errors {
        path_contains: Some("/pods".into()),
        methods: vec!["GET".into()],
        status: 503,
        share: 1.0,
        retry_after: Some(3),
        count: Some(1),
    });
    let r = http.get(&url).send().await.expect("request");
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let body: Value = serde_json::from_str(&r.text().await.expect("body")).expect("status json");
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "ServiceUnavailable");
    assert_eq!(body["code"], 503);
    assert_eq!(
        http.get(&url)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        200,
        "count exhausted"
    );
    sim.clear_fault(id);

    sim.inject(Fault::Errors {
        path_contains: None,
        methods: vec![],
        status: 500,
        share: 1.0,
        retry_after: None,
        count: None,
    });
    let r = http
        .get(format!("{}/version", sim.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 500);
    sim.clear_faults();

    let log = sim.requests();
    assert_eq!(
        log.iter()
            .filter(|r| r.path == "/api/v1/namespaces/default/pods")
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [503, 200]
    );
    assert_eq!(log.last().map(|r| r.status), Some(500));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn kubectl_retries_429_with_retry_after() {
    let sim = start(1.0).await;
    let k = Kubectl::new(&sim);
    k.ok(&["version"]);
    sim.clear_requests();
    sim.inject(Fault::Errors {
        path_contains: Some("/deployments".into()),
        methods: vec!["GET".into()],
        status: 429,
        share: 1.0,
        retry_after: Some(1),
        count: Some(2),
    });
    let out = k.run(&["get", "deployments"]);
    assert!(out.ok, "kubectl retried: {out:?}");
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/deployments"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
    // A 500 is not retried: kubectl reports it.
    sim.inject(Fault::Errors {
        path_contains: Some("/services".into()),
        methods: vec![],
        status: 500,
        share: 1.0,
        retry_after: None,
        count: Some(5),
    });
    let err = k.fails(&["get", "services"]);
    assert!(err.contains("Error from server (InternalError)"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_conflicts_and_dropped_watches() {
    let sim = start(1.0).await;
    sim.apply_yaml(WEB).expect("apply");
    let http = http();
    sim.inject(Fault::Latency {
        path_contains: Some("/configmaps".into()),
        delay: Duration::from_millis(300),
    });
    let t = Instant::now();
    http.get(format!(
        "{}/api/v1/namespaces/default/configmaps",
        sim.url()
    ))
    .send()
    .await
    .expect("request");
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    http.get(format!("{}/api/v1/namespaces/default/secrets", sim.url()))
        .send()
        .await
        .expect("request");
    assert!(t.elapsed() < Duration::from_millis(300));
    sim.clear_faults();

    // Conflicts: the next update of deployments/web gets 409, then updates work again.
    let k = Kubectl::new(&sim);
    sim.inject(Fault::Conflicts {
        kind_plural: "deployments".into(),
        name: Some("web".into()),
        count: 1,
    });
    let err = k.fails(&["label", "deploy/web", "team=core"]);
    assert!(err.contains("Error from server (Conflict)"), "{err}");
    assert!(err.contains("the object has been modified"), "{err}");
    k.ok(&["label", "deploy/web", "team=core"]);
    // And on a PUT (update), even with the current resourceVersion.
    sim.inject(Fault::Conflicts {
        kind_plural: "deployments".into(),
        name: None,
        count: 1,
    });
    let url = format!(
        "{}/apis/apps/v1/namespaces/default/deployments/web",
        sim.url()
    );
    let current = deployment(&sim, "web").to_string();
    let put = |body: String| {
        http.put(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        put(current.clone()).await.expect("put").status().as_u16(),
        409
    );
    assert_eq!(put(current).await.expect("put").status().as_u16(), 200);

    // Dropped watches end early; the request log marks them.
    sim.inject(Fault::DropWatches {
        after: Duration::from_millis(200),
    });
    let t = Instant::now();
    let body = http
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=30",
            sim.url()
        ))
        .send()
        .await
        .expect("watch")
        .text()
        .await
        .expect("body");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "dropped after ~200 ms"
    );
    assert!(
        body.is_empty()
            || body
                .lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.is_watch && r.path.ends_with("/configmaps"))
    );
    sim.clear_faults();

    // A watch already open when the fault is injected is dropped too.
    let open = tokio::spawn({
        let url = format!(
            "{}/api/v1/namespaces/default/secrets?watch=true&timeoutSeconds=60",
            sim.url()
        );
        async move {
            let t = Instant::now();
            let _ = reqwest::get(url).await.expect("watch").text().await;
            t.elapsed()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.inject(Fault::DropWatches {
        after: Duration::from_millis(100),
    });
    let lasted = open.await.expect("watch task");
    assert!(lasted < Duration::from_secs(5), "{lasted:?}");
    sim.shutdown().await;
}

/// A write committed before the answer was lost: the store and watchers have it, the client
/// got a 500, and retrying shows it happened (409 AlreadyExists, or nothing left to label).
#[tokio::test]
async fn lost_answers_after_an_applied_write() {
    let sim = start(1.0).await;
    sim.apply_yaml(WEB).expect("apply");
    let k = Kubectl::new(&sim);
    let before = deployment(&sim, "web");
    let rv = before["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    sim.inject(Fault::ErrorsAfterApply {
        path_contains: Some("/deployments/web".into()),
        methods: vec!["PATCH".into()],
        status: None,
        count: Some(1),
    });
    let err = k.fails(&["label", "deploy/web", "team=core"]);
    assert!(err.contains("Error from server (InternalError)"), "{err}");
    let after = deployment(&sim, "web");
    assert_eq!(
        after["metadata"]["labels"]["team"], "core",
        "the patch was applied"
    );
    assert_ne!(
        after["metadata"]["resourceVersion"].as_str(),
        Some(rv.as_str())
    );
    // kubectl's retry finds the label there and sends nothing.
    let out = k.ok(&["label", "deploy/web", "team=core"]);
    assert!(out.contains("deployment.apps/web not labeled"), "{out}");
    // Watchers saw the write that the client was told failed.
    let events = http()
        .get(format!(
            "{}/apis/apps/v1/namespaces/default/deployments?watch=true&resourceVersion={rv}&timeoutSeconds=1",
            sim.url()
        ))
        .send()
        .await
        .expect("watch")
        .text()
        .await
        .expect("body");
    assert!(
        events.lines().any(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|e| {
                e["type"] == "MODIFIED" && e["object"]["metadata"]["labels"]["team"] == "core"
            })
        }),
        "{events}"
    );
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with("/deployments/web"))
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [500],
        "the log records what the client saw; the second label sent nothing"
    );

    // A create whose answer is lost: re-creating gets 409 AlreadyExists.
    sim.inject(Fault::ErrorsAfterApply {
        path_contains: Some("/configmaps".into()),
        methods: vec![],
        status: Some(503),
        count: Some(1),
    });
    let h = Http::new(&sim);
    let cm = serde_json::json!({"metadata": {"name": "intent"}, "data": {"from": "3", "to": "5"}});
    let cms = "/api/v1/namespaces/default/configmaps";
    let (code, s) = h
        .send("POST", cms, "application/json", Some(cm.clone()))
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (503, Some("ServiceUnavailable"))
    );
    assert_eq!(
        h.get(&format!("{cms}/intent")).await.0,
        200,
        "it was stored"
    );
    let (code, s) = h.send("POST", cms, "application/json", Some(cm)).await;
    assert_eq!((code, s["reason"].as_str()), (409, Some("AlreadyExists")));
    // kubectl's create (JSON from a manifest) reads the same.
    let manifest = k.dir().join("intent.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: intent}\n",
    )
    .expect("write manifest");
    let path = manifest.to_string_lossy().into_owned();
    let err = k.fails(&["create", "--validate=false", "-f", &path]);
    assert!(
        err.contains("Error from server (AlreadyExists)")
            && err.contains("configmaps \"intent\" already exists"),
        "{err}"
    );
    sim.shutdown().await;
}
