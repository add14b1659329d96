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
}
