//! The plan of a canary: which weights it steps through, how long it pauses after each, and how
//! many canary and stable pods serve at each weight.
//!
//! Traffic is split by replicas, the way a Service splits it: every ready pod behind the Service
//! gets about the same share of new connections, so the canary's share is
//! `canary / (canary + stable)`. Long-lived connections (websockets, gRPC streams) are not
//! rebalanced when pods come and go, so their split lags the plan; that is the limit of any
//! replica-based canary (Flagger refuses this mode for that reason).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The weights the checklist walks through: 10 %, 50 %, then all of it.
pub const DEFAULT_STEPS: [u32; 3] = [10, 50, 100];
/// The checklist's watch windows: 10 minutes at 10 %, 5 minutes at 50 %.
pub const DEFAULT_PAUSES: [Pause; 2] = [
    Pause::For(Duration::from_secs(600)),
    Pause::For(Duration::from_secs(300)),
];

/// Canary and stable replica counts for `replicas` desired pods at `weight` percent.
///
/// The candidates are the canary counts `⌈R·w/100⌉` and `⌊R·w/100⌋` out of `R` pods, and, when
/// `surge` allows one extra pod, the same out of `R + 1`; the pair whose canary share is closest to
/// `weight` wins (the first listed on a tie, so no surge when it does not help). For a weight
/// between 1 and 99 both sides keep at least one pod; the canary count is 0 only at weight 0
/// (argo-rollouts' replica-based canary, as `REFERENCE.md` records it). Canary plus stable is
/// never less than `replicas`, so the ready capacity never drops below the stable's desired count
/// once both sides are ready.
pub fn canary_counts(replicas: u32, weight: u32, surge: bool) -> (u32, u32) {
    let weight = weight.min(100);
    if replicas == 0 {
        return (0, 0);
    }
    if weight == 0 {
        return (0, replicas);
    }
    if weight == 100 {
        return (replicas, 0);
    }
    let mut totals = vec![replicas];
    if surge {
        totals.push(replicas + 1);
    }
    let candidates: Vec<(u32, u32)> = totals
        .iter()
        .flat_map(|&total| {
            let exact = u64::from(total) * u64::from(weight);
            let floor = u32::try_from(exact / 100).unwrap_or(total);
            let ceil = u32::try_from(exact.div_ceil(100)).unwrap_or(total);
            [(ceil, total), (floor, total)]
        })
        .collect();
    let both_sides = candidates
        .iter()
        .copied()
        .filter(|&(canary, total)| canary >= 1 && canary < total);
    let best = pick_closest(both_sides, weight)
        // One pod and no surge: the only way to run the canary at all is to replace the stable pod.
        .or_else(|| pick_closest(candidates.iter().copied().filter(|&(c, _)| c >= 1), weight))
        .unwrap_or((1, replicas));
    (best.0, best.1 - best.0)
}

/// The canary's replicas beside a stable whose `spec.replicas` an HPA owns, at `weight` percent
/// of `stable` stable pods: `⌈S·w/(100−w)⌉`, so the canary's share `C/(C+S)` is never below the
/// weight and above it by less than one pod (`(1−w)·(C − S·w/(1−w)) < 1`). The stable keeps all
/// the pods the HPA wants and the canary comes on top, so capacity never drops below the HPA's
/// count; recomputed from the stable's current replicas, it follows the HPA up and down.
pub fn autoscaled_canary_replicas(stable: u32, weight: u32) -> u32 {
    match weight {
        0 => 0,
        100.. => stable,
        w => {
            let exact = u64::from(stable) * u64::from(w);
            u32::try_from(exact.div_ceil(u64::from(100 - w))).unwrap_or(u32::MAX)
        }
    }
}

/// Whether a weight can be reached at all with `stable` stable pods: one canary pod beside
/// them is at most the weight (`1/(S+1) ≤ w`). Below that even the smallest canary takes more
/// than the step asks for, e.g. 10 % needs at least 9 stable pods; an HPA at `minReplicas`
/// under that floor runs the step at [`share_percent`] of one canary pod instead.
pub fn weight_reachable(stable: u32, weight: u32) -> bool {
    weight >= 100 || u64::from(weight) * (u64::from(stable) + 1) >= 100
}

fn pick_closest(candidates: impl Iterator<Item = (u32, u32)>, weight: u32) -> Option<(u32, u32)> {
    let mut best: Option<((u32, u32), f64)> = None;
    for candidate in candidates {
        let delta = (share_percent(candidate.0, candidate.1) - f64::from(weight)).abs();
        if best.is_none_or(|(_, best_delta)| delta < best_delta) {
            best = Some((candidate, delta));
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// The canary's share of traffic in percent when `canary` of `total` ready pods are canaries.
pub fn share_percent(canary: u32, total: u32) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * f64::from(canary) / f64::from(total)
    }
}

/// How long a step waits (and analyses) before the next weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Pause {
    /// Wait this long, analysing every interval.
    For(
        #[serde(with = "humantime_serde_secs")]
        #[schemars(with = "u64")]
        Duration,
    ),
    /// Wait, analysing, until `kubectl posthog canary promote`.
    UntilPromoted,
}

impl Pause {
    /// `10m`, `90s`, `0` (no pause) or `manual` (wait for `canary promote`).
    pub fn parse(raw: &str) -> Result<Pause, String> {
        let raw = raw.trim();
        match raw.to_ascii_lowercase().as_str() {
            "manual" | "indefinite" | "promote" | "inf" => Ok(Pause::UntilPromoted),
            "0" => Ok(Pause::For(Duration::ZERO)),
            _ => humantime::parse_duration(raw).map(Pause::For).map_err(|e| {
                format!(
                    "invalid pause {raw:?}: {e}; write a duration such as 10m or 90s, \
                     0 for none, or manual to wait for `canary promote`"
                )
            }),
        }
    }
}

impl std::fmt::Display for Pause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pause::For(d) if d.is_zero() => f.write_str("none"),
            Pause::For(d) => f.write_str(&humantime::format_duration(*d).to_string()),
            Pause::UntilPromoted => f.write_str("until `canary promote`"),
        }
    }
}

/// Serialises a duration as whole seconds so the state annotation stays small and readable.
mod humantime_serde_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Parses `--steps 10,50,100`: strictly increasing weights from 1 to 100; 100 is appended when
/// missing because a canary always ends promoted or aborted.
pub fn parse_steps(raw: &str) -> Result<Vec<u32>, String> {
    let mut steps = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let weight: u32 = part
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("invalid step {part:?}: a step is a weight from 1 to 100"))?;
        if !(1..=100).contains(&weight) {
            return Err(format!(
                "invalid step {weight}: a step is a weight from 1 to 100"
            ));
        }
        if steps.last().is_some_and(|&last| weight <= last) {
            return Err(format!(
                "steps must increase: {weight} follows {}",
                steps.last().copied().unwrap_or_default()
            ));
        }
        steps.push(weight);
    }
    if steps.is_empty() {
        return Err("no steps given: write weights such as 10,50,100".to_string());
    }
    if steps.last() != Some(&100) {
        steps.push(100);
    }
    Ok(steps)
}

/// Parses `--pause 10m,5m`: one pause per step before 100 %, or a single pause for all of them.
pub fn parse_pauses(raw: &str, steps: &[u32]) -> Result<Vec<Pause>, String> {
    let pauses: Vec<Pause> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(Pause::parse)
        .collect::<Result<_, _>>()?;
    let needed = steps.len().saturating_sub(1);
    match pauses.len() {
        n if n == needed => Ok(pauses),
        1 => Ok(vec![pauses[0]; needed]),
        0 if needed == 0 => Ok(Vec::new()),
        n => Err(format!(
            "{n} pauses for {needed} steps before 100%: give one pause per step ({}) or one for all",
            steps[..needed]
                .iter()
                .map(|w| format!("{w}%"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// One weight of the plan with the pod counts it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// 1-based position, as shown to people.
    pub number: usize,
    pub weight: u32,
    pub canary_replicas: u32,
    pub stable_replicas: u32,
    /// The wait after reaching the weight; `None` for the final 100 %, which promotes.
    pub pause: Option<Pause>,
}

impl CanaryStep {
    /// The wait after reaching the weight, as people read it: `10m`, `none`, or the manual pause.
    pub fn pause_text(&self) -> String {
        self.pause
            .map(|p| p.to_string())
            .unwrap_or_else(|| "none".into())
    }

    pub fn is_promotion(&self) -> bool {
        self.weight >= 100
    }

    /// The canary's actual share once all pods are ready (the weight rounded to whole pods).
    pub fn actual_share(&self) -> f64 {
        share_percent(
            self.canary_replicas,
            self.canary_replicas + self.stable_replicas,
        )
    }
}

/// Every step from the first weight to promotion.
pub fn plan_steps(
    replicas: u32,
    weights: &[u32],
    pauses: &[Pause],
    surge: bool,
) -> Vec<CanaryStep> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| {
            let (canary, stable) = if weight >= 100 {
                // Promotion: the stable takes the new template at full size; the canary keeps
                // serving at its last size until the stable's rollout completes.
                (0, replicas)
            } else {
                canary_counts(replicas, weight, surge)
            };
            CanaryStep {
                number: i + 1,
                weight,
                canary_replicas: canary,
                stable_replicas: stable,
                pause: (weight < 100)
                    .then(|| pauses.get(i).copied().unwrap_or(Pause::For(Duration::ZERO))),
            }
        })
        .collect()
}

/// The plan for a stable whose replicas an HPA owns: each step's canary count beside the
/// stable's `stable` pods now (the driver recomputes it every tick from the stable's current
/// replicas); the stable's count is the HPA's, never written.
pub fn plan_autoscaled(stable: u32, weights: &[u32], pauses: &[Pause]) -> Vec<CanaryStep> {
    let mut steps = plan_steps(stable, weights, pauses, false);
    for step in steps.iter_mut().filter(|s| !s.is_promotion()) {
        step.canary_replicas = autoscaled_canary_replicas(stable, step.weight);
        step.stable_replicas = stable;
    }
    steps
}

/// Steps that come out at the same pod counts (1 replica: 10 % and 50 % are both `1 canary + 1
/// stable`) would expose the same share twice under different names: they become one step, at
/// the first one's weight, pausing as long as all of them together (`manual` if any is). Returns
/// the plan and one sentence per merge, to warn with (or refuse with `--strict-weights`).
pub fn merge_collapsed(steps: Vec<CanaryStep>) -> (Vec<CanaryStep>, Vec<String>) {
    let mut merged: Vec<CanaryStep> = Vec::new();
    let mut groups: Vec<Vec<u32>> = Vec::new();
    for step in steps {
        let same = merged.last().is_some_and(|last| {
            !last.is_promotion()
                && !step.is_promotion()
                && (last.canary_replicas, last.stable_replicas)
                    == (step.canary_replicas, step.stable_replicas)
        });
        if same && let (Some(last), Some(group)) = (merged.last_mut(), groups.last_mut()) {
            last.pause = match (last.pause, step.pause) {
                (Some(Pause::For(a)), Some(Pause::For(b))) => Some(Pause::For(a + b)),
                (Some(Pause::UntilPromoted), _) | (_, Some(Pause::UntilPromoted)) => {
                    Some(Pause::UntilPromoted)
                }
                (a, b) => a.or(b),
            };
            group.push(step.weight);
            continue;
        }
        groups.push(vec![step.weight]);
        merged.push(step);
    }
    let mut warnings = Vec::new();
    for (step, group) in merged.iter().zip(&groups).filter(|(_, g)| g.len() > 1) {
        warnings.push(format!(
            "steps {} all run {} canary + {} stable pods ({:.0}% of traffic): merged into one \
             step, pausing {}; more replicas (or fewer steps) keep them apart",
            group
                .iter()
                .map(|w| format!("{w}%"))
                .collect::<Vec<_>>()
                .join(", "),
            step.canary_replicas,
            step.stable_replicas,
            step.actual_share(),
            step.pause_text()
        ));
    }
    for (i, step) in merged.iter_mut().enumerate() {
        step.number = i + 1;
    }
    (merged, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_example_ten_replicas_forty_one_percent() {
        assert_eq!(canary_counts(10, 41, true), (4, 6));
        assert_eq!(canary_counts(10, 41, false), (4, 6));
    }

    #[test]
    fn checklist_weights_on_ten_replicas() {
        assert_eq!(canary_counts(10, 10, true), (1, 9));
        assert_eq!(canary_counts(10, 50, true), (5, 5));
        assert_eq!(canary_counts(10, 100, true), (10, 0));
        assert_eq!(canary_counts(10, 0, true), (0, 10));
    }

    #[test]
    fn at_least_one_canary_for_every_weight_between_1_and_99() {
        for replicas in 1..=25 {
            for weight in 1..=99 {
                for surge in [true, false] {
                    let (canary, stable) = canary_counts(replicas, weight, surge);
                    assert!(canary >= 1, "R={replicas} w={weight} surge={surge}");
                    assert!(
                        canary + stable >= replicas,
                        "capacity R={replicas} w={weight}"
                    );
                    let limit = replicas + u32::from(surge);
                    assert!(canary + stable <= limit, "R={replicas} w={weight}");
                    if replicas > 1 || surge {
                        assert!(stable >= 1, "stable kept R={replicas} w={weight}");
                    }
                }
            }
        }
    }

    #[test]
    fn zero_canary_only_at_weight_zero() {
        assert_eq!(canary_counts(3, 0, true), (0, 3));
        assert_eq!(canary_counts(0, 50, true), (0, 0));
        assert_eq!(canary_counts(3, 1, false), (1, 2));
    }

    #[test]
    fn surge_is_used_only_when_it_gets_closer() {
        // R=1: without surge the only way to run a canary is to replace the stable pod.
        assert_eq!(canary_counts(1, 10, false), (1, 0));
        // With one extra pod, 1+1 is 50 %, much closer to 10 % than 100 %.
        assert_eq!(canary_counts(1, 10, true), (1, 1));
        // R=2, w=33: 1/2 = 50 % (Δ17) versus 1/3 = 33.3 % with surge (Δ0.3).
        assert_eq!(canary_counts(2, 33, true), (1, 2));
        assert_eq!(canary_counts(2, 33, false), (1, 1));
        // R=4, w=25: exact without surge, so no extra pod.
        assert_eq!(canary_counts(4, 25, true), (1, 3));
        // R=3, w=50: 1/3 or 2/3 without surge, 2/4 exactly with it.
        assert_eq!(canary_counts(3, 50, true), (2, 2));
    }

    #[test]
    fn weights_are_parsed_and_end_at_100() {
        assert_eq!(parse_steps("10,50,100").unwrap(), vec![10, 50, 100]);
        assert_eq!(parse_steps("10%, 50").unwrap(), vec![10, 50, 100]);
        assert!(parse_steps("50,10").unwrap_err().contains("increase"));
        assert!(parse_steps("0,50").is_err());
        assert!(parse_steps("101").is_err());
        assert!(parse_steps("").is_err());
        assert!(parse_steps("ten").is_err());
    }

    #[test]
    fn pauses_one_per_step_or_one_for_all() {
        let steps = [10, 50, 100];
        assert_eq!(
            parse_pauses("10m,5m", &steps).unwrap(),
            DEFAULT_PAUSES.to_vec()
        );
        assert_eq!(
            parse_pauses("30s", &steps).unwrap(),
            vec![Pause::For(Duration::from_secs(30)); 2]
        );
        assert_eq!(
            parse_pauses("manual,0", &steps).unwrap(),
            vec![Pause::UntilPromoted, Pause::For(Duration::ZERO)]
        );
        let err = parse_pauses("1m,2m,3m", &steps).unwrap_err();
        assert!(err.contains("10%, 50%"), "{err}");
        assert!(Pause::parse("soon").is_err());
        assert_eq!(parse_pauses("", &[100]).unwrap(), vec![]);
    }

    #[test]
    fn plan_has_counts_and_pauses_per_step() {
        let plan = plan_steps(10, &[10, 50, 100], &DEFAULT_PAUSES, true);
        assert_eq!(plan.len(), 3);
        assert_eq!((plan[0].canary_replicas, plan[0].stable_replicas), (1, 9));
        assert_eq!(plan[0].pause, Some(DEFAULT_PAUSES[0]));
        assert_eq!((plan[1].canary_replicas, plan[1].stable_replicas), (5, 5));
        assert!(plan[2].is_promotion());
        assert_eq!(plan[2].pause, None);
        assert_eq!(plan[2].stable_replicas, 10);
        assert!((plan[0].actual_share() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn autoscaled_canary_stays_within_one_pod_of_the_weight() {
        // 9 stable at 10 %: exactly 1 canary; 10 stable: 2 (16.7 %, never below the weight).
        assert_eq!(autoscaled_canary_replicas(9, 10), 1);
        assert_eq!(autoscaled_canary_replicas(10, 10), 2);
        assert_eq!(autoscaled_canary_replicas(4, 50), 4);
        assert_eq!(autoscaled_canary_replicas(3, 0), 0);
        assert_eq!(autoscaled_canary_replicas(1, 10), 1);
        for stable in 1..=60 {
            for weight in 1..=99 {
                let canary = autoscaled_canary_replicas(stable, weight);
                // In hundredths of a pod: 100·C − w·(C+S) is in [0, 100).
                let off = i64::from(100 * canary) - i64::from(weight * (canary + stable));
                assert!(canary >= 1, "S={stable} w={weight}");
                assert!(
                    (0..100).contains(&off),
                    "S={stable} w={weight}: {canary} canary is {off}/100 pods off"
                );
            }
        }
    }

    #[test]
    fn a_weight_is_reachable_when_one_canary_pod_is_at_most_the_weight() {
        assert!(!weight_reachable(8, 10), "1 of 9 is 11 %");
        assert!(weight_reachable(9, 10), "1 of 10 is 10 %");
        assert!(weight_reachable(1, 50));
        assert!(!weight_reachable(1, 40));
        assert!(weight_reachable(2, 40));
        assert!(weight_reachable(0, 100));
        // preflight's rule (checks may not import canary) is the same one.
        for stable in 0..=30 {
            for weight in 1..=100 {
                assert_eq!(
                    weight_reachable(stable, weight),
                    !crate::checks::availability::unreachable_weight(stable, weight),
                    "S={stable} w={weight}"
                );
            }
        }
        assert_eq!(crate::checks::availability::CANARY_STEPS, DEFAULT_STEPS);
    }

    #[test]
    fn one_replica_ten_and_fifty_collapse_into_one_step() {
        let plan = plan_steps(1, &[10, 50, 100], &DEFAULT_PAUSES, true);
        assert_eq!(
            (plan[0].canary_replicas, plan[0].stable_replicas),
            (plan[1].canary_replicas, plan[1].stable_replicas),
            "the defect: both are 1 canary + 1 stable"
        );
        let (merged, warnings) = merge_collapsed(plan);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            (
                merged[0].number,
                merged[0].weight,
                merged[0].canary_replicas
            ),
            (1, 10, 1)
        );
        assert_eq!(
            merged[0].pause,
            Some(Pause::For(Duration::from_secs(900))),
            "the merged step pauses as long as both"
        );
        assert!((merged[0].actual_share() - 50.0).abs() < 1e-9);
        assert_eq!((merged[1].number, merged[1].weight), (2, 100));
        assert_eq!(
            warnings,
            vec![
                "steps 10%, 50% all run 1 canary + 1 stable pods (50% of traffic): merged into \
                 one step, pausing 15m; more replicas (or fewer steps) keep them apart"
                    .to_string()
            ]
        );
        let (kept, none) = merge_collapsed(plan_steps(10, &[10, 50, 100], &DEFAULT_PAUSES, true));
        assert_eq!(kept.len(), 3);
        assert!(none.is_empty());
    }

    #[test]
    fn autoscaled_plan_keeps_the_stable_at_the_hpas_count() {
        let plan = plan_autoscaled(4, &[10, 50, 100], &DEFAULT_PAUSES);
        assert_eq!((plan[0].canary_replicas, plan[0].stable_replicas), (1, 4));
        assert_eq!((plan[1].canary_replicas, plan[1].stable_replicas), (4, 4));
        assert!(plan[2].is_promotion());
    }

    #[test]
    fn pause_serialises_as_seconds() {
        let json = serde_json::to_string(&Pause::For(Duration::from_secs(600))).unwrap();
        assert_eq!(json, r#"{"for":600}"#);
        let back: Pause = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Pause::For(Duration::from_secs(600)));
        assert_eq!(
            serde_json::to_string(&Pause::UntilPromoted).unwrap(),
            r#""untilPromoted""#
        );
    }
}
