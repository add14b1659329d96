//! The redaction rules: how a match is replaced, the patterns in precedence order, and the
//! trigger words every rule starts with.

/// How a match is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    /// A Secret's value, named by `literals[i]`.
    SecretLiteral,
    /// `phc_`, `phx_`, `phs_`, `pha_`, `phr_` keys: shown as prefix and last four (`phx_…6543`).
    PostHogKey,
    /// `scheme://user:PASSWORD@`: the password only.
    UrlPassword,
    /// `Authorization: Basic …`, `Bearer …`, `password=…`, `token: "…"`: the value after the prefix.
    Value,
}

/// The rules in precedence order: earlier alternatives win at the same start position.
/// Every rule's value excludes whitespace, so no match crosses a line.
pub(super) const KEY_RULE: &str = r"ph[cxsar]_[A-Za-z0-9]{20,256}";
pub(super) const URL_PASSWORD_RULE: &str =
    r"(?P<upre>://[^\s:/@]{0,256}:)(?P<upw>[^\s/@]{1,1024})@";
pub(super) const VALUE_RULES: &str = concat!(
    r#"(?P<vpre>(?i:"#,
    // Authorization headers first, so "Authorization: Bearer x" keeps "Bearer".
    r#"authorization["']?[ \t]{0,16}[:=][ \t]{0,16}["']?(?:basic|bearer|token)?[ \t]{0,16}"#,
    r#"|bearer[ \t]{1,16}"#,
    // password=, client_secret: "…", access_token=…, SECRET_KEY=…, api_key=…
    r#"|(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]{0,32}["']?[ \t]{0,16}[:=][ \t]{0,16}["']?"#,
    // DB_PASS=…, smtp-pass: …: "pass" as the last word of a name (not "bypass", "passed").
    r#"|[_-]pass(?:phrase)?["']?[ \t]{0,16}[:=][ \t]{0,16}["']?"#,
    // A command-line flag and its value as separate words: --db-password hunter2, --token x.
    r#"|--[a-z0-9_.-]{0,32}(?:pass|passwd|password|passphrase|secret|token|api[_-]?key|credentials?)[ \t]{1,16}"#,
    r#"))(?P<v>[^\s"'&,;<>{}\[\]]+)"#
);
/// The words every rule starts with, lowercase (values of Secrets are added per redactor).
/// `passw` covers password and passwd, `_pass`/`-pass` a name ending in pass, `--` a flag; the key
/// rule is case-sensitive, so only `phc_` etc.
pub(super) const TRIGGERS: [&str; 21] = [
    "phc_",
    "phx_",
    "phs_",
    "pha_",
    "phr_",
    "://",
    "authorization",
    "bearer",
    "passw",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "privatekey",
    "private_key",
    "private-key",
    "credential",
    "_pass",
    "-pass",
    "--",
];

/// A value this short after `bearer ` is prose ("a bearer token"), not a token.
pub(super) const MIN_BEARER_VALUE: usize = 8;

/// The longest stretch of text any bounded rule needs to decide a match (URL passwords are the
/// longest: `://`, 256, `:`, 1024, `@`), plus the prefixes of the unbounded value rules.
pub(super) const RULE_MARGIN: usize = 1300;
