//! The contexts of the kubeconfig kubectl would read, for completing `--context`.

use super::ConnectOptions;
use super::client::load_kubeconfig;
use crate::error::Result;

/// The context names, in the kubeconfig's order (merged over `$KUBECONFIG` like kubectl).
pub fn context_names(options: &ConnectOptions) -> Result<Vec<String>> {
    let (kubeconfig, _) = load_kubeconfig(options.kubeconfig.as_deref())?;
    Ok(kubeconfig
        .map(|k| k.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default())
}
