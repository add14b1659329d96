//! Redaction inside structured objects and the documents embedded in them: a Kubernetes object
//! (or anything serialised to JSON) is walked, and every place a credential can sit is blanked
//! before it is printed or written — literal values of credential-named env vars (containers and
//! initContainers alike), the value after a credential flag in `command`/`args`, values of
//! credential-named keys in data maps (`DB_PASS: …` in a ConfigMap), and every string through the
//! [`Redactor`]. A string that is itself a JSON document (kubectl's
//! `last-applied-configuration`, a ConfigMap holding JSON) is parsed and walked the same way, so
//! an escaped copy of a spec holds nothing its top level does not.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{REDACTED, Redactor};

/// Names (env vars, data keys, flags) whose values are credentials by convention: password and
/// its spellings, a name ending in `pass` (`DB_PASS`), secrets, tokens, API and private keys,
/// credentials, DSNs.
static SENSITIVE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)passw|passphrase|(?:^|[_.-])pass(?:$|[_.-])|secret|token|api_?key|private_?key|credential|dsn",
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
});

/// How deep embedded documents are followed (JSON in a string in JSON …); deeper ones are
/// replaced whole rather than walked.
const MAX_EMBEDDING: usize = 4;

/// An env var, data key or flag name whose value is a credential by convention.
pub fn is_sensitive_name(name: &str) -> bool {
    SENSITIVE_NAME.is_match(name)
}

/// Redacts `value` in place; returns how many values were replaced.
pub fn redact_document(value: &mut Value, redactor: &Redactor) -> usize {
    walk(value, redactor, 0)
}

/// A serialisable object, redacted ([`redact_document`]): the JSON value and the count.
pub fn redacted_value<T: serde::Serialize>(object: &T, redactor: &Redactor) -> (Value, usize) {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    let count = redact_document(&mut value, redactor);
    (value, count)
}

fn walk(value: &mut Value, redactor: &Redactor, depth: usize) -> usize {
    match value {
        Value::Object(map) => {
            let mut count = 0;
            // An env entry: {"name": "DB_PASSWORD", "value": "…"}.
            let env_name = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(is_sensitive_name);
            if env_name {
                count += blank(map.get_mut("value"));
            } else if is_webhook_entry(map) {
                count += mask_webhook(map.get_mut("value"));
            }
            for key in ["command", "args"] {
                if let Some(Value::Array(words)) = map.get_mut(key) {
                    count += blank_flag_values(words);
                }
            }
            for (key, member) in map.iter_mut() {
                if is_data_key(key) && is_sensitive_name(key) && member.is_string() {
                    count += blank(Some(member));
                } else {
                    count += walk(member, redactor, depth);
                }
            }
            count
        }
        Value::Array(items) => items.iter_mut().map(|v| walk(v, redactor, depth)).sum(),
        Value::String(text) => redact_string(text, redactor, depth),
        _ => 0,
    }
}

/// A string: an embedded JSON document is walked; any other text goes through the redactor.
fn redact_string(text: &mut String, redactor: &Redactor, depth: usize) -> usize {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(mut inner) = serde_json::from_str::<Value>(text)
    {
        if depth >= MAX_EMBEDDING {
            *text = REDACTED.to_string();
            return 1;
        }
        let count = walk(&mut inner, redactor, depth + 1);
        if count > 0 {
            *text = serde_json::to_string(&inner).unwrap_or_else(|_| REDACTED.to_string());
        }
        return count;
    }
    let (redacted, count) = redactor.redact_str(text);
    if count > 0 {
        *text = redacted.into_owned();
    }
    count
}

/// `{"name": "POSTHOG_WEBHOOK_URL", "value": "https://…"}`: a webhook URL is a credential (a
/// Slack webhook's secret is its path).
fn is_webhook_entry(map: &serde_json::Map<String, Value>) -> bool {
    map.get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.to_ascii_uppercase().contains("WEBHOOK"))
}

fn mask_webhook(value: Option<&mut Value>) -> usize {
    match value {
        Some(Value::String(v)) if v.contains("://") => {
            let masked = super::mask_url(v);
            if masked == *v {
                return 0;
            }
            *v = masked;
            1
        }
        _ => 0,
    }
}

fn blank(value: Option<&mut Value>) -> usize {
    match value {
        Some(Value::String(v)) if !v.is_empty() && v != REDACTED => {
            *v = REDACTED.to_string();
            1
        }
        _ => 0,
    }
}

/// `["--db-password", "hunter2"]`: the word after a credential flag that has no `=value`.
fn blank_flag_values(words: &mut [Value]) -> usize {
    let mut count = 0;
    for i in 1..words.len() {
        let flag = words[i - 1]
            .as_str()
            .is_some_and(|w| w.starts_with('-') && !w.contains('=') && is_sensitive_name(w));
        let value_word = words[i].as_str().is_some_and(|w| !w.starts_with('-'));
        if flag && value_word {
            count += blank(Some(&mut words[i]));
        }
    }
    count
}

/// A key whose string value is data, not a reference: `DB_PASS`, `db.password`, `password`,
/// `apiKey` — but not a Kubernetes field naming where a credential lives (`secretName`,
/// `tokenPath`, `passwordFile`, `secretRef`).
fn is_data_key(key: &str) -> bool {
    const REFERENCES: [&str; 6] = ["Name", "Ref", "Path", "File", "Namespace", "Names"];
    !REFERENCES.iter().any(|suffix| key.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Issue 14 item 1: the spec was blanked but the last-applied-configuration annotation kept
    /// `{"name":"API_TOKEN","value":"…"}`, a JSON-escaped CLIENT_SECRET and an initContainer's
    /// INIT_TOKEN.
    #[test]
    fn credentials_inside_an_embedded_last_applied_configuration_are_blanked() {
        let applied = json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "env": [{"name": "INIT_TOKEN", "value": "init-tok-123456"}]}],
            "containers": [{"name": "app", "env": [
                {"name": "API_TOKEN", "value": "LtmQ-api-token-value"},
                {"name": "CLIENT_SECRET", "value": "cl\"ient-secret-value"},
                {"name": "DB_PASS", "value": "db-pass-value-1"},
                {"name": "LOG_LEVEL", "value": "info"}
            ], "args": ["--db-password", "flag-pass-value", "--port", "80"]}]
        }}}});
        let mut deployment = json!({
            "metadata": {"annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": applied.to_string()
            }},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
                {"name": "API_TOKEN", "value": "LtmQ-api-token-value"}
            ]}]}}}
        });
        let n = redact_document(&mut deployment, &Redactor::patterns_only());
        let text = deployment.to_string();
        for planted in [
            "init-tok-123456",
            "LtmQ-api-token-value",
            "ient-secret-value",
            "db-pass-value-1",
            "flag-pass-value",
        ] {
            assert!(!text.contains(planted), "{planted} in {text}");
        }
        assert_eq!(n, 6, "{text}");
        assert!(text.contains("info") && text.contains("--port"), "{text}");
    }

    #[test]
    fn configmap_data_keys_and_embedded_env_files_are_redacted_but_names_stay() {
        let mut config_map = json!({
            "data": {"DB_PASS": "cm-pass-value", "settings.json": "{\"password\":\"json-pw\"}",
                     "app.env": "SMTP_PASSWORD=env-file-pw\nMODE=fast\n"},
            "spec": {"volumes": [{"name": "tls", "secret": {"secretName": "app-tls"}}],
                     "automountServiceAccountToken": true}
        });
        redact_document(&mut config_map, &Redactor::patterns_only());
        let text = config_map.to_string();
        for planted in ["cm-pass-value", "json-pw", "env-file-pw"] {
            assert!(!text.contains(planted), "{planted} in {text}");
        }
        assert!(
            text.contains("app-tls") && text.contains("MODE=fast"),
            "{text}"
        );
    }
}
