//! The layering, kept true by a test that reads `src/` (as rustc's tidy or ArchUnit do): every
//! import points down, no two files import each other (directly or round a loop), and no clap
//! struct exists below `cmd/`.
//!
//! ```text
//! main, lib          run: dispatch → Report → render → publish → exit code
//! cmd/               Cli, Command, one file or folder per verb
//! evidence/          features; each may use the ones listed below it, never one above:
//! rollback/            evidence reads what canaries and rollouts leave behind, rollback
//! canary/ rotate/      recovers a canary and undoes, canary promotes through rollout, rotate restarts through it
//! rollout/ checks/
//! notify/            outside systems (notify and prometheus read credentials through kube)
//! prometheus/
//! kube/ posthog/ github/
//! render/ ui/ config/ error/ event/ report/ clock interrupt annotations redact     leaves
//! ```

use std::collections::{BTreeMap, BTreeSet};

/// A module's level: it may import only modules of a strictly lower level.
pub(crate) fn level(module: &str) -> Option<u32> {
    Some(match module {
        "" => 100,
        "cmd" => 90,
        "evidence" => 74,
        "rollback" => 73,
        "canary" | "rotate" => 72,
        "rollout" | "checks" => 71,
        "prometheus" | "notify" => 52,
        "kube" | "posthog" | "github" => 51,
        "render" | "http" => 16,
        "ui" => 15,
        "config" => 14,
        "error" | "event" => 13,
        "report" | "http_log" => 12,
        "clock" | "interrupt" | "annotations" | "redact" => 11,
        _ => return None,
    })
}

/// One source file: its module path (`["canary", "ops"]`; `[]` for lib.rs) and its text.
pub(crate) struct SourceFile {
    pub(crate) module: Vec<String>,
    pub(crate) text: String,
}

/// A broken rule, as one line naming the files.
pub(crate) type Violation = String;

/// Checks the three rules over a set of files; empty when the layering holds.
pub(crate) fn violations(files: &[SourceFile]) -> Vec<Violation> {
    let known: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let test_only = test_only_modules(files);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut out = Vec::new();
    for file in files
        .iter()
        .filter(|f| !is_test_only(&f.module, &test_only))
    {
        let code = non_test_code(&file.text);
        if file.module.first().is_none_or(|m| m != "cmd") && defines_clap_struct(&code) {
            out.push(format!(
                "{}: a clap struct below cmd/ (features and systems take plain values)",
                display(&file.module)
            ));
        }
        for target in imports(&file.module, &code, &known) {
            if target == file.module || target.is_empty() {
                continue;
            }
            let (from, to) = (top(&file.module), top(&target));
            if from != to {
                match (level(from), level(to)) {
                    (Some(a), Some(b)) if a > b => {}
                    (Some(_), Some(_)) => out.push(format!(
                        "{} imports {}: {from} may not use {to} (layers import only downwards)",
                        display(&file.module),
                        display(&target)
                    )),
                    _ => out.push(format!(
                        "{} imports {}: add the new module to layering::level",
                        display(&file.module),
                        display(&target)
                    )),
                }
            }
            edges.entry(file.module.clone()).or_default().insert(target);
        }
    }
    for cycle in cycles(&edges) {
        out.push(format!(
            "import loop: {}",
            cycle
                .iter()
                .map(|m| display(m))
                .collect::<Vec<_>>()
                .join(" → ")
        ));
    }
    out
}

fn top(module: &[String]) -> &str {
    module.first().map_or("", String::as_str)
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "lib".to_string()
    } else {
        module.join("/")
    }
}

/// Modules declared under `#[cfg(test)]` (`mod undo_tests;`) and everything inside them.
fn test_only_modules(files: &[SourceFile]) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for file in files {
        let mut lines = file.text.lines().peekable();
        while let Some(line) = lines.next() {
            if line.trim() != "#[cfg(test)]" {
                continue;
            }
            if let Some(next) = lines.peek() {
                let next = next.trim();
                let declared = next
                    .strip_prefix("pub(crate) mod ")
                    .or_else(|| next.strip_prefix("pub mod "))
                    .or_else(|| next.strip_prefix("mod "));
                if let Some(name) = declared.and_then(|rest| rest.strip_suffix(';')) {
                    let mut module = file.module.clone();
                    module.push(name.to_string());
                    out.insert(module);
                }
            }
        }
    }
    out
}

fn is_test_only(module: &[String], test_only: &BTreeSet<Vec<String>>) -> bool {
    (1..=module.len()).any(|n| test_only.contains(&module[..n]))
}

/// The file without its inline `#[cfg(test)] mod tests { … }` (kept last, by convention) and
/// without comments.
fn non_test_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod ") && next.ends_with('{'))
        {
            break;
        }
        let line = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

fn defines_clap_struct(code: &str) -> bool {
    code.lines().any(|line| {
        let line = line.trim();
        line.starts_with("#[derive(")
            && ["Args", "Parser", "Subcommand"].iter().any(|derive| {
                line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .any(|word| word == *derive || word == format!("clap::{derive}"))
            })
    })
}

/// Every module of the crate a file's code names through `crate::…` or `super::…` (with `use`
/// groups expanded), resolved to the longest prefix that is a file.
fn imports(module: &[String], code: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for (base, path) in paths(code) {
        let root: Vec<String> = match base {
            Base::Crate => Vec::new(),
            Base::Super => module[..module.len().saturating_sub(1)].to_vec(),
        };
        let mut full = root;
        full.extend(path);
        if let Some(n) = (1..=full.len()).rev().find(|&n| known.contains(&full[..n])) {
            out.insert(full[..n].to_vec());
        }
    }
    out
}

enum Base {
    Crate,
    Super,
}

/// `crate::a::b::{c, d::e}` → `[a, b, c]`, `[a, b, d, e]`; likewise for `super::`.
fn paths(code: &str) -> Vec<(Base, Vec<String>)> {
    let mut out = Vec::new();
    for (marker, base) in [("crate::", 0), ("super::", 1)] {
        let mut rest = code;
        while let Some(at) = rest.find(marker) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + marker.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            for path in expand(rest) {
                out.push((if base == 0 { Base::Crate } else { Base::Super }, path));
            }
        }
    }
    out
}

/// The paths at the start of `text`: one plain path, or a prefix with a `{…}` group.
fn expand(text: &str) -> Vec<Vec<String>> {
    if let Some(group) = text.strip_prefix('{') {
        let end = matching_brace(group).unwrap_or(group.len());
        return split_group(&group[..end])
            .into_iter()
            .flat_map(expand)
            .collect();
    }
    let mut prefix = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut segment = String::new();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            segment.push(c);
        } else if c == ':' && chars.peek().is_some_and(|(_, n)| *n == ':') {
            chars.next();
            prefix.push(std::mem::take(&mut segment));
            if chars.peek().is_some_and(|(_, n)| *n == '{') {
                let group = &text[i + 3..];
                let end = matching_brace(group).unwrap_or(group.len());
                return split_group(&group[..end])
                    .into_iter()
                    .flat_map(|item| {
                        expand(item).into_iter().map({
                            let prefix = prefix.clone();
                            move |tail| [prefix.clone(), tail].concat()
                        })
                    })
                    .collect();
            }
        } else {
            break;
        }
    }
    if !segment.is_empty() {
        prefix.push(segment);
    }
    vec![prefix]
}

fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn split_group(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(group[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(group[start..].trim());
    items.retain(|item| !item.is_empty() && *item != "self");
    items
}

/// Loops in the file graph (Tarjan's strongly connected components of more than one file).
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a [String], (usize, usize)>,
        stack: Vec<&'a [String]>,
        next: usize,
        found: Vec<Vec<Vec<String>>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a [String]) {
            self.index.insert(v, (self.next, self.next));
            self.next += 1;
            self.stack.push(v);
            for w in self.edges.get(v).into_iter().flatten() {
                match self.index.get(w.as_slice()) {
                    None => {
                        self.visit(w);
                        let low = self.index[w.as_slice()].1;
                        let entry = self.index.get_mut(v).expect("visited");
                        entry.1 = entry.1.min(low);
                    }
                    Some(&(w_index, _)) if self.stack.contains(&w.as_slice()) => {
                        let entry = self.index.get_mut(v).expect("visited");
                        entry.1 = entry.1.min(w_index);
                    }
                    Some(_) => {}
                }
            }
            let (v_index, v_low) = self.index[v];
            if v_index == v_low {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.to_vec());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !tarjan.index.contains_key(v.as_slice()) {
            tarjan.visit(v);
        }
    }
    tarjan.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(module: &str, text: &str) -> SourceFile {
        SourceFile {
            module: module
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            text: text.to_string(),
        }
    }

    /// Every `.rs` file under `src/`, with its module path.
    fn crate_sources() -> Vec<SourceFile> {
        fn walk(dir: &std::path::Path, module: &[String], out: &mut Vec<SourceFile>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .expect("src/ is readable")
                .filter_map(|e| e.ok())
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    let mut child = module.to_vec();
                    child.push(name);
                    walk(&path, &child, out);
                } else if let Some(stem) = name.strip_suffix(".rs") {
                    let mut m = module.to_vec();
                    if !matches!(stem, "mod" | "lib" | "main") {
                        m.push(stem.to_string());
                    }
                    out.push(SourceFile {
                        module: m,
                        text: std::fs::read_to_string(&path).expect("a source file is readable"),
                    });
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &[],
            &mut out,
        );
        out
    }

    #[test]
    fn every_import_in_src_points_down_and_no_files_import_each_other() {
        let files = crate_sources();
        assert!(files.len() > 100, "read {} files", files.len());
        let found = violations(&files);
        assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
    }

    #[test]
    fn the_imports_the_layering_issue_found_would_fail() {
        // canary/resolve.rs reaching up into a clap struct of cmd/ (issue 12).
        let found = violations(&[
            file("canary", "pub mod resolve;"),
            file("canary/resolve", "use crate::cmd::canary::RunArgs;\n"),
            file("cmd", "pub mod canary;"),
            file(
                "cmd/canary",
                "#[derive(Debug, Args)]\npub struct RunArgs {}\n",
            ),
        ]);
        assert_eq!(
            found,
            [
                "canary/resolve imports cmd/canary: canary may not use cmd (layers import only downwards)"
            ]
        );
        // rollout/undo.rs importing canary (the reverse of canary → rollout), and a loop
        // between two files of one feature, written with a `use` group.
        let found = violations(&[
            file(
                "rollout/undo",
                "use crate::canary::state::{COMMAND_ANNOTATION, STATE_ANNOTATION};",
            ),
            file("canary/state", ""),
            file(
                "checks/remote",
                "use super::endpoints::{RegionChoice, region_for};",
            ),
            file(
                "checks/endpoints",
                "use super::{configuration::move_to_secret, Subject};",
            ),
            file(
                "checks/configuration",
                "use super::remote::{Probe, SubjectRemote};",
            ),
            file("checks", ""),
        ]);
        assert!(
            found.contains(&"rollout/undo imports canary/state: rollout may not use canary (layers import only downwards)".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(
                &"import loop: checks/configuration → checks/endpoints → checks/remote".to_string()
            ),
            "{found:?}"
        );
        // A clap struct in a feature.
        let found = violations(&[file(
            "evidence/gather",
            "#[derive(Debug, Clone, Default, clap::Args)]\npub struct SourceArgs {}\n",
        )]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("clap struct below cmd/"), "{found:?}");
    }

    #[test]
    fn test_code_and_comments_do_not_count() {
        let found = violations(&[
            file(
                "report",
                "pub fn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::render::render_table;\n}\n",
            ),
            file("render", ""),
            file(
                "kube",
                "//! see [`crate::cmd::Ctx`]\n#[cfg(test)]\nmod client_tests;\n",
            ),
            file("kube/client_tests", "use crate::cmd::Cli;"),
            file("cmd", ""),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }
}
