//! PostHog key shapes: which kind a value is, how to show it without revealing it, and where keys
//! hide in text (the credential scan and the evidence redaction both use [`find_keys`]).
//!
//! Prefixes come from PostHog's `posthog/models/utils.py`; bodies are base62, 32 or 35 random bytes,
//! so 40-48 characters in practice. We accept 20-64 so test keys and older keys are found too.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What a PostHog credential is, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// `phc_`: project API key for ingestion and `/flags`; public, but still belongs in a Secret.
    Project,
    /// `phx_`: personal API key; full account access unless scoped.
    Personal,
    /// `phs_`: project secret key for local feature-flag evaluation.
    ProjectSecret,
    /// `pha_`: OAuth access token.
    OAuthAccess,
    /// `phr_`: OAuth refresh token.
    OAuthRefresh,
    /// A bare token with no prefix: old setups wrote project keys this way.
    Unprefixed,
    /// Empty, or not shaped like a PostHog key at all.
    Unknown,
}

impl KeyKind {
    pub fn prefix(self) -> Option<&'static str> {
        match self {
            KeyKind::Project => Some("phc_"),
            KeyKind::Personal => Some("phx_"),
            KeyKind::ProjectSecret => Some("phs_"),
            KeyKind::OAuthAccess => Some("pha_"),
            KeyKind::OAuthRefresh => Some("phr_"),
            KeyKind::Unprefixed | KeyKind::Unknown => None,
        }
    }

    /// Whether leaking the value gives access beyond sending events.
    pub fn is_secret(self) -> bool {
        !matches!(self, KeyKind::Project | KeyKind::Unknown)
    }

    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::Project => "project API key (phc_)",
            KeyKind::Personal => "personal API key (phx_)",
            KeyKind::ProjectSecret => "project secret key (phs_)",
            KeyKind::OAuthAccess => "OAuth access token (pha_)",
            KeyKind::OAuthRefresh => "OAuth refresh token (phr_)",
            KeyKind::Unprefixed => "token without a prefix (an old-style project key?)",
            KeyKind::Unknown => "value that is not shaped like a PostHog key",
        }
    }
}

const PREFIXED: [KeyKind; 5] = [
    KeyKind::Project,
    KeyKind::Personal,
    KeyKind::ProjectSecret,
    KeyKind::OAuthAccess,
    KeyKind::OAuthRefresh,
];

/// Classifies a value by its prefix. Surrounding whitespace (a trailing newline in a Secret made
/// with `echo`) is ignored.
pub fn classify(value: &str) -> KeyKind {
    let value = value.trim();
    for kind in PREFIXED {
        if let Some(body) = kind.prefix().and_then(|p| value.strip_prefix(p)) {
            return if is_token_body(body) {
                kind
            } else {
                KeyKind::Unknown
            };
        }
    }
    if value.len() >= 20 && is_token_body(value) {
        KeyKind::Unprefixed
    } else {
        KeyKind::Unknown
    }
}

fn is_token_body(body: &str) -> bool {
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Shows a key as its prefix and last four characters only, e.g. `phx_…3f9a`.
/// Values too short to hide anything show no characters at all.
pub fn mask(value: &str) -> String {
    let value = value.trim();
    let prefix = PREFIXED
        .iter()
        .filter_map(|k| k.prefix())
        .find(|p| value.starts_with(p))
        .unwrap_or("");
    let body = &value[prefix.len()..];
    let chars: Vec<char> = body.chars().collect();
    if chars.len() < 12 {
        return format!("{prefix}…");
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}…{tail}")
}

/// One PostHog key found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    pub kind: KeyKind,
    /// Byte range of the key in the text.
    pub start: usize,
    pub end: usize,
    /// 1-based line and column (in characters) of the key's first character.
    pub line: u32,
    pub column: u32,
    pub masked: String,
}

static KEY_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    // The body bound and the boundary test below keep `phc_` inside longer identifiers out.
    Regex::new(r"ph[cxsar]_[A-Za-z0-9]{20,64}").unwrap_or_else(|e| unreachable!("{e}"))
});

/// The pattern behind [`find_keys`]; boundaries are checked in code (the regex crate has no lookaround).
pub fn key_pattern() -> &'static Regex {
    &KEY_PATTERN
}

/// Every prefixed PostHog key in `text`, in order, with line numbers and a masked form.
pub fn find_keys(text: &str) -> Vec<KeyMatch> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut line = 1u32;
    let mut line_start = 0usize;
    let mut counted_to = 0usize;
    for m in KEY_PATTERN.find_iter(text) {
        let before_ok = m.start() == 0 || !bytes[m.start() - 1].is_ascii_alphanumeric();
        let after_ok = m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphanumeric();
        if !(before_ok && after_ok) {
            continue;
        }
        for (i, b) in bytes[counted_to..m.start()].iter().enumerate() {
            if *b == b'\n' {
                line += 1;
                line_start = counted_to + i + 1;
            }
        }
        counted_to = m.start();
        let column = text[line_start..m.start()].chars().count() as u32 + 1;
        found.push(KeyMatch {
            kind: classify(m.as_str()),
            start: m.start(),
            end: m.end(),
            line,
            column,
            masked: mask(m.as_str()),
        });
    }
    found
}

/// `text` with every key replaced by its masked form.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in find_keys(text) {
        out.push_str(&text[last..m.start]);
        out.push_str(&m.masked);
        last = m.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = "phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u";
    const PERSONAL: &str = "phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543";

    #[test]
    fn classifies_every_documented_prefix() {
        assert_eq!(classify(PROJECT), KeyKind::Project);
        assert_eq!(classify(PERSONAL), KeyKind::Personal);
        assert_eq!(
            classify(&PROJECT.replace("phc_", "phs_")),
            KeyKind::ProjectSecret
        );
        assert_eq!(
            classify(&PROJECT.replace("phc_", "pha_")),
            KeyKind::OAuthAccess
        );
        assert_eq!(
            classify(&PROJECT.replace("phc_", "phr_")),
            KeyKind::OAuthRefresh
        );
        assert_eq!(classify(&format!("{PROJECT}\n")), KeyKind::Project);
    }

    #[test]
    fn unprefixed_project_keys_are_not_rejected() {
        assert_eq!(classify(&PROJECT[4..]), KeyKind::Unprefixed);
        assert_eq!(classify(""), KeyKind::Unknown);
        assert_eq!(classify("changeme"), KeyKind::Unknown);
        assert_eq!(classify("phc_has-dashes-and-more-text"), KeyKind::Unknown);
    }

    #[test]
    fn secrecy_by_kind() {
        assert!(!KeyKind::Project.is_secret());
        assert!(KeyKind::Personal.is_secret());
        assert!(KeyKind::ProjectSecret.is_secret());
        assert!(KeyKind::OAuthRefresh.is_secret());
    }

    #[test]
    fn mask_shows_prefix_and_last_four_only() {
        assert_eq!(mask(PROJECT), "phc_…9T0u");
        assert_eq!(mask(PERSONAL), "phx_…6543");
        assert_eq!(mask(&PROJECT[4..]), "…9T0u");
        assert_eq!(mask("phx_short"), "phx_…");
        assert_eq!(mask("secret"), "…");
        assert!(!mask(PERSONAL).contains(&PERSONAL[4..20]));
    }

    #[test]
    fn finds_keys_with_lines_and_columns() {
        let text = format!(
            "# config\nPOSTHOG_API_KEY={PROJECT}\n  key: \"{PERSONAL}\", other: KEY_{PROJECT}\n"
        );
        let found = find_keys(&text);
        let summary: Vec<(KeyKind, u32, u32)> =
            found.iter().map(|m| (m.kind, m.line, m.column)).collect();
        assert_eq!(
            summary,
            [
                (KeyKind::Project, 2, 17),
                (KeyKind::Personal, 3, 9),
                (KeyKind::Project, 3, 70),
            ]
        );
        assert_eq!(&text[found[1].start..found[1].end], PERSONAL);
    }

    #[test]
    fn ignores_identifiers_that_merely_contain_the_prefix() {
        assert!(find_keys("fn graphc_abcdefghijklmnopqrstuvwxyz() {}").is_empty());
        assert!(find_keys("phc_tooshort").is_empty());
        let too_long = format!("phc_{}", "a".repeat(80));
        assert!(find_keys(&too_long).is_empty());
    }

    #[test]
    fn adjacent_keys_are_all_found() {
        let text = format!("{PROJECT},{PERSONAL}");
        assert_eq!(find_keys(&text).len(), 2);
    }

    #[test]
    fn redact_replaces_every_key() {
        let text = format!("a={PROJECT} b={PERSONAL}");
        let redacted = redact(&text);
        assert_eq!(redacted, "a=phc_…9T0u b=phx_…6543");
        assert!(!redacted.contains(&PERSONAL[4..]));
    }
}
