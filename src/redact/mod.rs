//! Redaction of everything that goes into an evidence bundle: PostHog keys of every shape, bearer
//! and basic credentials, `password=`/`secret=`/`token=` values, passwords in URLs, and the actual
//! values of the Secrets the Deployment references.
//!
//! Every rule starts with a trigger word (`phx_`, `://`, `password`, a Secret's value, …). The
//! search works as grep does: a case-sensitive literal search for the lowercase triggers over an
//! ASCII-lowercased copy (about 4x faster than a case-insensitive regex over the text), then the
//! exact combined regex, anchored, only where a trigger starts; the rule that matched is then
//! identified on the matched slice alone. That finds exactly what the combined regex's own
//! left-to-right search finds (a test holds it to that). No rule looks behind its match or across
//! a newline, which is what lets [`crate::evidence::redact_stream`] redact a stream window by window with
//! output identical to redacting the whole text at once.

pub mod document;
mod forms;
mod rules;
pub mod url_mask;

use std::borrow::Cow;

use regex::bytes::{Captures, Regex};

pub use document::{is_sensitive_name, redact_document, redacted_value};
use rules::{
    KEY_RULE, MIN_BEARER_VALUE, RULE_MARGIN, Rule, TRIGGERS, URL_PASSWORD_RULE, VALUE_RULES,
};
pub use url_mask::mask_url;

/// Secret values shorter than this are not redacted by value: a Secret holding `true` or `eu`
/// would otherwise blank out every occurrence of that word. Listed in the manifest instead.
pub const MIN_SECRET_LEN: usize = 6;

/// Replacement for a credential whose shape we know but whose owner we do not.
pub const REDACTED: &str = "[REDACTED]";

/// The value of one key of a Secret the Deployment references.
#[derive(Clone)]
pub struct SecretValue {
    pub secret: String,
    pub key: String,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the value, not even in a test failure.
        write!(
            f,
            "SecretValue({}/{}, {} bytes)",
            self.secret,
            self.key,
            self.value.len()
        )
    }
}

/// Finds and replaces credentials in text; built once per bundle from the Secrets' values.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// `^(?:every rule)`, tried where a trigger starts.
    anchored: Regex,
    /// The lowercase trigger words, searched in a lowercased copy of the text.
    triggers: Regex,
    /// The unanchored combined pattern, for the equivalence test.
    #[cfg_attr(not(test), expect(dead_code))]
    combined: String,
    key: Regex,
    url_password: Regex,
    value: Regex,
    /// Longest first, as in the combined regex.
    literals: Vec<(Vec<u8>, String)>,
    margin: usize,
    /// Replacements of Secret values so far, by `secret/key` (shared by clones: one bundle's
    /// redactor counts for all its writers).
    secret_hits: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
}

/// Secret keys that were too short to redact by value (names only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactorNotes {
    pub too_short: Vec<String>,
}

impl Redactor {
    /// A redactor for the fixed patterns only (no Secret values known).
    pub fn patterns_only() -> Self {
        Self::new(&[]).0
    }

    /// Builds the redactor: every line of every Secret value is redacted literally, in each form
    /// it takes when written into something else ([`forms::value_forms`]).
    pub fn new(secrets: &[SecretValue]) -> (Self, RedactorNotes) {
        let mut notes = RedactorNotes::default();
        let mut literals: Vec<(Vec<u8>, String)> = Vec::new();
        for secret in secrets {
            if secret.value.trim_ascii().len() < MIN_SECRET_LEN {
                if !secret.value.trim_ascii().is_empty() {
                    notes
                        .too_short
                        .push(format!("{}/{}", secret.secret, secret.key));
                }
                continue;
            }
            let label = format!("[REDACTED:secret/{}/{}]", secret.secret, secret.key);
            for form in forms::value_forms(&secret.value) {
                if form.len() >= MIN_SECRET_LEN && !literals.iter().any(|(l, _)| *l == form) {
                    literals.push((form, label.clone()));
                }
            }
        }
        literals.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let longest = literals.first().map_or(0, |(l, _)| l.len());
        let literal_alt: Vec<String> = literals.iter().map(|(l, _)| escape_bytes(l)).collect();
        let mut alternatives = Vec::new();
        if !literal_alt.is_empty() {
            alternatives.push(format!("(?:{})", literal_alt.join("|")));
        }
        alternatives.push(KEY_RULE.to_string());
        alternatives.push(URL_PASSWORD_RULE.to_string());
        alternatives.push(VALUE_RULES.to_string());
        let combined = format!("(?-u){}", alternatives.join("|"));
        let mut triggers: Vec<Vec<u8>> = TRIGGERS.iter().map(|t| t.as_bytes().to_vec()).collect();
        triggers.extend(literals.iter().map(|(l, _)| l.to_ascii_lowercase()));
        let trigger_alt: Vec<String> = triggers.iter().map(|t| escape_bytes(t)).collect();
        let redactor = Redactor {
            anchored: compile(&format!("(?-u)^(?:{})", alternatives.join("|"))),
            triggers: compile(&format!("(?-u){}", trigger_alt.join("|"))),
            combined,
            key: compile(&format!("(?-u)^{KEY_RULE}")),
            url_password: compile(&format!("(?-u)^{URL_PASSWORD_RULE}")),
            value: compile(&format!("(?-u)^{VALUE_RULES}")),
            literals,
            margin: longest.max(RULE_MARGIN),
            secret_hits: Default::default(),
        };
        (redactor, notes)
    }

    /// How many Secret values were replaced so far, by `secret/key` (names only): what a
    /// bundle's manifest counts as redactions, apart from credential-shaped strings.
    pub fn secret_value_counts(&self) -> std::collections::BTreeMap<String, usize> {
        self.secret_hits
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// How many bytes of look-ahead a decision can need; [`crate::evidence::redact_stream`] keeps this much
    /// of an unfinished line back.
    pub fn margin(&self) -> usize {
        self.margin
    }

    /// Redacts a whole text (YAML, JSON, a complete log): the redacted text and the number of
    /// credentials replaced.
    pub fn redact_str<'a>(&self, text: &'a str) -> (Cow<'a, str>, usize) {
        let mut out = Vec::new();
        let count = self.redact_into(text.as_bytes(), &mut out);
        if count == 0 {
            return (Cow::Borrowed(text), 0);
        }
        // Replacements are ASCII and cut only at rule boundaries, which are ASCII or whole
        // literals, so valid UTF-8 stays valid; lossy conversion is only a safety net.
        (
            Cow::Owned(String::from_utf8_lossy(&out).into_owned()),
            count,
        )
    }

    /// Appends the redacted form of `text` to `out`; returns the number of replacements.
    pub fn redact_into(&self, text: &[u8], out: &mut Vec<u8>) -> usize {
        let mut count = 0;
        let mut last = 0;
        for (start, end) in self.matches(text) {
            let Some(replacement) = self.replacement(&text[start..end]) else {
                continue;
            };
            out.extend_from_slice(&text[last..start]);
            out.extend_from_slice(&replacement);
            last = end;
            count += 1;
        }
        out.extend_from_slice(&text[last..]);
        count
    }

    /// Matches of the combined rule in `text`, with whether each one is an open-ended value (one
    /// that would continue if the text did).
    pub(crate) fn candidates<'t>(&'t self, text: &'t [u8]) -> impl Iterator<Item = Candidate> + 't {
        self.matches(text).map(|(start, end)| Candidate {
            start,
            end,
            open_value_at: self.value_start(&text[start..end]).map(|v| start + v),
        })
    }

    /// The combined regex's successive leftmost-first matches, found trigger by trigger.
    fn matches<'t>(&'t self, text: &'t [u8]) -> impl Iterator<Item = (usize, usize)> + 't {
        let lower = text.to_ascii_lowercase();
        let mut pos = 0;
        std::iter::from_fn(move || {
            while pos < text.len() {
                let start = self.triggers.find_at(&lower, pos)?.start();
                // Every rule is non-empty, so a match always moves forward.
                if let Some(m) = self.anchored.find(&text[start..]) {
                    pos = start + m.end();
                    return Some((start, pos));
                }
                // No rule matches here; a trigger may still start inside this one.
                pos = start + 1;
            }
            None
        })
    }

    /// The replacement for a matched slice, or `None` when it turns out not to be a credential
    /// (a short word after "bearer").
    pub(crate) fn replacement(&self, matched: &[u8]) -> Option<Vec<u8>> {
        match self.rule_of(matched) {
            (Rule::SecretLiteral, _) => {
                let label = self
                    .literals
                    .iter()
                    .find(|(l, _)| l.as_slice() == matched)
                    .map_or("[REDACTED:secret]", |(_, label)| label.as_str());
                let source = label
                    .trim_start_matches("[REDACTED:secret/")
                    .trim_end_matches(']');
                if let Ok(mut hits) = self.secret_hits.lock() {
                    *hits.entry(source.to_string()).or_default() += 1;
                }
                Some(label.as_bytes().to_vec())
            }
            (Rule::PostHogKey, _) => Some(mask_key(matched)),
            (Rule::UrlPassword, Some(caps)) => {
                let prefix = caps.name("upre").map_or(&b""[..], |m| m.as_bytes());
                let mut out = prefix.to_vec();
                out.extend_from_slice(REDACTED.as_bytes());
                out.push(b'@');
                Some(out)
            }
            (Rule::Value, Some(caps)) => {
                let prefix = caps.name("vpre").map_or(&b""[..], |m| m.as_bytes());
                let value = caps.name("v").map_or(&b""[..], |m| m.as_bytes());
                if is_bearer_prose(prefix, value) || is_bare_scheme(value) {
                    return None;
                }
                let mut out = prefix.to_vec();
                out.extend_from_slice(REDACTED.as_bytes());
                Some(out)
            }
            (_, None) => Some(REDACTED.as_bytes().to_vec()),
        }
    }

    /// Where the open-ended value of a value-rule match starts, relative to the match.
    fn value_start(&self, matched: &[u8]) -> Option<usize> {
        match self.rule_of(matched) {
            (Rule::Value, Some(caps)) => caps.name("v").map(|v| v.start()),
            _ => None,
        }
    }

    fn rule_of<'m>(&self, matched: &'m [u8]) -> (Rule, Option<Captures<'m>>) {
        // The first rule that matches at the start is the alternative the combined regex took.
        if self.literals.iter().any(|(l, _)| l.as_slice() == matched) {
            return (Rule::SecretLiteral, None);
        }
        if self
            .key
            .find(matched)
            .is_some_and(|m| m.end() == matched.len())
        {
            return (Rule::PostHogKey, None);
        }
        if let Some(caps) = self.url_password.captures(matched) {
            return (Rule::UrlPassword, Some(caps));
        }
        if let Some(caps) = self.value.captures(matched) {
            return (Rule::Value, Some(caps));
        }
        (Rule::Value, None)
    }
}

/// One candidate match, positions relative to the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub start: usize,
    pub end: usize,
    /// For value rules: where the value starts (it runs to the first delimiter).
    pub open_value_at: Option<usize>,
}

/// Bytes that may continue an open-ended value: the complement of the value rule's class
/// `[^\s"'&,;<>{}\[\]]` (`\s` in ASCII mode includes vertical tab, unlike `is_ascii_whitespace`).
pub(crate) fn continues_value(byte: u8) -> bool {
    !matches!(
        byte,
        b' ' | b'\t'
            | b'\n'
            | 0x0B
            | 0x0C
            | b'\r'
            | b'"'
            | b'\''
            | b'&'
            | b','
            | b';'
            | b'<'
            | b'>'
            | b'{'
            | b'}'
            | b'['
            | b']'
    )
}

/// `bearer` followed by a short plain word is prose, not a header.
fn is_bearer_prose(prefix: &[u8], value: &[u8]) -> bool {
    let lower = prefix.to_ascii_lowercase();
    lower.starts_with(b"bearer") && value.len() < MIN_BEARER_VALUE
}

/// `Authorization: Bearer` with the credential already gone (or never there): the regex took the
/// scheme word itself as the value; leave it, so redacting twice changes nothing.
fn is_bare_scheme(value: &[u8]) -> bool {
    [&b"basic"[..], b"bearer", b"token"]
        .iter()
        .any(|scheme| value.eq_ignore_ascii_case(scheme))
}

/// `phx_…6543`: the prefix and the last four characters, as PostHog's own `mask_value` shows keys.
/// The key rule guarantees at least 20 ASCII alphanumerics after the four-byte prefix.
fn mask_key(key: &[u8]) -> Vec<u8> {
    let mut out = key[..4].to_vec();
    out.extend_from_slice("…".as_bytes());
    out.extend_from_slice(&key[key.len() - 4..]);
    out
}

/// A byte-regex literal for arbitrary bytes (Secret values need not be UTF-8).
fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!(r"\x{b:02x}"));
        }
    }
    out
}

fn compile(pattern: &str) -> Regex {
    // The patterns are constants plus escaped literals: a failure is a bug caught by every test.
    match regex::bytes::RegexBuilder::new(pattern)
        .size_limit(64 << 20)
        .build()
    {
        Ok(regex) => regex,
        Err(e) => unreachable!("redaction pattern does not compile: {e}"),
    }
}

#[cfg(test)]
mod tests;
