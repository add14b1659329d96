//! Shell completion run as each shell runs it: the scripts `completion` prints, sourced into
//! bash, zsh and fish, and kubectl's own plugin completion through `kubectl_complete-posthog`,
//! with Deployment names and namespaces from a simulated cluster.

use std::path::{Path, PathBuf};
use std::process::Command;

use simcluster::{SimCluster, SimOptions};

use crate::support::{bin, bin_dir, kubectl, run};

const APPS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: web:1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec: {containers: [{name: app, image: worker:1}]}
"#;

struct Shells {
    dir: tempfile::TempDir,
    _sim: SimCluster,
    kubeconfig: PathBuf,
}

impl Shells {
    async fn start() -> Shells {
        let sim = SimCluster::start(SimOptions::default()).await.unwrap();
        sim.apply_yaml(APPS).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        for (shell, file) in [
            ("bash", "kubectl-posthog.bash"),
            ("zsh", "_kubectl-posthog"),
            ("fish", "kubectl-posthog.fish"),
            ("kubectl", "kubectl_complete-posthog"),
        ] {
            let out = run(bin().args(["completion", shell]));
            assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
            let path = dir.path().join(file);
            std::fs::write(&path, out.stdout).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Shells {
            dir,
            _sim: sim,
            kubeconfig,
        }
    }

    fn script(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// A shell with kubectl-posthog (and kubectl_complete-posthog) first on PATH.
    fn shell(&self, program: &str) -> Command {
        let path = std::env::join_paths(
            [self.dir.path().to_path_buf(), bin_dir()]
                .into_iter()
                .chain(std::env::split_paths(
                    &std::env::var_os("PATH").unwrap_or_default(),
                )),
        )
        .unwrap();
        let mut cmd = Command::new(program);
        cmd.env("PATH", path).env_remove("KUBECONFIG");
        cmd
    }

    fn kube(&self) -> String {
        self.kubeconfig.display().to_string()
    }

    /// bash: the line as typed, split into COMP_WORDS the way bash does (at spaces, '=' and ':').
    fn bash(&self, line: &str) -> Vec<String> {
        let script = format!(
            r#"source {script}
complete -p kubectl-posthog >/dev/null || exit 9
COMP_LINE={line:?}
COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "${{COMP_LINE//=/ = }}"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_kubectl_posthog
printf '%s\n' "${{COMPREPLY[@]}}""#,
            script = self.script("kubectl-posthog.bash").display()
        );
        lines(&run(self.shell("bash").args(["--norc", "-c", &script])))
    }

    /// zsh: the completion function with a `compadd` that prints what it is given.
    fn zsh(&self, line: &str) -> Vec<String> {
        let script = format!(
            r#"compadd() {{ while [[ $1 == -* && $1 != -- ]]; do [[ $1 == -S ]] && shift; shift; done; shift; print -l -- "$@"; }}
_files() {{ print -- '<files>'; }}
source {script}
words=(${{(z)line}})
[[ $line == *' ' ]] && words+=('')
CURRENT=${{#words}}
_kubectl_posthog"#,
            script = self.script("_kubectl-posthog").display()
        );
        lines(&run(self
            .shell("zsh")
            .args(["-f", "-c", &script])
            .env("line", line)))
    }

    /// fish: `complete -C` prints the candidates for a command line.
    fn fish(&self, line: &str) -> Vec<String> {
        let script = format!(
            "source {}; complete -C {line:?}",
            self.script("kubectl-posthog.fish").display()
        );
        lines(&run(self.shell("fish").args([
            "--no-config",
            "-c",
            &script,
        ])))
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
    }

    /// kubectl's own `__complete`, which hands `kubectl posthog …` to kubectl_complete-posthog.
    fn kubectl(&self, words: &[&str]) -> Vec<String> {
        let mut cmd = self.shell(kubectl().to_str().unwrap());
        cmd.arg("__complete").arg("posthog").args(words);
        lines(&run(&mut cmd))
    }
}

fn lines(out: &crate::support::Run) -> Vec<String> {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bash_completes_nested_flags_values_and_deployments() {
    let s = Shells::start().await;
    assert_eq!(s.bash("kubectl-posthog canary --pa"), ["--pause"]);
    assert!(s.bash("kubectl-posthog ").contains(&"canary".to_string()));
    assert_eq!(s.bash("kubectl-posthog canary st"), ["status"]);
    assert_eq!(s.bash("kubectl-posthog preflight --output=j"), ["json"]);
    let line = format!(
        "kubectl-posthog --kubeconfig {} -n shop rollback w",
        s.kube()
    );
    assert_eq!(s.bash(&line), ["web", "worker"]);
    let line = format!(
        "kubectl-posthog --kubeconfig {} canary status deploy/we",
        s.kube()
    );
    assert_eq!(
        s.bash(&line.replace("canary", "-n shop canary")),
        ["deploy/web"]
    );
    let line = format!("kubectl-posthog --kubeconfig {} triage -n sh", s.kube());
    assert_eq!(s.bash(&line), ["shop"]);
    let line = format!("kubectl-posthog --kubeconfig {} --context ", s.kube());
    assert_eq!(s.bash(&line), ["simcluster"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn zsh_completes_nested_flags_and_deployments() {
    let s = Shells::start().await;
    assert_eq!(s.zsh("kubectl-posthog canary --pa"), ["--pause"]);
    assert_eq!(s.zsh("kubectl-posthog rollback hist"), ["history"]);
    let line = format!("kubectl-posthog --kubeconfig {} -n shop triage ", s.kube());
    assert_eq!(s.zsh(&line), ["web", "worker"]);
    assert_eq!(s.zsh("kubectl-posthog preflight -f "), ["<files>"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn fish_completes_nested_flags_and_deployments() {
    let s = Shells::start().await;
    assert_eq!(s.fish("kubectl-posthog canary --pa"), ["--pause"]);
    let line = format!(
        "kubectl-posthog --kubeconfig {} -n shop evidence wo",
        s.kube()
    );
    assert_eq!(s.fish(&line), ["worker"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_posthog_tab_works_through_the_plugin_completion_executable() {
    let s = Shells::start().await;
    let top = s.kubectl(&[""]);
    for sub in ["preflight", "canary", "rollback", "triage", "evidence"] {
        assert!(top.contains(&sub.to_string()), "{top:?}");
    }
    assert_eq!(top.last().map(String::as_str), Some(":4"), "{top:?}");
    assert_eq!(s.kubectl(&["canary", "--pa"])[0], "--pause");
    let kube = s.kube();
    let names = s.kubectl(&["--kubeconfig", &kube, "-n", "shop", "rollback", ""]);
    for name in ["history", "web", "worker"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }
    assert!(Path::new(&s.script("kubectl_complete-posthog")).exists());
}
