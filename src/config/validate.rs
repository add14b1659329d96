//! Values serde accepts but no check can use: `.nan` and `.inf` thresholds (a P1 metric that can
//! never abort), negative counts and seconds, zero or sub-second intervals. Refused when the file
//! is read, naming the key, so a typo never silently turns a check or an abort off.

use super::Config;

/// The first unusable value, as `key: why; what to write`.
pub fn validate(config: &Config) -> Result<(), String> {
    let t = &config.thresholds;
    non_negative("thresholds.minReplicas", f64::from(t.min_replicas))?;
    non_negative(
        "thresholds.sdkShutdownSeconds",
        t.sdk_shutdown_seconds as f64,
    )?;
    non_negative(
        "thresholds.maxProgressDeadlineSeconds",
        f64::from(t.max_progress_deadline_seconds),
    )?;
    let e = &config.evidence.thresholds;
    for (key, value) in [
        (
            "evidence.thresholds.authErrorsPerMinute",
            e.auth_errors_per_minute,
        ),
        (
            "evidence.thresholds.rateLimitedPerMinute",
            e.rate_limited_per_minute,
        ),
        (
            "evidence.thresholds.serverErrorsPerMinute",
            e.server_errors_per_minute,
        ),
        ("evidence.thresholds.latencyP99Ms", e.latency_p99_ms),
        (
            "evidence.thresholds.recentRestartMinutes",
            e.recent_restart_minutes,
        ),
    ] {
        non_negative(key, value)?;
    }
    let c = &config.canary;
    if let Some(factor) = c.compare_factor
        && !(factor.is_finite() && factor > 0.0)
    {
        return Err(format!(
            "canary.compareFactor {factor}: write a positive number such as 1.5"
        ));
    }
    durations(config)?;
    for (id, metric) in &c.metrics {
        if let Some(threshold) = metric.threshold {
            finite(&format!("canary.metrics.{id}.threshold"), threshold)?;
        }
        if let Some(floor) = metric.compare_floor {
            finite(&format!("canary.metrics.{id}.compareFloor"), floor)?;
        }
    }
    Ok(())
}

/// Every duration key, parsed with its bounds ([`super::duration`]) when the file is read, so
/// `canary.interval: 0s` is reported as the key, not as the flag that could also set it.
fn durations(config: &Config) -> Result<(), String> {
    use super::duration::{MAX_DURATION, MIN_INTERVAL, parse_bounded};
    use std::time::Duration;
    let c = &config.canary;
    let mut keys: Vec<(String, &Option<String>, Duration)> = vec![
        ("canary.interval".into(), &c.interval, MIN_INTERVAL),
        ("canary.window".into(), &c.window, MIN_INTERVAL),
        (
            "posthog.timeout".into(),
            &config.posthog.timeout,
            Duration::ZERO,
        ),
        (
            "prometheus.timeout".into(),
            &config.prometheus.timeout,
            Duration::ZERO,
        ),
        (
            "evidence.triageWindow".into(),
            &config.evidence.triage_window,
            Duration::from_secs(60),
        ),
    ];
    // `manual` (and its synonyms) is a pause too, until `canary promote`: not a duration.
    let pauses: Vec<Option<String>> = c.pauses.iter().flatten().cloned().map(Some).collect();
    for (i, pause) in pauses.iter().enumerate() {
        let word = pause
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if matches!(word.as_str(), "manual" | "indefinite" | "promote" | "inf") {
            continue;
        }
        keys.push((format!("canary.pauses[{i}]"), pause, Duration::ZERO));
    }
    for (key, raw, min) in keys {
        if let Some(raw) = raw {
            parse_bounded(raw, min, MAX_DURATION).map_err(|e| format!("{key} {e}"))?;
        }
    }
    Ok(())
}

fn finite(key: &str, value: f64) -> Result<(), String> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(format!("{key} {value}: write a finite number"))
    }
}

fn non_negative(key: &str, value: f64) -> Result<(), String> {
    finite(key, value)?;
    if value < 0.0 {
        return Err(format!("{key} {value}: write a number of 0 or more"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn unusable_numbers_are_refused_naming_the_key() {
        // Issue 14: `.nan`/`.inf` thresholds and negative counts were accepted.
        for (yaml, key) in [
            (
                "evidence:\n  thresholds:\n    serverErrorsPerMinute: .nan\n",
                "evidence.thresholds.serverErrorsPerMinute",
            ),
            (
                "evidence:\n  thresholds:\n    latencyP99Ms: .inf\n",
                "evidence.thresholds.latencyP99Ms",
            ),
            (
                "canary:\n  metrics:\n    errors-5xx: {threshold: .nan}\n",
                "canary.metrics.errors-5xx.threshold",
            ),
            ("canary:\n  compareFactor: -1\n", "canary.compareFactor"),
            ("thresholds:\n  minReplicas: -2\n", "thresholds.minReplicas"),
            (
                "thresholds:\n  sdkShutdownSeconds: -5\n",
                "thresholds.sdkShutdownSeconds",
            ),
        ] {
            let err = Config::parse(yaml).unwrap_err();
            assert!(err.starts_with(key), "{yaml}: {err}");
        }
        assert!(Config::parse("thresholds:\n  minReplicas: 0\n").is_ok());
    }

    /// Issue 14 item 13: `canary.interval: 0s` was reported as "--interval".
    #[test]
    fn durations_are_refused_naming_the_key() {
        for (text, key) in [
            (
                "canary:\n  interval: 0s\n",
                "canary.interval \"0s\" is too short",
            ),
            (
                "canary:\n  interval: 1ns\n",
                "canary.interval \"1ns\" is too short",
            ),
            (
                "canary:\n  pauses: [1m, 99999999999h]\n",
                "canary.pauses[1]",
            ),
            (
                "posthog:\n  timeout: soon\n",
                "posthog.timeout \"soon\" is not a duration",
            ),
            ("evidence:\n  triageWindow: 10s\n", "evidence.triageWindow"),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(key) && !err.contains("--"), "{text}: {err}");
        }
    }
}
