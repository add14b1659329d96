//! GitHub Actions mode: step summary, outputs, annotations and the sticky PR comment.
