//! coordination.k8s.io/v1 Leases, the way client-go's leader election uses them: discovery,
//! kubectl's get/describe, create-or-409, updates conditional on resourceVersion (one winner
//! among concurrent writers), garbage collection with the owning Deployment, and injected
//! conflicts.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};
use simcluster::Fault;

use crate::common::*;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases";

const LEASE: &str = r#"
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: posthog-canary
spec:
  holderIdentity: runner-1
  leaseDurationSeconds: 30
  acquireTime: "2025-01-01T10:00:00Z"
  renewTime: "2025-01-01T10:00:05.5+01:00"
  leaseTransitions: 0
"#;

fn lease(name: &str, holder: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "leaseTransitions": 0,
            "acquireTime": "2025-01-01T10:00:00.000000Z", "renewTime": "2025-01-01T10:00:00.000000Z"}})
}

#[tokio::test]
async fn kubectl_lists_describes_and_discovers_leases() {
    let sim = start(1.0).await;
    let h = Http::new(&sim);
    let (_, apis) = h.get("/apis").await;
    assert!(
        apis["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["name"] == "coordination.k8s.io")),
        "{apis}"
    );
    let (code, list) = h.get("/apis/coordination.k8s.io/v1").await;
    assert_eq!(code, 200);
    let leases = list["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "leases").cloned())
        .expect("leases in discovery");
    assert_eq!(
        (leases["kind"].as_str(), leases["namespaced"].as_bool()),
        (Some("Lease"), Some(true))
    );

    let k = Kubectl::new(&sim);
    assert!(
        k.apply(LEASE)
            .contains("lease.coordination.k8s.io/posthog-canary created")
    );
    let table = rows(&k.ok(&["get", "lease"]));
    assert_eq!(table[0], ["NAME", "HOLDER", "AGE"]);
    assert_eq!(&table[1][..2], ["posthog-canary", "runner-1"]);
    let yaml = k.ok(&["get", "leases", "-o", "yaml"]);
    // MicroTime: six fractional digits, UTC, whatever the client sent.
    assert!(
        yaml.contains("acquireTime: \"2025-01-01T10:00:00.000000Z\""),
        "{yaml}"
    );
    assert!(
        yaml.contains("renewTime: \"2025-01-01T09:00:05.500000Z\""),
        "{yaml}"
    );
    let described = k.ok(&["describe", "lease", "posthog-canary"]);
    for line in [
        "Name:         posthog-canary",
        "Kind:         Lease",
        "Holder Identity:         runner-1",
        "Lease Duration Seconds:  30",
        "Renew Time:              2025-01-01T09:00:05.500000Z",
    ] {
        assert!(described.contains(line), "{line:?} in:\n{described}");
    }
    let err = k.fails(&["create", "--validate=false", "-f", &write(&k, LEASE)]);
    assert!(err.contains("Error from server (AlreadyExists)"), "{err}");
    assert!(
        err.contains("leases.coordination.k8s.io \"posthog-canary\" already exists"),
        "{err}"
    );
    let err = k.fails(&[
        "apply",
        "--validate=false",
        "-f",
        &write(&k, &LEASE.replace("30", "0")),
    ]);
    assert!(
        err.contains(
            "The Lease \"posthog-canary\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
        ),
        "{err}"
    );
    sim.shutdown().await;
}

fn write(k: &Kubectl, yaml: &str) -> String {
    let path = k.dir().join(format!("lease-{}.yaml", yaml.len()));
    std::fs::write(&path, yaml).expect("write manifest");
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn acquire_and_renew_are_decided_by_the_resource_version() {
    let sim = start(1.0).await;
    let h = Http::new(&sim);
    let (code, first) = h
        .send(
            "POST",
            LEASES,
            "application/json",
            Some(lease("leader", "a")),
        )
        .await;
    assert_eq!(code, 201);
    // A second acquirer loses the create.
    let (code, s) = h
        .send(
            "POST",
            LEASES,
            "application/json",
            Some(lease("leader", "b")),
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (409, Some("AlreadyExists")));

    // Renewal with the version read wins; a write with the old version then loses.
    let mut renew = first.clone();
    renew["spec"]["renewTime"] = json!("2025-01-01T10:00:10Z");
    let (code, renewed) = h
        .send(
            "PUT",
            &format!("{LEASES}/leader"),
            "application/json",
            Some(renew),
        )
        .await;
    assert_eq!(code, 200);
    assert_ne!(
        renewed["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    let mut steal = first.clone();
    steal["spec"]["holderIdentity"] = json!("b");
    let (code, s) = h
        .send(
            "PUT",
            &format!("{LEASES}/leader"),
            "application/json",
            Some(steal),
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (409, Some("Conflict")));
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("the object has been modified")),
        "{s}"
    );
    // The same precondition in a merge patch and a JSON patch.
    let stale_rv = first["metadata"]["resourceVersion"].clone();
    let (code, _) = h
        .send(
            "PATCH",
            &format!("{LEASES}/leader"),
            "application/merge-patch+json",
            Some(
                json!({"metadata": {"resourceVersion": stale_rv}, "spec": {"holderIdentity": "b"}}),
            ),
        )
        .await;
    assert_eq!(code, 409);
    let (code, _) = h
        .send(
            "PATCH",
            &format!("{LEASES}/leader"),
            "application/json-patch+json",
            Some(
                json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": stale_rv},
                {"op": "replace", "path": "/spec/holderIdentity", "value": "b"}]),
            ),
        )
        .await;
    assert_eq!(code, 409);
    let (_, now) = h.get(&format!("{LEASES}/leader")).await;
    assert_eq!(now["spec"]["holderIdentity"], "a", "no stale write landed");
    assert_eq!(now["spec"]["renewTime"], "2025-01-01T10:00:10.000000Z");

    // kube-rs reads it back typed (MicroTime included) and sees the same conflict.
    use k8s_openapi::api::coordination::v1::Lease;
    let api: kube::Api<Lease> = kube::Api::default_namespaced(client(&sim).await);
    let typed = api.get("leader").await.expect("typed get");
    assert_eq!(
        typed
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        Some("a")
    );
    assert!(
        typed
            .spec
            .as_ref()
            .and_then(|s| s.renew_time.as_ref())
            .is_some()
    );
    let mut stale: Lease = serde_json::from_value(first).expect("typed lease");
    stale.spec.get_or_insert_default().holder_identity = Some("b".into());
    match api.replace("leader", &Default::default(), &stale).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (409, "Conflict")),
        other => panic!("expected 409 Conflict, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn two_concurrent_renewals_with_one_version_have_one_winner() {
    let sim = start(1.0).await;
    let h = Http::new(&sim);
    let (_, created) = h
        .send(
            "POST",
            LEASES,
            "application/json",
            Some(lease("race", "nobody")),
        )
        .await;
    let url = format!("{}{LEASES}/race", sim.url());
    let mut current = created;
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|holder| {
                let (barrier, url) = (barrier.clone(), url.clone());
                let mut body = current.clone();
                // Each writer changes the holder: a no-op write would succeed without
                // bumping the version, as on a real apiserver.
                body["spec"]["holderIdentity"] = json!(format!("{holder}-{round}"));
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        let c = http();
                        let req = c
                            .put(&url)
                            .header("content-type", "application/json")
                            .body(body.to_string());
                        barrier.wait();
                        req.send().await.expect("put").status().as_u16()
                    })
                })
            })
            .collect();
        let mut codes: Vec<u16> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        codes.sort();
        assert_eq!(codes, [200, 409], "round {round}: exactly one writer wins");
        let (_, after) = h.get(&format!("{LEASES}/race")).await;
        let holder = after["spec"]["holderIdentity"].as_str().unwrap_or("");
        assert!(
            [format!("a-{round}"), format!("b-{round}")]
                .iter()
                .any(|h| h == holder),
            "{holder}"
        );
        current = after;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_owned_lease_goes_with_its_deployment_and_conflicts_can_be_injected() {
    let sim = start(5.0).await;
    sim.apply_yaml(WEB).expect("apply");
    let owner = deployment(&sim, "web");
    let mut l = lease("web-canary-lock", "runner-1");
    l["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
        "name": "web", "uid": owner["metadata"]["uid"]}]);
    let h = Http::new(&sim);
    let (code, created) = h.send("POST", LEASES, "application/json", Some(l)).await;
    assert_eq!(code, 201);

    // Fault::Conflicts answers 409 even with the current resourceVersion, then lets it pass.
    sim.inject(Fault::Conflicts {
        kind_plural: "leases".into(),
        name: Some("web-canary-lock".into()),
        count: 1,
    });
    let path = format!("{LEASES}/web-canary-lock");
    let (code, s) = h
        .send("PUT", &path, "application/json", Some(created.clone()))
        .await;
    assert_eq!((code, s["reason"].as_str()), (409, Some("Conflict")));
    let (code, _) = h
        .send("PUT", &path, "application/json", Some(created))
        .await;
    assert_eq!(code, 200);

    let k = Kubectl::new(&sim);
    k.ok(&["delete", "deployment", "web"]);
    assert!(
        sim.wait_until(WAIT, |s| s
            .get("coordination.k8s.io/v1", "Lease", None, "web-canary-lock")
            .is_none())
            .await,
        "the garbage collector deletes the lease whose owner is gone"
    );
    let out = k.run(&["get", "lease", "web-canary-lock"]);
    assert!(
        out.stderr
            .contains("leases.coordination.k8s.io \"web-canary-lock\" not found"),
        "{out:?}"
    );
    sim.shutdown().await;
}
