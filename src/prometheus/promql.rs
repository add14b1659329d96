//! What an alerting expression computes, read with a real PromQL parser (`promql-parser`, the
//! Prometheus grammar): the comparison and its threshold, which responses it counts (by the
//! status matchers of its selectors) or which latency quantile it reads, and the factor that
//! turns its value into the alert table's units — per minute for counts, milliseconds for
//! latency — across `rate()` / `increase()` windows, `* 60`, `/ 60` and `* 1000`. Pure.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr};

use super::alert_table::Family;

/// How the alert compares its value with the threshold (`10 < x` is read as `x > 10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    AtLeast,
    Below,
    AtMost,
    Equal,
    NotEqual,
}

impl Comparison {
    fn of(op: &str, flipped: bool) -> Option<Comparison> {
        let c = match op {
            ">" => Comparison::Above,
            ">=" => Comparison::AtLeast,
            "<" => Comparison::Below,
            "<=" => Comparison::AtMost,
            "==" => Comparison::Equal,
            "!=" => Comparison::NotEqual,
            _ => return None,
        };
        Some(match (flipped, c) {
            (true, Comparison::Above) => Comparison::Below,
            (true, Comparison::AtLeast) => Comparison::AtMost,
            (true, Comparison::Below) => Comparison::Above,
            (true, Comparison::AtMost) => Comparison::AtLeast,
            (_, c) => c,
        })
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
        }
    }

    /// Fires when the value grows past the threshold.
    pub fn is_upward(self) -> bool {
        matches!(self, Comparison::Above | Comparison::AtLeast)
    }
}

/// What the compared value is, in the table's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A count per second times `factor` (`rate(…)` is 1, `rate(…) * 60` is 60,
    /// `increase(…[5m])` is 300).
    Rate { factor: f64 },
    /// A raw counter: responses since the pods started.
    Total,
    /// A latency quantile in seconds times `factor` (`* 1000` for milliseconds).
    Quantile { quantile: f64, factor: f64 },
    /// A ratio of two series (a share of requests), which has no per-minute equivalent.
    Ratio,
    /// Something else (`why`).
    Unknown(String),
}

/// One alerting expression, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// `None` when the expression compares nothing (it fires whenever it returns a series).
    pub comparison: Option<(Comparison, f64)>,
    pub value: Value,
    /// The metric names it selects, in order.
    pub metrics: Vec<String>,
    /// The table lines whose every status code its status matchers select.
    pub families: Vec<Family>,
    /// Status codes it counts beyond those of its families (`status!~"2.."` counts 404 too).
    pub also_counts: Vec<u16>,
}

impl Shape {
    /// The threshold in the table's units: per minute for counts, ms for latency.
    pub fn normalised_threshold(&self) -> Option<f64> {
        let (_, threshold) = self.comparison?;
        match self.value {
            Value::Rate { factor } if factor != 0.0 => Some(threshold * 60.0 / factor),
            Value::Quantile { factor, .. } if factor != 0.0 => Some(threshold * 1000.0 / factor),
            _ => None,
        }
    }
}

/// Label names that hold an HTTP status in common exporters, besides the configured one.
const STATUS_LABELS: [&str; 5] = [
    "status",
    "code",
    "status_code",
    "response_code",
    "http_status",
];
/// Codes tried against status matchers.
const PROBE_CODES: [u16; 12] = [200, 201, 301, 400, 401, 403, 404, 429, 500, 502, 503, 504];

/// Parses `expr` and reads its shape; `status_label` is the configured status label.
pub fn shape(expr: &str, status_label: &str) -> Result<Shape, String> {
    let ast = parser::parse(expr).map_err(|e| e.trim().to_string())?;
    let (value_expr, comparison) = split_comparison(&ast);
    let mut metrics = Vec::new();
    let mut codes: Option<Vec<u16>> = None;
    collect(value_expr, status_label, &mut metrics, &mut codes);
    let codes = codes.unwrap_or_default();
    let families: Vec<Family> = Family::ALL
        .into_iter()
        .filter(|f| f != &Family::Latency)
        .filter(|f| !codes.is_empty() && f.statuses().iter().all(|c| codes.contains(c)))
        .collect();
    let value = value_of(value_expr);
    let mut families = families;
    if matches!(value, Value::Quantile { .. }) {
        families = vec![Family::Latency];
    }
    let also_counts = codes
        .iter()
        .copied()
        .filter(|c| !families.iter().any(|f| f.statuses().contains(c)))
        .collect();
    Ok(Shape {
        comparison,
        value,
        metrics,
        families,
        also_counts,
    })
}

fn strip(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn number(e: &Expr) -> Option<f64> {
    match strip(e) {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Unary(u) => number(&u.expr).map(|v| -v),
        _ => None,
    }
}

/// The compared side and the comparison, looking through `and`/`or`/`unless` (left first).
fn split_comparison(e: &Expr) -> (&Expr, Option<(Comparison, f64)>) {
    let e = strip(e);
    if let Expr::Binary(b) = e {
        let op = b.op.to_string().to_lowercase();
        if let Some(t) = number(&b.rhs)
            && let Some(c) = Comparison::of(&op, false)
        {
            return (&b.lhs, Some((c, t)));
        }
        if let Some(t) = number(&b.lhs)
            && let Some(c) = Comparison::of(&op, true)
        {
            return (&b.rhs, Some((c, t)));
        }
        if matches!(op.as_str(), "and" | "or" | "unless") {
            let (left, found) = split_comparison(&b.lhs);
            if found.is_some() {
                return (left, found);
            }
        }
    }
    (e, None)
}

fn collect(e: &Expr, status_label: &str, metrics: &mut Vec<String>, codes: &mut Option<Vec<u16>>) {
    match strip(e) {
        Expr::VectorSelector(vs) => selector(vs, status_label, metrics, codes),
        Expr::MatrixSelector(ms) => selector(&ms.vs, status_label, metrics, codes),
        Expr::Aggregate(a) => collect(&a.expr, status_label, metrics, codes),
        Expr::Unary(u) => collect(&u.expr, status_label, metrics, codes),
        Expr::Subquery(s) => collect(&s.expr, status_label, metrics, codes),
        Expr::Call(c) => {
            for arg in &c.args.args {
                collect(arg, status_label, metrics, codes);
            }
        }
        Expr::Binary(b) if number(&b.lhs).is_some() => {
            collect(&b.rhs, status_label, metrics, codes)
        }
        Expr::Binary(b) => {
            // A ratio's numerator, a fallback's first arm: the left side says what is counted.
            collect(&b.lhs, status_label, metrics, codes);
            let mut ignored = None;
            collect(&b.rhs, status_label, metrics, &mut ignored);
        }
        _ => {}
    }
}

fn selector(
    vs: &promql_parser::parser::VectorSelector,
    status_label: &str,
    metrics: &mut Vec<String>,
    codes: &mut Option<Vec<u16>>,
) {
    let name = vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__")
            .map(|m| m.value.clone())
    });
    if let Some(name) = name
        && !metrics.contains(&name)
    {
        metrics.push(name);
    }
    let status: Vec<&Matcher> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name == status_label || STATUS_LABELS.contains(&m.name.as_str()))
        .collect();
    if status.is_empty() || codes.is_some() {
        return;
    }
    let selected = PROBE_CODES
        .into_iter()
        .filter(|code| status.iter().all(|m| matches(m, *code)))
        .collect();
    *codes = Some(selected);
}

fn matches(m: &Matcher, code: u16) -> bool {
    let text = code.to_string();
    let anchored = |pattern: &str| {
        regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(&text))
    };
    match &m.op {
        MatchOp::Equal => m.value == text,
        MatchOp::NotEqual => m.value != text,
        MatchOp::Re(_) => anchored(&m.value),
        MatchOp::NotRe(_) => !anchored(&m.value),
    }
}

/// Functions whose value is their (first vector) argument's, unit for unit.
const PASS_THROUGH: [&str; 8] = [
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp_min",
    "clamp_max",
    "label_replace",
    "label_join",
];

fn value_of(e: &Expr) -> Value {
    match strip(e) {
        Expr::Aggregate(a) => match a.op.to_string().to_lowercase().as_str() {
            "sum" | "max" | "min" | "avg" | "topk" | "bottomk" => value_of(&a.expr),
            "count" => Value::Unknown("a count of series, not of responses".into()),
            other => Value::Unknown(format!("the aggregation {other}")),
        },
        Expr::Call(c) => call(c),
        Expr::VectorSelector(_) => Value::Total,
        Expr::Binary(b) => binary(b),
        Expr::NumberLiteral(_) => Value::Unknown("a constant".into()),
        _ => Value::Unknown("an expression of unknown unit".into()),
    }
}

fn call(c: &promql_parser::parser::Call) -> Value {
    let args = &c.args.args;
    let window = || match args.first().map(|a| strip(a)) {
        Some(Expr::MatrixSelector(m)) => Some(m.range.as_secs_f64()),
        _ => None,
    };
    match c.func.name {
        "rate" | "irate" => Value::Rate { factor: 1.0 },
        "increase" => match window() {
            Some(seconds) => Value::Rate { factor: seconds },
            None => Value::Unknown("increase() over a subquery".into()),
        },
        "histogram_quantile" => match args.first().and_then(|q| number(q)) {
            Some(quantile) => Value::Quantile {
                quantile,
                factor: args
                    .get(1)
                    .map(|inner| seconds_factor(inner))
                    .unwrap_or(1.0),
            },
            None => Value::Unknown("histogram_quantile() with a computed quantile".into()),
        },
        name if PASS_THROUGH.contains(&name) => match args.first() {
            Some(arg) => value_of(arg),
            None => Value::Unknown(format!("{name}()")),
        },
        name => Value::Unknown(format!("{name}()")),
    }
}

/// Histograms in milliseconds read in ms already: as seconds × 1000.
fn seconds_factor(inner: &Expr) -> f64 {
    let mut metrics = Vec::new();
    let mut codes = None;
    collect(inner, "", &mut metrics, &mut codes);
    match metrics.first() {
        Some(m) if m.contains("millisecond") || m.contains("_ms_") || m.ends_with("_ms_bucket") => {
            1000.0
        }
        _ => 1.0,
    }
}

fn binary(b: &promql_parser::parser::BinaryExpr) -> Value {
    let op = b.op.to_string().to_lowercase();
    let scale = |v: Value, by: f64| match v {
        Value::Rate { factor } => Value::Rate {
            factor: factor * by,
        },
        Value::Quantile { quantile, factor } => Value::Quantile {
            quantile,
            factor: factor * by,
        },
        other => other,
    };
    match (op.as_str(), number(&b.lhs), number(&b.rhs)) {
        ("*", _, Some(n)) => scale(value_of(&b.lhs), n),
        ("*", Some(n), _) => scale(value_of(&b.rhs), n),
        ("/", _, Some(n)) if n != 0.0 => scale(value_of(&b.lhs), 1.0 / n),
        ("/", None, None) => Value::Ratio,
        ("or" | "and" | "unless", _, _) => value_of(&b.lhs),
        _ => Value::Unknown(format!("a {op} of two expressions")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_minute(expr: &str) -> (Shape, Option<f64>) {
        let s = shape(expr, "status").unwrap();
        let t = s.normalised_threshold();
        (s, t)
    }

    #[test]
    fn rate_windows_and_factors_normalise_to_per_minute() {
        let (s, t) = per_minute(r#"rate(http_requests_total{status=~"5.."}[5m]) * 60 > 10"#);
        assert_eq!(t, Some(10.0));
        assert_eq!(s.families, vec![Family::ServerErrors]);
        assert_eq!(s.comparison, Some((Comparison::Above, 10.0)));
        let (_, t) = per_minute(r#"increase(http_requests_total{status=~"5.."}[1m]) > 10"#);
        assert_eq!(t, Some(10.0));
        // Over 5 minutes, 10 responses are 2 per minute.
        let (_, t) = per_minute(r#"sum(increase(http_requests_total{status=~"5.."}[5m])) > 10"#);
        assert_eq!(t, Some(2.0));
        // Per second, as written without * 60.
        let (_, t) =
            per_minute(r#"sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) > 0.5"#);
        assert_eq!(t, Some(30.0));
        // A number on the left, and a per-minute rate written as 60 * rate.
        let (s, t) = per_minute(r#"10 < 60 * sum(rate(http_requests_total{code="429"}[2m]))"#);
        assert_eq!(s.comparison, Some((Comparison::Above, 10.0)));
        assert_eq!(s.families, vec![Family::RateLimited]);
        assert_eq!(t, Some(10.0));
        // / 60 turns per-minute counts into per-second ones.
        let (_, t) = per_minute(r#"sum(increase(x{status="429"}[1m])) / 60 > 0.1"#);
        assert_eq!(t, Some(6.0));
    }

    #[test]
    fn latency_quantiles_in_seconds_or_milliseconds() {
        let (s, t) = per_minute(
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 5",
        );
        assert_eq!(s.families, vec![Family::Latency]);
        assert_eq!(t, Some(5000.0));
        assert!(matches!(s.value, Value::Quantile { quantile, .. } if quantile == 0.99));
        let (_, t) = per_minute(
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) * 1000 > 5000",
        );
        assert_eq!(t, Some(5000.0));
        let (s, t) = per_minute(
            "histogram_quantile(0.95, sum(rate(request_latency_milliseconds_bucket[5m])) by (le)) > 2000",
        );
        assert_eq!(t, Some(2000.0));
        assert!(matches!(s.value, Value::Quantile { quantile, .. } if quantile == 0.95));
    }

    #[test]
    fn status_matchers_decide_the_family() {
        let s = shape(r#"sum(rate(x{status=~"401|403"}[5m])) > 0"#, "status").unwrap();
        assert_eq!(s.families, vec![Family::AuthFailures]);
        // Only 500 is not every 5xx.
        let s = shape(r#"sum(rate(x{status="500"}[5m])) > 0"#, "status").unwrap();
        assert!(s.families.is_empty());
        // A configured label name.
        let s = shape(r#"sum(rate(x{http_code=~"5.."}[5m])) > 0"#, "http_code").unwrap();
        assert_eq!(s.families, vec![Family::ServerErrors]);
        // Everything but success counts 404 too.
        let s = shape(r#"sum(rate(x{status!~"2..|3.."}[5m])) > 0"#, "status").unwrap();
        assert!(s.families.contains(&Family::ServerErrors));
        assert!(s.also_counts.contains(&404));
        // The canary's own form: the first arm of `or` is what counts.
        let s = shape(
            r#"sum(rate(x{status=~"5.."}[2m])) * 60 or sum(rate(x[2m])) * 0"#,
            "status",
        )
        .unwrap();
        assert_eq!(s.comparison, None);
        assert_eq!(s.families, vec![Family::ServerErrors]);
    }

    #[test]
    fn shares_totals_and_nonsense() {
        let s = shape(
            r#"sum(rate(x{status=~"5.."}[5m])) / sum(rate(x[5m])) > 0.05"#,
            "status",
        )
        .unwrap();
        assert_eq!(s.value, Value::Ratio);
        assert_eq!(s.normalised_threshold(), None);
        assert_eq!(s.families, vec![Family::ServerErrors]);
        let s = shape(r#"sum(x{status=~"401|403"}) > 0"#, "status").unwrap();
        assert_eq!(s.value, Value::Total);
        assert!(shape("sum(rate(x[5m]) > ", "status").is_err());
        let s = shape("up == 0", "status").unwrap();
        assert_eq!(s.comparison, Some((Comparison::Equal, 0.0)));
        assert!(s.families.is_empty());
    }
}
