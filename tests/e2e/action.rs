//! The GitHub Action as shipped: action.yml run by `act` on this host, the workflow files, the
//! release packaging and scripts, and the krew manifest.

mod act;
mod krew;
mod packaging;
mod release;
mod workflows;
