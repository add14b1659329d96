//! API semantics over plain HTTP: discovery, pagination, generateName, status and scale
//! subresources, delete propagation, watch start points and selector transitions, and the
//! Status errors malformed requests get.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn discovery_and_errors() {
    let sim = start(1.0).await;
    let h = Http::new(&sim);
    let (code, v) = h.get("/version").await;
    assert_eq!(code, 200);
    assert_eq!(v["major"], "1");
    let (_, apis) = h.get("/apis").await;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for g in [
        "apps",
        "policy",
        "autoscaling",
        "authorization.k8s.io",
        "monitoring.coreos.com",
    ] {
        assert!(groups.contains(&g), "{g} in {groups:?}");
    }
    let (_, core) = h.get("/api/v1").await;
    let pods = core["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "pods")
        .cloned()
        .expect("pods");
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert!(
        core["resources"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["name"] == "pods/log"))
    );
    assert_eq!(h.get("/openapi/v2").await.0, 404);
    assert_eq!(h.get("/openapi/v3").await.0, 404);

    let (code, s) = h
        .send(
            "POST",
            "/api/v1/namespaces/nope/configmaps",
            "application/json",
            Some(json!({"metadata": {"name": "a"}})),
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(s["message"], "namespaces \"nope\" not found");
    let (code, s) = h
        .send(
            "POST",
            CMS,
            "application/json",
            Some(json!({"metadata": {"name": "Bad_Name"}})),
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")));
    let r = http()
        .post(format!("{}{CMS}", sim.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let (code, s) = h
        .send("PATCH", &format!("{CMS}/x"), "text/plain", Some(json!({})))
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, s) = h
        .get("/apis/apps/v1/namespaces/default/deployments/ghost")
        .await;
    assert_eq!(code, 404);
    assert_eq!(
        s,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "deployments.apps \"ghost\" not found", "reason": "NotFound", "details": {"name": "ghost", "group": "apps", "kind": "deployments"}, "code": 404})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn pagination_generate_name_and_generation() {
    let sim = start(1.0).await;
    let h = Http::new(&sim);
    for i in 0..7 {
        let (code, _) = h.send("POST", CMS, "application/json", Some(json!({"metadata": {"name": format!("cm-{i}"), "labels": {"n": i.to_string()}}}))).await;
        assert_eq!(code, 201);
    }
    let (code, made) = h
        .send(
            "POST",
            CMS,
            "application/json",
            Some(json!({"metadata": {"generateName": "gen-"}})),
        )
        .await;
    assert_eq!(code, 201);
    let name = made["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    let mut seen = Vec::new();
    let mut cont = String::new();
    loop {
        let (_, page) = h.get(&format!("{CMS}?limit=3&continue={cont}")).await;
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(String::from)),
        );
        match page["metadata"]["continue"].as_str() {
            Some(c) => cont = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages come in key order without repeats");
    let (_, sel) = h
        .get(&format!("{CMS}?labelSelector=n%20in%20(1,2),n!=2"))
        .await;
    assert_eq!(sel["items"].as_array().map(Vec::len), Some(1));

    // Every write bumps the one resourceVersion counter; generation counts spec changes only.
    let (_, a) = h.get(&format!("{CMS}/cm-0")).await;
    let (_, b) = h.get(&format!("{CMS}/cm-1")).await;
    let rv = |v: &Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .expect("rv")
    };
    assert!(rv(&b) > rv(&a));
    assert!(a["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
    sim.apply_yaml(WEB).expect("apply");
    let d = "/apis/apps/v1/namespaces/default/deployments/web";
    let (_, p) = h
        .send(
            "PATCH",
            d,
            "application/merge-patch+json",
            Some(json!({"metadata": {"annotations": {"a": "b"}}})),
        )
        .await;
    assert_eq!(p["metadata"]["generation"], 1);
    let (_, p) = h
        .send(
            "PATCH",
            d,
            "application/merge-patch+json",
            Some(json!({"spec": {"replicas": 2}, "status": {"replicas": 99}})),
        )
        .await;
    assert_eq!(p["metadata"]["generation"], 2);
    assert_ne!(
        p["status"]["replicas"], 99,
        "main resource writes ignore status"
    );
    let (_, s) = h
        .send(
            "PATCH",
            &format!("{d}/status"),
            "application/merge-patch+json",
            Some(json!({"spec": {"replicas": 9}, "status": {"observedGeneration": 77}})),
        )
        .await;
    assert_eq!(s["status"]["observedGeneration"], 77);
    assert_eq!(s["spec"]["replicas"], 2, "status writes ignore spec");
    assert_eq!(s["metadata"]["generation"], 2);
    // dryRun answers what would be stored and stores nothing.
    let (code, dry) = h
        .send(
            "PATCH",
            &format!("{d}?dryRun=All"),
            "application/merge-patch+json",
            Some(json!({"spec": {"replicas": 5}})),
        )
        .await;
    assert_eq!((code, dry["spec"]["replicas"].as_i64()), (200, Some(5)));
    let (code, dry) = h
        .send(
            "POST",
            &format!("{CMS}?dryRun=All"),
            "application/json",
            Some(json!({"metadata": {"name": "dry"}})),
        )
        .await;
    assert_eq!((code, dry["metadata"]["name"].as_str()), (201, Some("dry")));
    let (code, _) = h
        .send(
            "DELETE",
            &format!("{d}?dryRun=All"),
            "application/json",
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(deployment(&sim, "web")["spec"]["replicas"], 2);
    assert_eq!(h.get(&format!("{CMS}/dry")).await.0, 404);
    let (_, scale) = h.get(&format!("{d}/scale")).await;
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");
    sim.shutdown().await;
}

#[tokio::test]
async fn delete_propagation_policies() {
    let sim = start(5.0).await;
    let h = Http::new(&sim);
    sim.apply_yaml(WEB).expect("apply");
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let d = "/apis/apps/v1/namespaces/default/deployments/web";
    let (code, s) = h
        .send(
            "DELETE",
            d,
            "application/json",
            Some(
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}),
            ),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(s["status"], "Success");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sets = replicasets(&sim);
    assert_eq!(sets.len(), 1, "orphaned ReplicaSet survives");
    assert!(
        sets[0]["metadata"]
            .get("ownerReferences")
            .is_none_or(|r| r.as_array().is_some_and(Vec::is_empty))
    );
    assert_eq!(pods(&sim).len(), 3);
    let rs = sets[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let (code, _) = h
        .send(
            "DELETE",
            &format!(
                "/apis/apps/v1/namespaces/default/replicasets/{rs}?propagationPolicy=Foreground"
            ),
            "application/json",
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert!(
        pods(&sim)
            .iter()
            .all(|p| p.pointer("/metadata/deletionTimestamp").is_some()),
        "foreground deletes dependents first (pods terminate gracefully)"
    );
    assert!(sim.wait_until(WAIT, |s| pods(s).is_empty()).await);
    let (code, _) = h.send("DELETE", d, "application/json", None).await;
    assert_eq!(code, 404);
    sim.shutdown().await;
}

/// Reads watch events until `n` arrive or the stream ends.
async fn watch_events(sim: &simcluster::SimCluster, query: &str, n: usize) -> Vec<Value> {
    let mut r = http()
        .get(format!("{}{CMS}?watch=true&{query}", sim.url()))
        .send()
        .await
        .expect("watch");
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < n && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(3), r.chunk()).await {
            Ok(Ok(Some(c))) => {
                buf.push_str(&String::from_utf8_lossy(&c));
                while let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    out.push(serde_json::from_str(line.trim()).expect("event json"));
                }
            }
            _ => break,
        }
    }
    out
}

#[tokio::test]
async fn watch_start_points_and_selector_transitions() {
    let sim = start(1.0).await;
    let h = Http::new(&sim);
    h.send(
        "POST",
        CMS,
        "application/json",
        Some(json!({"metadata": {"name": "a", "labels": {"team": "x"}}})),
    )
    .await;
    // rv unset: synthetic ADDED for what exists.
    let ev = watch_events(&sim, "labelSelector=team%3Dx&timeoutSeconds=1", 1).await;
    assert_eq!(ev[0]["type"], "ADDED");
    assert_eq!(ev[0]["object"]["metadata"]["name"], "a");
    // From the current rv with a selector: relabelling out of it reads as DELETED.
    let (_, list) = h.get(CMS).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let watcher = tokio::spawn({
        let sim = sim.clone();
        async move {
            watch_events(
                &sim,
                &format!("labelSelector=team%3Dx&resourceVersion={rv}&allowWatchBookmarks=true"),
                3,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.send(
        "POST",
        CMS,
        "application/json",
        Some(json!({"metadata": {"name": "b", "labels": {"team": "x"}}})),
    )
    .await;
    h.send(
        "PATCH",
        &format!("{CMS}/a"),
        "application/merge-patch+json",
        Some(json!({"metadata": {"labels": {"team": "y"}}})),
    )
    .await;
    h.send("DELETE", &format!("{CMS}/b"), "application/json", None)
        .await;
    let ev = watcher.await.expect("watch task");
    let kinds: Vec<(&str, &str)> = ev
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or(""),
                e["object"]["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds, [("ADDED", "b"), ("DELETED", "a"), ("DELETED", "b")]);
    // timeoutSeconds ends the stream.
    let t = Instant::now();
    let body = reqwest::get(format!(
        "{}{CMS}?watch=1&resourceVersion=0&timeoutSeconds=1",
        sim.url()
    ))
    .await
    .expect("watch")
    .text()
    .await
    .expect("body");
    assert!(t.elapsed() < Duration::from_secs(4));
    assert!(body.lines().count() >= 1);
    // Table watch for `kubectl get -w`.
    let r = http()
        .get(format!("{}{CMS}?watch=true&timeoutSeconds=1", sim.url()))
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .send()
        .await
        .expect("watch");
    let first = r
        .text()
        .await
        .expect("body")
        .lines()
        .next()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .expect("an event");
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(first["object"]["columnDefinitions"][0]["name"], "Name");
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_status_errors_not_panics() {
    let sim = start(1.0).await;
    sim.apply_yaml(WEB).expect("apply");
    let c = http();
    let d = "/apis/apps/v1/namespaces/default/deployments/web";
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "PATCH",
            d.into(),
            "application/json-patch+json",
            "{\"not\": \"a list\"}",
        ),
        (
            "PATCH",
            d.into(),
            "application/json-patch+json",
            "[{\"op\": \"remove\", \"path\": \"/nope/deeper\"}]",
        ),
        ("PATCH", d.into(), "application/merge-patch+json", "[1, 2]"),
        (
            "PATCH",
            d.into(),
            "application/strategic-merge-patch+json",
            "{\"spec\": {\"$patch\": \"explode\"}}",
        ),
        (
            "PATCH",
            d.into(),
            "application/strategic-merge-patch+json",
            "{\"metadata\": {\"name\": \"other\"}}",
        ),
        ("PATCH", d.into(), "application/apply-patch+yaml", ": : :"),
        (
            "PATCH",
            format!("{d}/scale"),
            "application/merge-patch+json",
            "{\"spec\": {\"replicas\": -1}}",
        ),
        (
            "PUT",
            d.into(),
            "application/json",
            "{\"metadata\": {\"name\": \"different\"}}",
        ),
        ("PUT", d.into(), "application/json", "\"a string\""),
        ("POST", CMS.into(), "application/json", "[]"),
        (
            "POST",
            CMS.into(),
            "application/vnd.kubernetes.protobuf",
            "k8s\u{0}\u{ff}\u{ff}",
        ),
        ("GET", format!("{CMS}?labelSelector=a%20b%20c"), "", ""),
        ("GET", format!("{CMS}?fieldSelector=nonsense"), "", ""),
        ("GET", format!("{CMS}?continue=%%%%"), "", ""),
        (
            "GET",
            format!("{CMS}?watch=true&resourceVersion=abc"),
            "",
            "",
        ),
        (
            "GET",
            format!("{CMS}?watch=true&resourceVersion=18446744073709551615&timeoutSeconds=1"),
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/ghost/log?tailLines=-5&sinceTime=yesterday".into(),
            "",
            "",
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/web/log".into(),
            "",
            "",
        ),
        ("GET", "/api/v9/pods".into(), "", ""),
        ("DELETE", format!("{d}?propagationPolicy=Sometimes"), "", ""),
        ("POST", "/api/v1/pods".into(), "application/json", "{}"),
    ];
    for (method, path, ct, body) in cases {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = c.request(m, format!("{}{path}", sim.url()));
        if !ct.is_empty() {
            rb = rb.header("content-type", ct);
        }
        let r = rb
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let code = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        if code == 200 {
            // Only the far-future watch may succeed (an empty stream ending at its timeout).
            assert!(
                path.contains("18446744073709551615"),
                "{method} {path} answered 200: {text}"
            );
            continue;
        }
        assert!((400..500).contains(&code), "{method} {path}: {code} {text}");
        let s: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not a Status: {text}"));
        assert_eq!(s["kind"], "Status", "{method} {path}");
        assert_eq!(s["code"], code, "{method} {path}");
    }
    assert_eq!(
        reqwest::get(format!("{}/version", sim.url()))
            .await
            .expect("still up")
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        deployment(&sim, "web")["spec"]["replicas"],
        3,
        "nothing was half-applied"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn events_expire_after_an_hour_and_dropped_handles_stop_the_server() {
    let sim = start(5.0).await;
    sim.apply_yaml(WEB).expect("apply");
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    assert!(!sim.list("v1", "Event", None).is_empty());
    sim.clock().advance(Duration::from_secs(2 * 3600));
    assert!(
        sim.wait_until(WAIT, |s| s.list("v1", "Event", None).is_empty())
            .await,
        "events have a one-hour TTL"
    );
    let url = sim.url();
    drop(sim);
    let mut stopped = false;
    for _ in 0..50 {
        if reqwest::get(format!("{url}/version")).await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped, "the last handle going away stops the server");
}

#[tokio::test]
async fn pods_terminate_gracefully() {
    let sim = start(1.0).await;
    let k = Kubectl::new(&sim);
    k.apply(WEB);
    assert!(sim.wait_until(WAIT, |s| rolled_out(s, "web")).await);
    let h = Http::new(&sim);
    let pod = pods(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The container stops one sim second after SIGTERM: hold the clock while kubectl looks.
    sim.clock().set_speed(0.0);
    let (code, obj) = h
        .send(
            "DELETE",
            &format!("/api/v1/namespaces/default/pods/{pod}"),
            "application/json",
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(obj["kind"], "Pod", "the terminating pod is returned");
    assert_eq!(obj["metadata"]["deletionGracePeriodSeconds"], 30);
    let table = k.ok(&["get", "pods"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&pod) && l.contains("Terminating")),
        "{table}"
    );
    // The replacement starts at once; the endpoints drop the terminating pod at once.
    assert!(
        sim.wait_until(WAIT, |s| pods(s)
            .iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .count()
            == 3)
            .await
    );
    let ep = sim.get("v1", "Endpoints", None, "web").expect("endpoints");
    let addresses = ep
        .pointer("/subsets/0/addresses")
        .map(|a| a.to_string())
        .unwrap_or_default();
    assert!(!addresses.contains(&pod), "{addresses}");
    sim.clock().advance(Duration::from_secs(2));
    assert!(
        sim.wait_until(WAIT, |s| s.get("v1", "Pod", None, &pod).is_none())
            .await,
        "gone after the container stopped"
    );
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
    ]);
    assert!(
        events.contains("Killing") && events.contains("Stopping container web"),
        "{events}"
    );
    // --grace-period=0 --force deletes at once.
    let other = pods(&sim)[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    k.ok(&["delete", "pod", &other, "--grace-period=0", "--force"]);
    assert!(sim.get("v1", "Pod", None, &other).is_none());
    sim.shutdown().await;
}
