//! Every duration a user writes (flags and config keys) is parsed here, with bounds: a value
//! beyond what any clock arithmetic can hold (`--since 99999999999h` panicked in jiff) or below
//! what makes sense (`--interval 1ns`, 920 Prometheus queries in 13 s) is refused with a message
//! that names the flag or key and the range.

use std::time::Duration;

/// The longest duration any flag or key accepts: 365 days (a bundle's window, a timeout).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The shortest interval between analyses or polls: anything shorter floods Prometheus.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Parses `raw` (`30s`, `5m`, `1h30m`) and checks `min..=max`. The error reads after the name
/// of the flag or key: `--since "99999999999h" is too long: at most 365d`.
pub fn parse_bounded(raw: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let shown = crate::error::shown_input(raw);
    let parsed = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("{shown} is not a duration ({e}); write e.g. 30s, 5m or 1h"))?;
    if parsed < min {
        return Err(format!("{shown} is too short: at least {}", bound(min)));
    }
    if parsed > max {
        return Err(format!("{shown} is too long: at most {}", bound(max)));
    }
    Ok(parsed)
}

/// `365d`, `1s`: whole days as days (humantime writes 365 days as `11months 30days 3h…`).
fn bound(d: Duration) -> String {
    match d.as_secs() {
        secs if secs >= 86_400 && secs % 86_400 == 0 => format!("{}d", secs / 86_400),
        _ => humantime::format_duration(d).to_string(),
    }
}

/// A clap `value_parser` for a timeout or window: `0s` up to [`MAX_DURATION`].
pub fn duration_arg(raw: &str) -> Result<Duration, String> {
    parse_bounded(raw, Duration::ZERO, MAX_DURATION)
}

/// A clap `value_parser` for an interval between polls or analyses: [`MIN_INTERVAL`] up to
/// [`MAX_DURATION`].
pub fn interval_arg(raw: &str) -> Result<Duration, String> {
    parse_bounded(raw, MIN_INTERVAL, MAX_DURATION)
}

/// A config key's duration: the error names the key (`posthog.timeout "x": …`).
pub fn config_duration(
    key: &str,
    raw: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, crate::error::Error> {
    parse_bounded(raw, min, max).map_err(|e| crate::error::Error::Input(format!("{key} {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14 items 11 and 12: `--since 99999999999h` panicked; `--interval 1ns` was accepted.
    #[test]
    fn durations_are_bounded() {
        assert!(
            duration_arg("99999999999h")
                .unwrap_err()
                .contains("too long: at most 365d")
        );
        assert!(
            interval_arg("1ns")
                .unwrap_err()
                .contains("too short: at least 1s")
        );
        assert!(
            duration_arg("soon")
                .unwrap_err()
                .contains("\"soon\" is not a duration")
        );
        assert_eq!(interval_arg("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration_arg("0s"), Ok(Duration::ZERO));
        let long = "9".repeat(100_000);
        assert!(duration_arg(&long).unwrap_err().len() < 300);
    }
}
