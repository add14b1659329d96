//! Completion candidates, one engine for every shell: `kubectl-posthog __complete WORD… CURRENT`
//! prints the candidates for CURRENT one per line, then `:DIRECTIVE`, exactly as cobra programs do.
//! kubectl (1.26+) runs `kubectl_complete-posthog` for `kubectl posthog <TAB>` with the same words
//! (that script is `exec kubectl-posthog __complete "$@"`), and the bash, zsh and fish scripts
//! `completion` prints call it too. Subcommands, flags and enumerated values come from the clap
//! definition; Deployment names, namespaces and contexts from the cluster and the kubeconfig.

use std::time::Duration;

use clap::{Arg, ArgAction, CommandFactory};

use super::Cli;

/// cobra's ShellCompDirective bits.
pub const DIRECTIVE_DEFAULT: u32 = 0;
pub const DIRECTIVE_NO_SPACE: u32 = 2;
pub const DIRECTIVE_NO_FILE: u32 = 4;

/// Values only the cluster or the kubeconfig know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    Deployments,
    Namespaces,
    Contexts,
}

/// What to offer for the word being completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Candidates already filtered by the prefix typed so far.
    pub candidates: Vec<String>,
    pub directive: u32,
    /// Values to look up, then filter by `prefix` and prepend `prepend` (`--namespace=`, `deploy/`).
    pub dynamic: Option<Dynamic>,
    pub prefix: String,
    pub prepend: String,
    /// `--kubeconfig`, `--context` and `-n` typed before the word, for the lookup.
    pub connection: Connection,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// Decides what to offer for `words` (the words after the program name; the last one is the
/// word being completed, empty after a space). Pure over the clap definition.
pub fn offer(words: &[String]) -> Offer {
    let mut root = Cli::command();
    root.build();
    let (current, done) = match words.split_last() {
        Some((current, done)) => (current.as_str(), done),
        None => ("", &[][..]),
    };
    let mut command = &root;
    let mut pending: Option<&Arg> = None;
    let mut positionals = 0usize;
    let mut connection = Connection::default();
    let mut only_positionals = false;
    for word in done {
        if let Some(arg) = pending.take() {
            remember(&mut connection, arg, word);
            continue;
        }
        if word == "--" {
            only_positionals = true;
            continue;
        }
        if !only_positionals && word.starts_with('-') && word.len() > 1 {
            let (name, inline) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (word.as_str(), None),
            };
            if let Some(arg) = find_flag(command, name) {
                match inline {
                    Some(value) => remember(&mut connection, arg, value),
                    None if takes_value(arg) => pending = Some(arg),
                    None => {}
                }
            }
            continue;
        }
        match command.find_subcommand(word) {
            Some(sub) if positionals == 0 => command = sub,
            _ => positionals += 1,
        }
    }
    let mut offer = Offer {
        candidates: Vec::new(),
        directive: DIRECTIVE_NO_FILE,
        dynamic: None,
        prefix: current.to_string(),
        prepend: String::new(),
        connection,
    };
    if let Some(arg) = pending {
        value_offer(&mut offer, arg, current, "");
        return offer;
    }
    if current.starts_with('-') && !only_positionals {
        if let Some((name, value)) = current.split_once('=')
            && let Some(arg) = find_flag(command, name)
        {
            value_offer(&mut offer, arg, value, &format!("{name}="));
            return offer;
        }
        offer.candidates = flags(command)
            .into_iter()
            .filter(|f| f.starts_with(current))
            .collect();
        return offer;
    }
    if positionals == 0 {
        offer.candidates = command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .filter(|name| name.starts_with(current))
            .collect();
    }
    if let Some(arg) = command.get_positionals().nth(positionals).or_else(|| {
        command
            .get_positionals()
            .last()
            .filter(|a| matches!(a.get_action(), ArgAction::Append))
    }) {
        if arg.get_id() == "target" {
            let (prepend, typed) = match current.split_once('/') {
                Some((kind, rest)) => (format!("{kind}/"), rest),
                None => (String::new(), current),
            };
            offer.dynamic = Some(Dynamic::Deployments);
            offer.prefix = typed.to_string();
            offer.prepend = prepend;
        } else {
            let values = possible_values(arg);
            if values.is_empty() {
                offer.directive = DIRECTIVE_DEFAULT;
            }
            offer
                .candidates
                .extend(values.into_iter().filter(|v| v.starts_with(current)));
        }
    }
    offer
}

fn value_offer(offer: &mut Offer, arg: &Arg, typed: &str, prepend: &str) {
    offer.prepend = prepend.to_string();
    offer.prefix = typed.to_string();
    match arg.get_id().as_str() {
        "namespace" => offer.dynamic = Some(Dynamic::Namespaces),
        "context" => offer.dynamic = Some(Dynamic::Contexts),
        _ => {
            let values = possible_values(arg);
            if values.is_empty() {
                // Paths and free text: let the shell complete files.
                offer.directive = DIRECTIVE_DEFAULT;
            }
            offer.candidates = values
                .into_iter()
                .filter(|v| v.starts_with(typed))
                .map(|v| format!("{prepend}{v}"))
                .collect();
        }
    }
}

fn remember(connection: &mut Connection, arg: &Arg, value: &str) {
    let value = Some(value.to_string());
    match arg.get_id().as_str() {
        "kubeconfig" => connection.kubeconfig = value,
        "context" => connection.context = value,
        "namespace" => connection.namespace = value,
        _ => {}
    }
}

fn find_flag<'a>(command: &'a clap::Command, word: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|arg| {
        if let Some(long) = word.strip_prefix("--") {
            arg.get_long() == Some(long)
                || arg
                    .get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&long))
        } else {
            let mut chars = word.chars().skip(1);
            matches!((chars.next(), chars.next()), (Some(c), None) if arg.get_short() == Some(c))
        }
    })
}

fn takes_value(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Set | ArgAction::Append)
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

fn flags(command: &clap::Command) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long() {
            out.push(format!("--{long}"));
        }
        if let Some(short) = arg.get_short() {
            out.push(format!("-{short}"));
        }
    }
    out.push("--help".to_string());
    out.sort();
    out.dedup();
    out
}

fn possible_values(arg: &Arg) -> Vec<String> {
    arg.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_string())
        .collect()
}

/// Deployment names, namespaces or contexts, asked with a short timeout: a slow or absent
/// cluster gives no candidates rather than a stuck shell.
async fn lookup(dynamic: Dynamic, connection: &Connection) -> Vec<String> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Namespace;
    let options = crate::kube::ConnectOptions {
        kubeconfig: connection.kubeconfig.clone().map(Into::into),
        context: connection.context.clone(),
        namespace: connection.namespace.clone(),
        request_timeout: Some(Duration::from_secs(3)),
    };
    if dynamic == Dynamic::Contexts {
        return crate::kube::context_names(&options).unwrap_or_default();
    }
    let listed = tokio::time::timeout(Duration::from_secs(4), async {
        let cluster = crate::kube::connect(&options).await.ok()?;
        let params = kube::api::ListParams::default().limit(500);
        let names: Vec<String> = match dynamic {
            Dynamic::Namespaces => {
                let api: kube::Api<Namespace> = kube::Api::all(cluster.client.clone());
                let list = api.list_metadata(&params).await.ok()?;
                list.items
                    .into_iter()
                    .filter_map(|o| o.metadata.name)
                    .collect()
            }
            _ => {
                let api: kube::Api<Deployment> =
                    kube::Api::namespaced(cluster.client.clone(), &cluster.namespace);
                let list = api.list_metadata(&params).await.ok()?;
                list.items
                    .into_iter()
                    .filter_map(|o| o.metadata.name)
                    .collect()
            }
        };
        Some(names)
    });
    listed.await.ok().flatten().unwrap_or_default()
}

/// `__complete`: the candidates and the directive, cobra's format.
pub async fn candidates(words: &[String]) -> String {
    let mut offer = offer(words);
    if let Some(dynamic) = offer.dynamic {
        let found = lookup(dynamic, &offer.connection).await;
        offer.candidates.extend(
            found
                .into_iter()
                .filter(|name| name.starts_with(&offer.prefix))
                .map(|name| format!("{}{name}", offer.prepend)),
        );
    }
    let mut text: String = offer.candidates.iter().map(|c| format!("{c}\n")).collect();
    text.push_str(&format!(":{}\n", offer.directive));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        if line.is_empty() {
            words = vec![String::new()];
        }
        words
    }

    #[test]
    fn subcommands_at_the_top_and_below() {
        let offer = offer(&words(""));
        for name in [
            "preflight",
            "canary",
            "rollback",
            "triage",
            "evidence",
            "demo",
        ] {
            assert!(offer.candidates.contains(&name.to_string()), "{offer:?}");
        }
        assert!(!offer.candidates.iter().any(|c| c.starts_with("__")));
        let offer = offer_for("canary st");
        assert_eq!(offer.candidates, ["status"]);
        assert_eq!(offer.directive, DIRECTIVE_NO_FILE);
    }

    fn offer_for(line: &str) -> Offer {
        offer(&words(line))
    }

    #[test]
    fn flags_of_the_subcommand_and_the_global_ones() {
        let offer = offer_for("canary --pa");
        assert_eq!(offer.candidates, ["--pause"]);
        let offer = offer_for("rollback --dry");
        assert_eq!(offer.candidates, ["--dry-run"]);
        let offer = offer_for("preflight --kube");
        assert_eq!(offer.candidates, ["--kubeconfig"]);
    }

    #[test]
    fn enumerated_values_and_files() {
        assert_eq!(offer_for("preflight -o ya").candidates, ["yaml"]);
        assert_eq!(
            offer_for("preflight --output=j").candidates,
            ["--output=json"]
        );
        assert_eq!(
            offer_for("canary deploy/web --on-inconclusive p").candidates,
            ["pause"]
        );
        let files = offer_for("preflight -f ");
        assert!(files.candidates.is_empty());
        assert_eq!(files.directive, DIRECTIVE_DEFAULT);
        assert_eq!(offer_for("completion f").candidates, ["fish"]);
    }

    #[test]
    fn names_from_the_cluster_with_the_flags_typed_so_far() {
        let offer = offer_for("--context prod canary -n shop deploy/we");
        assert_eq!(offer.dynamic, Some(Dynamic::Deployments));
        assert_eq!(
            (offer.prefix.as_str(), offer.prepend.as_str()),
            ("we", "deploy/")
        );
        assert_eq!(offer.connection.context.as_deref(), Some("prod"));
        assert_eq!(offer.connection.namespace.as_deref(), Some("shop"));
        let offer = offer_for("triage --namespace=pro");
        assert_eq!(offer.dynamic, Some(Dynamic::Namespaces));
        assert_eq!(offer.prepend, "--namespace=");
        assert_eq!(
            offer_for("rollback --context ").dynamic,
            Some(Dynamic::Contexts)
        );
        // After the target, a second positional is not a Deployment.
        assert_eq!(offer_for("rollback history web ").dynamic, None);
    }
}
