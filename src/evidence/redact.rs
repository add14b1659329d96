//! The bundle's redaction is the crate's one redactor ([`crate::redact`]), re-exported here so the
//! bundle's modules keep naming it `super::redact`.

pub use crate::redact::*;
pub(crate) use crate::redact::{Candidate, continues_value};
