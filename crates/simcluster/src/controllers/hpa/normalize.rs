//! From a metric proposal to the replica count the HPA writes, as upstream's `horizontal.go`:
//! the recommendation history behind the stabilization windows, the min/max clamp, and the
//! scaling policies (`behavior`) or, without `behavior`, the legacy rule (at most double, at
//! least 4, per sync; 300 s scale-down stabilization). Pure over a per-HPA [`History`].

use jiff::Timestamp;

use super::spec::{Behavior, PolicyKind, Rules, Select};
use crate::clock::add_secs;

/// `--horizontal-pod-autoscaler-downscale-stabilization`.
pub(crate) const DOWNSCALE_STABILIZATION_SECS: i32 = 300;

#[derive(Debug, Clone, Copy, PartialEq)]
struct ScaleEvent {
    change: i32,
    at: Timestamp,
    outdated: bool,
}

/// What the controller remembers between syncs of one HPA.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct History {
    recommendations: Vec<(i32, Timestamp)>,
    up: Vec<ScaleEvent>,
    down: Vec<ScaleEvent>,
}

/// The normalized replica count and the conditions it implies.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Normalized {
    pub(crate) replicas: i32,
    /// AbleToScale (status True): reason and message.
    pub(crate) able: (&'static str, &'static str),
    /// ScalingLimited: status, reason and message.
    pub(crate) limited: (bool, &'static str, &'static str),
}

const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const WITHIN: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);

/// What one normalization works on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) current: i32,
    pub(crate) min: i32,
    pub(crate) max: i32,
}

fn limited(
    desired: i32,
    stabilized: i32,
    why: (&'static str, &'static str),
) -> (bool, &'static str, &'static str) {
    (desired != stabilized, why.0, why.1)
}

impl History {
    /// `recordInitialRecommendation`: the first sync remembers the current size.
    pub(crate) fn record_initial(&mut self, current: i32, now: Timestamp) {
        if self.recommendations.is_empty() {
            self.recommendations.push((current, now));
        }
    }

    /// Records `proposal`, reusing the slot of one that fell out of every window.
    fn record(&mut self, proposal: i32, now: Timestamp, old: Option<usize>) {
        match old.and_then(|i| self.recommendations.get_mut(i)) {
            Some(slot) => *slot = (proposal, now),
            None => self.recommendations.push((proposal, now)),
        }
    }

    /// `normalizeDesiredReplicas`: for HPAs without `behavior`.
    pub(crate) fn normalize_legacy(
        &mut self,
        b: Bounds,
        proposal: i32,
        now: Timestamp,
    ) -> Normalized {
        let cutoff = add_secs(now, -f64::from(DOWNSCALE_STABILIZATION_SECS));
        let (mut highest, mut old) = (proposal, None);
        for (i, (rec, at)) in self.recommendations.iter().enumerate() {
            if *at < cutoff {
                old = Some(i);
            } else if *rec > highest {
                highest = *rec;
            }
        }
        self.record(proposal, now, old);
        let able = if highest != proposal {
            DOWN_STABILIZED
        } else {
            READY
        };
        // Do not let a bogus sample grow the target too fast (kubernetes#32304).
        let up_limit = ((2.0 * f64::from(b.current)).max(4.0)) as i32;
        let (ceiling, why) = if b.max > up_limit {
            (up_limit, UP_LIMIT)
        } else {
            (b.max, TOO_MANY)
        };
        let (replicas, why) = if highest < b.min {
            (b.min, TOO_FEW)
        } else if highest > ceiling {
            (ceiling, why)
        } else {
            (highest, WITHIN)
        };
        Normalized {
            replicas,
            able,
            limited: limited(replicas, highest, why),
        }
    }

    /// `normalizeDesiredReplicasWithBehaviors`.
    pub(crate) fn normalize_with(
        &mut self,
        behavior: &Behavior,
        b: Bounds,
        proposal: i32,
        now: Timestamp,
    ) -> Normalized {
        let up_window = behavior.up.window_secs.unwrap_or(0);
        let down_window = behavior
            .down
            .window_secs
            .unwrap_or(DOWNSCALE_STABILIZATION_SECS);
        let up_cutoff = add_secs(now, -f64::from(up_window));
        let down_cutoff = add_secs(now, -f64::from(down_window));
        let (mut up_rec, mut down_rec, mut old) = (proposal, proposal, None);
        for (i, (rec, at)) in self.recommendations.iter().enumerate() {
            if *at > up_cutoff {
                up_rec = up_rec.min(*rec);
            }
            if *at > down_cutoff {
                down_rec = down_rec.max(*rec);
            }
            if *at < up_cutoff && *at < down_cutoff {
                old = Some(i);
            }
        }
        let stabilized = b.current.max(up_rec).min(down_rec);
        self.record(proposal, now, old);
        let able = if stabilized == proposal {
            READY
        } else if proposal >= b.current {
            UP_STABILIZED
        } else {
            DOWN_STABILIZED
        };
        let (replicas, why) = self.rate_limited(behavior, b, stabilized, now);
        Normalized {
            replicas,
            able,
            limited: limited(replicas, stabilized, why),
        }
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn rate_limited(
        &self,
        behavior: &Behavior,
        b: Bounds,
        desired: i32,
        now: Timestamp,
    ) -> (i32, (&'static str, &'static str)) {
        if desired > b.current {
            let limit = self.up_limit(&behavior.up, b.current, now).max(b.current);
            let (ceiling, why) = if b.max > limit {
                (limit, UP_LIMIT)
            } else {
                (b.max, TOO_MANY)
            };
            if desired > ceiling {
                return (ceiling, why);
            }
        } else if desired < b.current {
            let limit = self
                .down_limit(&behavior.down, b.current, now)
                .min(b.current);
            let (floor, why) = if b.min < limit {
                (limit, DOWN_LIMIT)
            } else {
                (b.min, TOO_FEW)
            };
            if desired < floor {
                return (floor, why);
            }
        }
        (desired, WITHIN)
    }

    /// The replica count at the start of a policy's period, from the changes made since.
    fn period_start(&self, current: i32, period_secs: i32, now: Timestamp) -> i32 {
        let cutoff = add_secs(now, -f64::from(period_secs));
        // In i64: absurd replica counts must not overflow.
        let within = |events: &[ScaleEvent]| -> i64 {
            events
                .iter()
                .filter(|e| e.at > cutoff)
                .map(|e| i64::from(e.change))
                .sum()
        };
        let start = i64::from(current) - within(&self.up) + within(&self.down);
        start.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    fn up_limit(&self, rules: &Rules, current: i32, now: Timestamp) -> i32 {
        let pick: fn(i32, i32) -> i32 = match rules.select {
            Select::Disabled => return current,
            Select::Min => i32::min,
            Select::Max => i32::max,
        };
        let mut result = if rules.select == Select::Min {
            i32::MAX
        } else {
            i32::MIN
        };
        for p in &rules.policies {
            let start = self.period_start(current, p.period_secs, now);
            let proposed = match p.kind {
                PolicyKind::Pods => start.saturating_add(p.value),
                PolicyKind::Percent => {
                    (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// `calculateScaleDownLimitWithBehaviors`.
    fn down_limit(&self, rules: &Rules, current: i32, now: Timestamp) -> i32 {
        let pick: fn(i32, i32) -> i32 = match rules.select {
            Select::Disabled => return current,
            Select::Min => i32::max,
            Select::Max => i32::min,
        };
        let mut result = if rules.select == Select::Min {
            i32::MIN
        } else {
            i32::MAX
        };
        for p in &rules.policies {
            let start = self.period_start(current, p.period_secs, now);
            let proposed = match p.kind {
                PolicyKind::Pods => start.saturating_sub(p.value),
                PolicyKind::Percent => {
                    (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// `storeScaleEvent`: only HPAs with `behavior` keep them (their policies read them).
    pub(crate) fn store_scale_event(
        &mut self,
        behavior: Option<&Behavior>,
        prev: i32,
        new: i32,
        now: Timestamp,
    ) {
        let Some(behavior) = behavior else { return };
        let (events, rules, change) = if new > prev {
            (&mut self.up, &behavior.up, new - prev)
        } else {
            (&mut self.down, &behavior.down, prev - new)
        };
        let longest = rules
            .policies
            .iter()
            .map(|p| p.period_secs)
            .max()
            .unwrap_or(0);
        let cutoff = add_secs(now, -f64::from(longest));
        for e in events.iter_mut() {
            if e.at < cutoff {
                e.outdated = true;
            }
        }
        let event = ScaleEvent {
            change,
            at: now,
            outdated: false,
        };
        match events.iter().rposition(|e| e.outdated) {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::hpa::spec::Policy;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn rules(window: Option<i32>, select: Select, policies: &[(PolicyKind, i32, i32)]) -> Rules {
        Rules {
            window_secs: window,
            select,
            policies: policies
                .iter()
                .map(|(kind, value, period_secs)| Policy {
                    kind: *kind,
                    value: *value,
                    period_secs: *period_secs,
                })
                .collect(),
            tolerance: None,
        }
    }

    fn defaults() -> Behavior {
        Behavior {
            up: rules(
                Some(0),
                Select::Max,
                &[(PolicyKind::Pods, 4, 15), (PolicyKind::Percent, 100, 15)],
            ),
            down: rules(None, Select::Max, &[(PolicyKind::Percent, 100, 15)]),
        }
    }

    const B: Bounds = Bounds {
        current: 2,
        min: 2,
        max: 10,
    };

    #[test]
    fn legacy_limits_growth_and_stabilizes_scale_down() {
        let mut h = History::default();
        h.record_initial(2, t(0));
        let n = h.normalize_legacy(B, 7, t(15));
        assert_eq!(n.replicas, 4, "at most max(2 × 2, 4)");
        assert_eq!(n.limited, (true, "ScaleUpLimit", UP_LIMIT.1));
        assert_eq!(n.able, READY);
        let now4 = Bounds { current: 4, ..B };
        let n = h.normalize_legacy(now4, 2, t(30));
        assert_eq!(
            n.replicas, 7,
            "the window still holds the 7 recommended at 15 s"
        );
        assert_eq!(n.able, DOWN_STABILIZED);
        let n = h.normalize_legacy(Bounds { current: 7, ..B }, 2, t(316));
        assert_eq!(
            n.replicas, 2,
            "every higher recommendation is older than 300 s"
        );
        assert_eq!(n.limited, (false, "DesiredWithinRange", WITHIN.1));
        let mut fresh = History::default();
        fresh.record_initial(2, t(0));
        let n = fresh.normalize_legacy(B, 1, t(301));
        assert_eq!(
            (n.replicas, n.limited.0, n.limited.1),
            (2, true, "TooFewReplicas")
        );
    }

    #[test]
    fn default_behavior_doubles_or_adds_four_per_period() {
        let mut h = History::default();
        h.record_initial(2, t(0));
        let n = h.normalize_with(&defaults(), B, 9, t(15));
        assert_eq!(n.replicas, 6, "max(2 + 4, 2 × 2)");
        assert_eq!(n.limited.1, "ScaleUpLimit");
        h.store_scale_event(Some(&defaults()), 2, 6, t(15));
        // Ten seconds later the 15 s period still counts the +4: start is 2 again.
        let n = h.normalize_with(&defaults(), Bounds { current: 6, ..B }, 9, t(25));
        assert_eq!(n.replicas, 6);
        let n = h.normalize_with(&defaults(), Bounds { current: 6, ..B }, 20, t(31));
        assert_eq!((n.replicas, n.limited.1), (10, "TooManyReplicas"));
    }

    #[test]
    fn scale_down_window_and_policies() {
        let mut h = History::default();
        h.record_initial(8, t(0));
        let b = Behavior {
            up: defaults().up,
            down: rules(Some(60), Select::Max, &[(PolicyKind::Pods, 1, 60)]),
        };
        let at8 = Bounds {
            current: 8,
            min: 1,
            max: 10,
        };
        let n = h.normalize_with(&b, at8, 2, t(15));
        assert_eq!(
            n.replicas, 8,
            "the 8 recommended at 0 is inside the 60 s window"
        );
        assert_eq!(n.able, DOWN_STABILIZED);
        let n = h.normalize_with(&b, at8, 2, t(61));
        assert_eq!(
            (n.replicas, n.limited.1),
            (7, "ScaleDownLimit"),
            "one pod per 60 s"
        );
        h.store_scale_event(Some(&b), 8, 7, t(61));
        let n = h.normalize_with(&b, Bounds { current: 7, ..at8 }, 2, t(90));
        assert_eq!(n.replicas, 7, "the period started at 8");
        let n = h.normalize_with(&b, Bounds { current: 7, ..at8 }, 2, t(122));
        assert_eq!(n.replicas, 6);
    }

    #[test]
    fn select_min_and_disabled() {
        let mut h = History::default();
        h.record_initial(4, t(0));
        let at4 = Bounds {
            current: 4,
            min: 1,
            max: 20,
        };
        let min = Behavior {
            up: rules(
                Some(0),
                Select::Min,
                &[(PolicyKind::Pods, 1, 15), (PolicyKind::Percent, 100, 15)],
            ),
            down: defaults().down,
        };
        assert_eq!(h.normalize_with(&min, at4, 10, t(15)).replicas, 5);
        let off = Behavior {
            up: rules(Some(0), Select::Disabled, &[(PolicyKind::Pods, 4, 15)]),
            down: rules(Some(0), Select::Disabled, &[(PolicyKind::Pods, 4, 15)]),
        };
        assert_eq!(h.normalize_with(&off, at4, 10, t(30)).replicas, 4);
        assert_eq!(h.normalize_with(&off, at4, 1, t(45)).replicas, 4);
    }
}
