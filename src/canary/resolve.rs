//! Resolving a canary run: flags win, then the options saved by the run being resumed, then
//! the `canary:` config section, then the checklist's defaults; and the checks a stable must
//! pass before a canary starts (or a recorded canary before it is resumed).

use std::time::Duration;

use super::analysis::OnInconclusive;
use super::analysis::{Comparison, Policy};
use super::objects;
use super::ops;
use super::plan::{self, Pause};
use super::settings::{OnConflict, OnError, OnInterrupt, SavedOptions, Settings};
use super::state::{self, Autoscaler, CanaryState};
use super::{CanaryConfig, config_duration};
use crate::error::{Error, Result};
use crate::rollout::status::rollout_status;

/// A canary that can be resumed: recorded, not finished, and not driven by a live process.
pub fn resumable(
    state: Option<CanaryState>,
    name: &str,
    now: jiff::Timestamp,
    force: bool,
) -> Result<CanaryState> {
    let state = state.ok_or_else(|| {
        Error::Usage(format!(
            "no canary is recorded on deployment/{name}: nothing to resume"
        ))
    })?;
    if state.phase.is_terminal() {
        return Err(Error::Usage(format!(
            "the canary of deployment/{name} already ended ({}): nothing to resume",
            state.phase.label()
        )));
    }
    if state::is_driven(&state, now) && !force {
        return Err(Error::Usage(format!(
            "the canary of deployment/{name} is driven by {} (heartbeat {}s ago): \
             use `canary status`, or --force to take over",
            state.driver,
            now.duration_since(state.heartbeat).as_secs()
        )));
    }
    Ok(state)
}

/// Refuses to start from a stable that is not a sound baseline.
pub fn preconditions(stable: &k8s_openapi::api::apps::v1::Deployment, name: &str) -> Result<()> {
    let spec = stable.spec.as_ref();
    if spec.and_then(|s| s.paused) == Some(true) {
        return Err(Error::Usage(format!(
            "deployment/{name} is paused: resume it (`kubectl rollout resume deployment/{name}`) first"
        )));
    }
    if ops::current_replicas(stable) == 0 {
        return Err(Error::Usage(format!(
            "deployment/{name} has 0 replicas: a canary needs traffic to judge"
        )));
    }
    let status = rollout_status(stable);
    if !status.is_complete() {
        return Err(Error::Usage(format!(
            "deployment/{name} is not fully rolled out ({}): wait for `kubectl rollout status deployment/{name}` first",
            status.message(name)
        )));
    }
    Ok(())
}

/// What the command line asked for; each set flag wins over saved options and the config.
#[derive(Debug, Clone, Default)]
pub struct RunFlags {
    pub steps: Option<String>,
    pub pause: Option<String>,
    pub interval: Option<Duration>,
    pub window: Option<Duration>,
    pub failure_limit: Option<u32>,
    pub inconclusive_limit: Option<u32>,
    pub on_inconclusive: Option<OnInconclusive>,
    pub on_interrupt: Option<OnInterrupt>,
    pub on_conflict: Option<OnConflict>,
    pub on_error: Option<OnError>,
    pub compare_stable: Option<f64>,
    pub max_restarts: Option<u32>,
    pub progress_deadline: Option<Duration>,
    pub timeout: Option<Duration>,
    pub guard_interval: Option<Duration>,
}

/// Flags win, then the saved options of a resumed canary, then the config file, then defaults.
pub fn resolve(
    run: &RunFlags,
    config: &CanaryConfig,
    saved: Option<&SavedOptions>,
    stable: &k8s_openapi::api::apps::v1::Deployment,
) -> Result<Settings> {
    let input = |e: String| Error::Input(e);
    let usage = |e: String| Error::Usage(e);
    let weights = match (&run.steps, &config.steps) {
        (Some(raw), _) => plan::parse_steps(raw).map_err(usage)?,
        (None, Some(list)) => plan::parse_steps(
            &list
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .map_err(|e| input(format!("canary.steps: {e}")))?,
        (None, None) => plan::DEFAULT_STEPS.to_vec(),
    };
    let pauses: Vec<Pause> = match (&run.pause, &config.pauses) {
        (Some(raw), _) => plan::parse_pauses(raw, &weights).map_err(usage)?,
        (None, Some(list)) => plan::parse_pauses(&list.join(","), &weights)
            .map_err(|e| input(format!("canary.pauses: {e}")))?,
        // The checklist watches the first step 10 minutes and each later one 5.
        (None, None) => (0..weights.len().saturating_sub(1))
            .map(|i| plan::DEFAULT_PAUSES[usize::from(i > 0)])
            .collect(),
    };
    let duration = |flag: Option<Duration>,
                    saved: Option<u64>,
                    key: &str,
                    conf: &Option<String>,
                    default: Duration|
     -> Result<Duration> {
        if let Some(d) = flag {
            return Ok(d);
        }
        if let Some(secs) = saved {
            return Ok(Duration::from_secs(secs));
        }
        match conf {
            Some(raw) => config_duration(key, raw).map_err(input),
            None => Ok(default),
        }
    };
    let interval = duration(
        run.interval,
        saved.map(|s| s.interval_secs),
        "interval",
        &config.interval,
        Duration::from_secs(30),
    )?;
    if interval.is_zero() {
        return Err(usage("--interval must be more than 0".into()));
    }
    let window = duration(
        run.window,
        saved.map(|s| s.window_secs),
        "window",
        &config.window,
        Duration::from_secs(120),
    )?;
    let base = saved.map(|s| s.policy).unwrap_or_else(|| config.policy());
    let policy = Policy {
        failure_limit: run.failure_limit.unwrap_or(base.failure_limit),
        inconclusive_limit: run.inconclusive_limit.unwrap_or(base.inconclusive_limit),
        on_inconclusive: run.on_inconclusive.unwrap_or(base.on_inconclusive),
    };
    let factor = run
        .compare_stable
        .or_else(|| saved.and_then(|s| s.comparison.map(|c| c.factor)))
        .or(config.compare_factor);
    if factor.is_some_and(|f| !(f.is_finite() && f > 0.0)) {
        return Err(usage(
            "--compare-stable FACTOR must be a positive number".into(),
        ));
    }
    let deadline = stable
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(600);
    let surge = surge_allowed(stable);
    let replicas = saved
        .map(|_| 0)
        .unwrap_or_else(|| ops::current_replicas(stable));
    Ok(Settings {
        steps: plan::plan_steps(replicas, &weights, &pauses, surge),
        interval,
        window,
        policy,
        comparison: factor.map(|factor| Comparison { factor }),
        metrics: config.metrics().map_err(input)?,
        naming: config.naming(),
        max_restarts: run
            .max_restarts
            .or(saved.map(|s| s.max_restarts))
            .unwrap_or(0),
        on_interrupt: run
            .on_interrupt
            .or(saved.map(|s| s.on_interrupt))
            .unwrap_or_default(),
        on_conflict: run
            .on_conflict
            .or(saved.map(|s| s.on_conflict))
            .unwrap_or_default(),
        on_error: run
            .on_error
            .or(saved.map(|s| s.on_error))
            .unwrap_or_default(),
        ready_timeout: run
            .progress_deadline
            .or(saved.map(|s| Duration::from_secs(s.ready_timeout_secs)))
            .unwrap_or(Duration::from_secs(deadline)),
        timeout: run
            .timeout
            .or(saved.map(|s| Duration::from_secs(s.timeout_secs)))
            .unwrap_or(Duration::from_secs(600)),
        guard_interval: run.guard_interval.or_else(|| {
            saved
                .and_then(|s| s.guard_interval_secs)
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
        }),
    })
}

/// The plan as this stable runs it. With an HPA targeting the stable, its replicas are the
/// HPA's: each step's canary is sized from them ([`plan::plan_autoscaled`]; the driver follows
/// the HPA every tick) and the returned [`Autoscaler`] goes into the state. Steps that come out
/// at the same pod counts are merged, each merge said in the returned notes; `strict` refuses
/// such a plan instead (exit 2).
pub fn shape_plan(
    settings: &mut Settings,
    stable: &k8s_openapi::api::apps::v1::Deployment,
    hpas: &[k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler],
    strict: bool,
) -> Result<(Option<Autoscaler>, Vec<String>)> {
    let name = stable.metadata.name.clone().unwrap_or_default();
    let mut notes = Vec::new();
    let autoscaler = objects::autoscaler_of(hpas, &name).map(|hpa| Autoscaler {
        name: hpa.metadata.name.clone().unwrap_or_default(),
        spec_fingerprint: objects::spec_fingerprint(stable),
        canary_replicas: 0,
        stable_replicas: ops::current_replicas(stable),
        gone: false,
    });
    let all = objects::autoscalers_of(hpas, &name);
    if all.len() > 1 {
        let names: Vec<&str> = all
            .iter()
            .filter_map(|h| h.metadata.name.as_deref())
            .collect();
        notes.push(format!(
            "deployment/{name} is targeted by {} HPAs ({}): Kubernetes scales it by none of them \
             (AmbiguousSelector in `kubectl describe hpa`); the canary leaves its replicas alone \
             and follows them as they are; keep one HPA",
            all.len(),
            names.join(", ")
        ));
    }
    if let Some(a) = &autoscaler {
        let weights: Vec<u32> = settings.steps.iter().map(|s| s.weight).collect();
        let pauses: Vec<Pause> = settings.steps.iter().filter_map(|s| s.pause).collect();
        let replicas = ops::current_replicas(stable);
        settings.steps = plan::plan_autoscaled(replicas, &weights, &pauses);
        notes.push(format!(
            "deployment/{name} is scaled by HorizontalPodAutoscaler {}: the canary leaves its \
             replicas (now {replicas}) to the HPA and sizes the canary from them at every step",
            a.name
        ));
    }
    let (steps, merged) = plan::merge_collapsed(std::mem::take(&mut settings.steps));
    if strict && !merged.is_empty() {
        return Err(Error::Usage(format!(
            "{}: --strict-weights refuses steps that expose the same share; nothing was changed",
            merged.join("; ")
        )));
    }
    settings.steps = steps;
    notes.extend(merged);
    Ok((autoscaler, notes))
}

/// One extra pod is allowed unless the Deployment's rolling update forbids any surge.
fn surge_allowed(stable: &k8s_openapi::api::apps::v1::Deployment) -> bool {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let surge = stable
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref());
    !matches!(surge, Some(IntOrString::Int(0)))
        && !matches!(surge, Some(IntOrString::String(s)) if s == "0%" || s == "0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::settings::OnInterrupt;

    fn stable(replicas: i32, surge: serde_json::Value) -> k8s_openapi::api::apps::v1::Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": surge}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "a:1"}]}}
            }
        }))
        .unwrap()
    }

    /// Two HPAs on the stable: said at the start (Kubernetes scales it by neither), and the
    /// canary still never writes its replicas.
    #[test]
    fn two_hpas_on_the_stable_are_said_at_the_start() {
        let hpa = |name: &str| -> k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                         "maxReplicas": 10}
            }))
            .unwrap()
        };
        let stable = stable(4, "25%".into());
        let shaped = |hpas: &[k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler]| {
            let mut settings = resolve(
                &RunFlags::default(),
                &CanaryConfig::default(),
                None,
                &stable,
            )
            .unwrap();
            shape_plan(&mut settings, &stable, hpas, false).unwrap()
        };
        let (autoscaler, notes) = shaped(&[hpa("b"), hpa("a")]);
        assert_eq!(autoscaler.map(|a| a.name).as_deref(), Some("a"));
        assert!(
            notes[0].starts_with(
                "deployment/web is targeted by 2 HPAs (a, b): Kubernetes scales it by none of them"
            ),
            "{notes:?}"
        );
        let (_, notes) = shaped(&[hpa("a")]);
        assert!(!notes.iter().any(|n| n.contains("HPAs (")), "{notes:?}");
    }

    #[test]
    fn defaults_are_the_checklists_rollout() {
        let s = resolve(
            &RunFlags::default(),
            &CanaryConfig::default(),
            None,
            &stable(10, "25%".into()),
        )
        .unwrap();
        let weights: Vec<u32> = s.steps.iter().map(|s| s.weight).collect();
        assert_eq!(weights, [10, 50, 100]);
        assert_eq!(s.steps[0].pause, Some(Pause::For(Duration::from_secs(600))));
        assert_eq!(s.steps[1].pause, Some(Pause::For(Duration::from_secs(300))));
        assert_eq!(
            (s.steps[0].canary_replicas, s.steps[0].stable_replicas),
            (1, 9)
        );
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.policy.failure_limit, 2);
        assert_eq!(s.on_interrupt, OnInterrupt::Abort);
        assert_eq!(s.ready_timeout, Duration::from_secs(600));
    }

    #[test]
    fn flags_beat_saved_options_beat_config() {
        let config = CanaryConfig {
            interval: Some("10s".into()),
            failure_limit: Some(4),
            ..CanaryConfig::default()
        };
        let saved = SavedOptions {
            interval_secs: 7,
            window_secs: 60,
            policy: Policy {
                failure_limit: 3,
                ..Policy::default()
            },
            comparison: None,
            max_restarts: 1,
            on_interrupt: OnInterrupt::Leave,
            on_conflict: OnConflict::Abort,
            on_error: OnError::Leave,
            ready_timeout_secs: 30,
            timeout_secs: 40,
            guard_interval_secs: None,
            prometheus_url: None,
        };
        let s = resolve(&RunFlags::default(), &config, None, &stable(4, 1.into())).unwrap();
        assert_eq!(
            (s.interval, s.policy.failure_limit),
            (Duration::from_secs(10), 4)
        );
        let s = resolve(
            &RunFlags::default(),
            &config,
            Some(&saved),
            &stable(4, 1.into()),
        )
        .unwrap();
        assert_eq!(
            (s.interval, s.policy.failure_limit, s.on_interrupt),
            (Duration::from_secs(7), 3, OnInterrupt::Leave)
        );
        let run = RunFlags {
            interval: Some(Duration::from_secs(2)),
            failure_limit: Some(1),
            ..RunFlags::default()
        };
        let s = resolve(&run, &config, Some(&saved), &stable(4, 1.into())).unwrap();
        assert_eq!(
            (s.interval, s.policy.failure_limit),
            (Duration::from_secs(2), 1)
        );
    }

    #[test]
    fn zero_surge_keeps_the_total_at_the_replica_count() {
        assert!(!surge_allowed(&stable(2, 0.into())));
        assert!(!surge_allowed(&stable(2, "0%".into())));
        assert!(surge_allowed(&stable(2, "25%".into())));
        let run = RunFlags {
            steps: Some("33".into()),
            pause: Some("0".into()),
            ..RunFlags::default()
        };
        let s = resolve(&run, &CanaryConfig::default(), None, &stable(2, 0.into())).unwrap();
        assert_eq!(
            (s.steps[0].canary_replicas, s.steps[0].stable_replicas),
            (1, 1)
        );
        let s = resolve(&run, &CanaryConfig::default(), None, &stable(2, 1.into())).unwrap();
        assert_eq!(
            (s.steps[0].canary_replicas, s.steps[0].stable_replicas),
            (1, 2)
        );
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let run = RunFlags {
            steps: Some("50,10".into()),
            ..RunFlags::default()
        };
        let err = resolve(&run, &CanaryConfig::default(), None, &stable(2, 1.into())).unwrap_err();
        assert_eq!(err.exit().code(), 2);
        let run = RunFlags {
            compare_stable: Some(-1.0),
            ..RunFlags::default()
        };
        assert!(resolve(&run, &CanaryConfig::default(), None, &stable(2, 1.into())).is_err());
    }
}
