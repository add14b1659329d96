//! `rollback history`: the revisions to choose from, with their images, change-cause, age and
//! which one runs now.

use super::{HistoryArgs, connect};
use crate::rollback::run::fetch;

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::report::{Preface, Report, ReportTarget, Verdict, VerdictResult};
use crate::rollout::history;

pub(super) async fn run_history(args: HistoryArgs, ctx: &Ctx) -> Result<Report> {
    let name = args.target.parse()?.name;
    let apis = connect(ctx).await?;
    let fetched = fetch(&apis, &name).await?;
    let rows = history::revision_rows(&fetched.deployment, &fetched.replica_sets)
        .map_err(|e| Error::Cluster(e.to_string()))?;
    let now = ctx.now();
    let summary = format!(
        "{} revision{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    let verdict = Verdict::decided(VerdictResult::Pass, summary, &[]);
    let target =
        ReportTarget::deployment(&name, Some(&apis.namespace), ctx.global.context.as_deref());
    let preface = Preface {
        table: history::render_table(&name, &rows, now, &ctx.out_styles),
        markdown: history::render_markdown(&name, &rows, now),
        only: true,
    };
    Ok(
        Report::new("rollback-history", target, verdict, Vec::new(), now)
            .with_details(&history::HistoryDetails { revisions: rows })
            .with_preface(preface),
    )
}
