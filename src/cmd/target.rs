//! The Deployment a command acts on, written as kubectl accepts it.

use clap::Args;

use crate::error::Error;

pub use crate::config::DEFAULT_DEPLOYMENT;

/// The Deployment a command acts on, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub name: String,
}

impl TargetRef {
    /// Accepts `deployment/NAME`, `deploy/NAME`, `deployments/NAME`, `deployment.apps/NAME` or `NAME`,
    /// the forms kubectl accepts for a Deployment.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let shown = crate::error::shown_input(raw);
        let usage = || {
            Error::Usage(format!(
                "invalid target {shown}: write deployment/NAME, deploy/NAME or NAME \
                 (NAME is a lowercase DNS-1123 name, e.g. {DEFAULT_DEPLOYMENT})"
            ))
        };
        let name = match raw.split_once('/') {
            Some((kind, name)) => {
                let kind = kind.to_ascii_lowercase();
                if !matches!(
                    kind.as_str(),
                    "deployment"
                        | "deploy"
                        | "deployments"
                        | "deployment.apps"
                        | "deployments.apps"
                ) {
                    return Err(Error::Usage(format!(
                        "invalid target {shown}: only Deployments are supported, \
                         write deployment/NAME or deploy/NAME"
                    )));
                }
                name
            }
            None => raw,
        };
        if !crate::kube::is_dns1123_subdomain(name) {
            return Err(usage());
        }
        Ok(TargetRef {
            name: name.to_string(),
        })
    }
}

impl Default for TargetRef {
    fn default() -> Self {
        TargetRef {
            name: DEFAULT_DEPLOYMENT.to_string(),
        }
    }
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deployment/{}", self.name)
    }
}

/// The target positional every Deployment-oriented subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct TargetArg {
    /// The Deployment: deployment/NAME, deploy/NAME or NAME
    #[arg(value_name = "TARGET", default_value = DEFAULT_DEPLOYMENT)]
    pub target: String,
}

impl TargetArg {
    pub fn parse(&self) -> Result<TargetRef, Error> {
        TargetRef::parse(&self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn target_forms_kubectl_accepts() {
        for raw in [
            "deployment/web",
            "deploy/web",
            "deployments/web",
            "deployment.apps/web",
            "web",
        ] {
            assert_eq!(TargetRef::parse(raw).unwrap().name, "web", "{raw}");
        }
    }

    #[test]
    fn target_rejects_other_kinds_and_bad_names() {
        let err = TargetRef::parse("statefulset/web").unwrap_err().to_string();
        assert!(err.contains("only Deployments"), "{err}");
        for raw in ["Web", "web_1", "-web", "deploy/", "", "a/b/c"] {
            let err = TargetRef::parse(raw).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{raw}: {err}");
        }
    }
}
