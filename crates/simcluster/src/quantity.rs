//! Kubernetes resource quantities (`100m`, `0.5`, `128Mi`, `2k`, `1e3`) as milli-units, the
//! way `resource.Quantity.MilliValue()` reads them (rounded up), and the canonical DecimalSI
//! text `resource.NewMilliQuantity(v, DecimalSI).String()` writes, which is what the HPA
//! controller puts in `status.currentMetrics` and kubectl prints.

/// Decimal suffixes by power of ten.
const DECIMAL: &[(&str, i32)] = &[
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];
/// Binary suffixes by power of two.
const BINARY: &[(&str, u32)] = &[
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];

/// The quantity in thousandths of its unit, rounded up like `MilliValue`; `None` when it
/// does not parse.
pub(crate) fn parse_milli(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite())?;
    let scaled = if let Some((_, p)) = BINARY.iter().find(|(b, _)| *b == suffix) {
        value * 2f64.powi(*p as i32) * 1000.0
    } else if let Some((_, e)) = DECIMAL.iter().find(|(d, _)| *d == suffix) {
        value * 10f64.powi(*e + 3)
    } else if let Some(exp) = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))
    {
        value * 10f64.powi(exp.parse::<i32>().ok()?.saturating_add(3))
    } else {
        return None;
    };
    // A tiny epsilon keeps values like 0.1 (0.1 * 1000 = 100.00000000000001) from rounding up.
    let milli = (scaled - 1e-6).ceil();
    if milli >= i64::MAX as f64 {
        Some(i64::MAX)
    } else if milli <= i64::MIN as f64 {
        Some(i64::MIN)
    } else {
        Some(milli as i64)
    }
}

/// `resource.NewMilliQuantity(milli, resource.DecimalSI).String()`: `250m`, `1`, `1500m`,
/// `2k`, `67108864`.
pub(crate) fn format_milli(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let m = milli.unsigned_abs();
    if !m.is_multiple_of(1000) {
        return format!("{sign}{m}m");
    }
    let mut n = m / 1000;
    if n == 0 {
        return "0".into();
    }
    let mut exp = 0;
    while n.is_multiple_of(1000) && exp < 18 {
        n /= 1000;
        exp += 3;
    }
    let suffix = DECIMAL
        .iter()
        .find(|(_, e)| *e == exp)
        .map_or("", |(s, _)| s);
    format!("{sign}{n}{suffix}")
}

/// The text the apiserver stores for a quantity a client wrote: decimal quantities are
/// canonicalised (`0.5` → `500m`, `1000m` → `1`); binary ones (`128Mi`) are kept as written,
/// which is what the apiserver does for whole binary amounts.
pub(crate) fn canonical(s: &str) -> Option<String> {
    let t = s.trim();
    if BINARY.iter().any(|(b, _)| t.ends_with(b)) {
        parse_milli(t)?;
        return Some(t.to_string());
    }
    parse_milli(t).map(format_milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_milli_value() {
        assert_eq!(parse_milli("100m"), Some(100));
        assert_eq!(parse_milli("0.5"), Some(500));
        assert_eq!(parse_milli("1"), Some(1000));
        assert_eq!(parse_milli("0.1"), Some(100));
        assert_eq!(parse_milli("2k"), Some(2_000_000));
        assert_eq!(parse_milli("128Mi"), Some(134_217_728_000));
        assert_eq!(parse_milli("1e3"), Some(1_000_000));
        assert_eq!(parse_milli("1.0001m"), Some(2), "rounded up");
        assert_eq!(parse_milli("10n"), Some(1), "rounded up");
        assert_eq!(parse_milli(""), None);
        assert_eq!(parse_milli("abc"), None);
        assert_eq!(parse_milli("5x"), None);
        assert_eq!(
            parse_milli("1e2147483647"),
            Some(i64::MAX),
            "saturates, no overflow"
        );
    }

    #[test]
    fn formats_decimal_si() {
        assert_eq!(format_milli(250), "250m");
        assert_eq!(format_milli(1000), "1");
        assert_eq!(format_milli(1500), "1500m");
        assert_eq!(format_milli(2_000_000), "2k");
        assert_eq!(format_milli(67_108_864_000), "67108864");
        assert_eq!(format_milli(0), "0");
        assert_eq!(format_milli(-500), "-500m");
    }

    #[test]
    fn canonicalises_what_clients_write() {
        assert_eq!(canonical("0.5").as_deref(), Some("500m"));
        assert_eq!(canonical("1000m").as_deref(), Some("1"));
        assert_eq!(canonical("128Mi").as_deref(), Some("128Mi"));
        assert_eq!(canonical("50").as_deref(), Some("50"));
        assert_eq!(canonical("bogus"), None);
    }
}
