//! The way the demo calls rollback: in process, on the demo's simulated cluster, through a
//! derived context (`Ctx::with_global`), with the report written to the shared stdout.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use kubectl_posthog::clock::SystemClock;
use kubectl_posthog::cmd::demo::{BAD_IMAGE, DEPLOYMENT, Demo, NAMESPACE, STABLE_IMAGE};
use kubectl_posthog::cmd::rollback::{self, RollbackArgs};
use kubectl_posthog::cmd::{Cli, Ctx};
use kubectl_posthog::error::{Exit, report_exit};
use kubectl_posthog::interrupt::Interrupt;
use kubectl_posthog::ui::{Styles, Ui};
use serde_json::json;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_demo_rolls_back_a_bad_release_in_process() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let demo = Demo::start(None).await.unwrap();
    demo.wait_ready(Duration::from_secs(30)).await.unwrap();
    // The bad release reaches the stable (as `kubectl set image` would).
    let mut stable = demo
        .sim
        .get("apps/v1", "Deployment", Some(NAMESPACE), DEPLOYMENT)
        .unwrap();
    stable["spec"]["template"]["spec"]["containers"][0]["image"] = json!(BAD_IMAGE);
    demo.sim.apply_yaml(&stable.to_string()).unwrap();

    let out = Buffer::default();
    let global = Cli::try_parse_from(["kubectl-posthog", "completion", "bash"])
        .unwrap()
        .global;
    let (_tx, interrupt) = Interrupt::new();
    let ctx = Ctx::new(
        global,
        Box::new(out.clone()),
        Styles::plain(),
        Ui::silent(),
        Arc::new(SystemClock),
        interrupt,
    );
    let on_demo = ctx.with_global(demo.global(&ctx.global));
    let mut args = RollbackArgs::new(DEPLOYMENT);
    args.timeout = Duration::from_secs(60);
    let report = rollback::run(args, &on_demo).await.unwrap();
    on_demo.show(&report).unwrap();
    let exit = report_exit(&report);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(exit, Exit::Success, "{text}");
    assert!(
        text.contains("rolled back from revision 2 to revision 1"),
        "{text}"
    );
    assert!(text.contains("successfully rolled out"), "{text}");
    let image = demo
        .sim
        .get("apps/v1", "Deployment", Some(NAMESPACE), DEPLOYMENT)
        .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
        .clone();
    assert_eq!(image, STABLE_IMAGE);
    demo.sim.shutdown().await;
}
