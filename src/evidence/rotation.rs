//! The runbook's key rotation for 401/403 as the exact commands for this Deployment: verify the
//! key (its prefix only), check whether it was rotated, update the Secret without dropping its
//! other keys, restart. Never applied by `--apply`: only a person can get the new key.

use super::facts::KeySource;
use super::signals::Action;

/// 401/403: verify the key, check whether it was rotated, update the Secret, restart.
pub fn key_rotation(name: &str, ns: &str, key: &KeySource) -> Vec<Action> {
    let (Some(secret), Some(data_key)) = (&key.secret, &key.key) else {
        let title = if key.literal {
            "The PostHog key is a literal in the manifest: move it to a Secret, then rotate it there"
        } else {
            "No Secret holding the PostHog key was found in the pod template: check POSTHOG_API_KEY"
        };
        return vec![
            Action::run(
                "find-key",
                title,
                format!(
                    "kubectl set env deployment/{} -n {} --list | grep -i posthog",
                    name, ns
                ),
            ),
            restart(name, ns),
        ];
    };
    let jsonpath_key = data_key.replace('.', "\\.");
    let mut verify = Action::run(
        "verify-key",
        format!(
            "Verify the API key is set (secret {secret}, key {data_key}); prints its prefix only"
        ),
        format!(
            "kubectl get secret {secret} -n {} -o jsonpath='{{.data.{jsonpath_key}}}' | base64 -d | cut -c1-4; echo",
            ns
        ),
    );
    if let Some(masked) = &key.masked {
        verify = verify.note(format!(
            "holds {masked} ({})",
            key.kind.as_deref().unwrap_or("unknown kind")
        ));
    }
    let mut compare = Action::manual(
        "check-rotation",
        format!(
            "Check if the key was rotated: compare {} with the key in PostHog (Project settings)",
            key.masked.as_deref().unwrap_or("the Secret's value")
        ),
    );
    if key.kind.as_deref() == Some("personal") {
        compare = compare.note("the Secret holds a personal key (phx_): ingestion rejects it; use the project key (phc_)");
    }
    let update = if key.other_keys.is_empty() {
        Action::run(
            "update-secret",
            "Update the Secret with the new key (typed at the prompt, kept out of shell history)",
            format!(
                "read -rsp 'new PostHog key: ' POSTHOG_NEW_KEY && kubectl create secret generic {secret} -n {} --from-literal={data_key}=\"$POSTHOG_NEW_KEY\" --dry-run=client -o yaml | kubectl apply -f -",
                ns
            ),
        )
    } else {
        Action::run(
            "update-secret",
            "Update the Secret's key in place (typed at the prompt, kept out of shell history)",
            format!(
                "read -rsp 'new PostHog key: ' POSTHOG_NEW_KEY && kubectl patch secret {secret} -n {} --type merge -p \"{{\\\"stringData\\\":{{\\\"{data_key}\\\":\\\"$POSTHOG_NEW_KEY\\\"}}}}\"",
                ns
            ),
        )
        .note(format!(
            "the Secret also holds {}: `kubectl create secret --from-literal | kubectl apply` would drop them",
            key.other_keys.join(", ")
        ))
    };
    let rotate = Action::run(
        "rotate-key",
        "Or all of it in one safe step: validate the new key with PostHog, patch only this key, restart every reader, verify, revert on failure",
        format!(
            "read -rsp 'new PostHog key: ' POSTHOG_NEW_KEY && printf '%s\\n' \"$POSTHOG_NEW_KEY\" | kubectl posthog rotate-key deployment/{name} -n {ns}"
        ),
    );
    vec![verify, compare, update, restart(name, ns), rotate]
}

fn restart(name: &str, ns: &str) -> Action {
    Action::run(
        "restart",
        "Restart the pods so they read the new key, and wait for the rollout",
        format!(
            "kubectl rollout restart deployment/{name} -n {ns} && kubectl rollout status deployment/{name} -n {ns}"
        ),
    )
}
