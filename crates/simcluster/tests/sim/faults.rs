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
