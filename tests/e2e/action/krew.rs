//! `krew-manifest.yaml` checked by krew's own rules (kubernetes-sigs/krew
//! `internal/index/validation`: apiVersion, kind, safe name, short description, semver with a
//! leading v, platforms with uri, lowercase 64-hex sha256, bin, files, os/arch-only selectors),
//! plus krew-index's review rules: homepage and description, selectors that do not overlap, and
//! a LICENSE file extracted on every platform.

use std::path::Path;

use serde_json::Value;

const API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";
const WINDOWS_FORBIDDEN: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];
/// The os/arch pairs krew runs on, for the overlap check.
const PLATFORMS: [(&str, &str); 10] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("linux", "arm"),
    ("linux", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("windows", "386"),
    ("freebsd", "amd64"),
];

pub fn parse(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("the manifest is YAML")
}

/// Every rule the manifest breaks (empty when valid).
pub fn validate(manifest: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let spec = &manifest["spec"];
    if manifest["apiVersion"] != API_VERSION {
        errors.push(format!("apiVersion must be {API_VERSION}"));
    }
    if manifest["kind"] != "Plugin" {
        errors.push("kind must be Plugin".to_string());
    }
    let name = manifest["metadata"]["name"].as_str().unwrap_or("");
    let safe = regex::Regex::new(r"^[\w-]+$").unwrap();
    if !safe.is_match(name)
        || WINDOWS_FORBIDDEN
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
    {
        errors.push(format!("metadata.name {name:?} is not a safe plugin name"));
    }
    let short = spec["shortDescription"].as_str().unwrap_or("");
    if short.is_empty() {
        errors.push("spec.shortDescription is required".to_string());
    }
    if short.contains(['\r', '\n']) {
        errors.push("spec.shortDescription must be one line".to_string());
    }
    for field in ["homepage", "description"] {
        if spec[field].as_str().is_none_or(|v| v.trim().is_empty()) {
            errors.push(format!("spec.{field} is required"));
        }
    }
    let semver = regex::Regex::new(
        r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$",
    )
    .unwrap();
    let version = spec["version"].as_str().unwrap_or("");
    if !semver.is_match(version) {
        errors.push(format!(
            "spec.version {version:?} is not semver with a leading v"
        ));
    }
    let platforms = spec["platforms"].as_array().cloned().unwrap_or_default();
    if platforms.is_empty() {
        errors.push("spec.platforms must name at least one platform".to_string());
    }
    for (i, platform) in platforms.iter().enumerate() {
        for error in validate_platform(platform) {
            errors.push(format!("platform {i}: {error}"));
        }
    }
    for (os, arch) in PLATFORMS {
        let matching: Vec<usize> = platforms
            .iter()
            .enumerate()
            .filter(|(_, p)| selector_matches(&p["selector"], os, arch))
            .map(|(i, _)| i)
            .collect();
        if matching.len() > 1 {
            errors.push(format!("platforms {matching:?} overlap on {os}/{arch}"));
        }
    }
    errors
}

fn validate_platform(platform: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let text = |field: &str| platform[field].as_str().unwrap_or("").to_string();
    if text("uri").is_empty() {
        errors.push("uri is required".to_string());
    }
    let sha = text("sha256");
    let hex = regex::Regex::new("^[a-f0-9]{64}$").unwrap();
    if !hex.is_match(&sha) {
        errors.push(format!("sha256 {sha:?} is not 64 lowercase hex characters"));
    }
    if text("bin").is_empty() {
        errors.push("bin is required".to_string());
    }
    match &platform["files"] {
        Value::Null => {}
        Value::Array(files) if files.is_empty() => {
            errors.push("files must be absent or non-empty".to_string())
        }
        Value::Array(files) => {
            for file in files {
                if file["from"].as_str().is_none_or(str::is_empty)
                    || file["to"].as_str().is_none_or(str::is_empty)
                {
                    errors.push("every files entry needs from and to".to_string());
                }
            }
            if !files.iter().any(|f| f["from"] == "LICENSE") {
                errors.push("files must extract the LICENSE".to_string());
            }
        }
        _ => errors.push("files must be a list".to_string()),
    }
    if platform["files"].is_null() {
        errors.push("files must extract the LICENSE".to_string());
    }
    let selector = &platform["selector"];
    if !selector.is_object() {
        errors.push("selector is required".to_string());
        return errors;
    }
    let labels = &selector["matchLabels"];
    let expressions = &selector["matchExpressions"];
    if labels.is_null() && expressions.as_array().is_none_or(Vec::is_empty) {
        errors.push("selector must not be empty".to_string());
    }
    if labels.as_object().is_some_and(|m| m.is_empty()) {
        errors.push("matchLabels specified but empty".to_string());
    }
    if expressions.as_array().is_some_and(Vec::is_empty) {
        errors.push("matchExpressions specified but empty".to_string());
    }
    let mut keys: Vec<String> = labels
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for expression in expressions.as_array().into_iter().flatten() {
        keys.push(expression["key"].as_str().unwrap_or("").to_string());
    }
    for key in keys {
        if key != "os" && key != "arch" {
            errors.push(format!(
                "selector key {key:?} is not supported (only os and arch)"
            ));
        }
    }
    errors
}

/// A label selector evaluated on {os, arch}, as krew does when choosing the platform.
fn selector_matches(selector: &Value, os: &str, arch: &str) -> bool {
    let value_of = |key: &str| match key {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let labels_match = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| value_of(k) == v.as_str());
    let expressions_match = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let actual = e["key"].as_str().and_then(value_of);
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => actual.is_some_and(|a| values.contains(&a)),
                Some("NotIn") => actual.is_none_or(|a| !values.contains(&a)),
                Some("Exists") => actual.is_some(),
                Some("DoesNotExist") => actual.is_none(),
                _ => false,
            }
        });
    selector.is_object() && labels_match && expressions_match
}

fn repo_manifest() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("krew-manifest.yaml");
    parse(&std::fs::read_to_string(path).expect("krew-manifest.yaml exists"))
}

#[test]
fn repository_manifest_passes_krews_rules() {
    let manifest = repo_manifest();
    assert_eq!(validate(&manifest), Vec::<String>::new());
    assert_eq!(
        manifest["metadata"]["name"], "posthog",
        "`kubectl posthog` runs kubectl-posthog"
    );
    let version = manifest["spec"]["version"].as_str().unwrap();
    assert_eq!(
        version,
        format!("v{}", env!("CARGO_PKG_VERSION")),
        "in step with Cargo.toml"
    );
    for (os, arch) in [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
        ("windows", "amd64"),
        ("windows", "arm64"),
    ] {
        let platforms = manifest["spec"]["platforms"].as_array().unwrap();
        let platform = platforms
            .iter()
            .find(|p| selector_matches(&p["selector"], os, arch))
            .unwrap_or_else(|| panic!("no platform for {os}/{arch}"));
        let uri = platform["uri"].as_str().unwrap();
        assert!(
            uri.ends_with(&format!(
                "/releases/download/{version}/kubectl-posthog_{os}_{arch}.{}",
                if os == "windows" { "zip" } else { "tar.gz" }
            )),
            "{uri}"
        );
        let bin = if os == "windows" {
            "kubectl-posthog.exe"
        } else {
            "kubectl-posthog"
        };
        assert_eq!(platform["bin"], bin);
        let completer = if os == "windows" {
            "kubectl_complete-posthog.cmd"
        } else {
            "kubectl_complete-posthog"
        };
        assert!(
            platform["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["from"] == completer),
            "{os}/{arch} extracts {completer} for `kubectl posthog <TAB>`"
        );
    }
    let caveats = manifest["spec"]["caveats"].as_str().unwrap_or("");
    assert!(
        caveats.contains("kubectl_complete-posthog"),
        "the caveats say how to put the completer on PATH: {caveats}"
    );
}

#[test]
fn the_validator_catches_each_rule() {
    let valid = repo_manifest();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "apiVersion",
            Box::new(|m| m["apiVersion"] = "krew.googlecontainertools.github.com/v1alpha1".into()),
        ),
        ("kind", Box::new(|m| m["kind"] = "Plugins".into())),
        (
            "safe plugin name",
            Box::new(|m| m["metadata"]["name"] = "post hog".into()),
        ),
        (
            "safe plugin name",
            Box::new(|m| m["metadata"]["name"] = "nul".into()),
        ),
        (
            "shortDescription is required",
            Box::new(|m| m["spec"]["shortDescription"] = "".into()),
        ),
        (
            "one line",
            Box::new(|m| m["spec"]["shortDescription"] = "a\nb".into()),
        ),
        (
            "spec.homepage",
            Box::new(|m| m["spec"]["homepage"] = Value::Null),
        ),
        (
            "leading v",
            Box::new(|m| m["spec"]["version"] = "0.1.0".into()),
        ),
        (
            "leading v",
            Box::new(|m| m["spec"]["version"] = "v0.1".into()),
        ),
        (
            "at least one platform",
            Box::new(|m| m["spec"]["platforms"] = Value::Array(vec![])),
        ),
        (
            "uri is required",
            Box::new(|m| m["spec"]["platforms"][0]["uri"] = "".into()),
        ),
        (
            "lowercase hex",
            Box::new(|m| m["spec"]["platforms"][0]["sha256"] = "A".repeat(64).into()),
        ),
        (
            "lowercase hex",
            Box::new(|m| m["spec"]["platforms"][0]["sha256"] = "abc".into()),
        ),
        (
            "bin is required",
            Box::new(|m| m["spec"]["platforms"][0]["bin"] = Value::Null),
        ),
        (
            "absent or non-empty",
            Box::new(|m| m["spec"]["platforms"][0]["files"] = Value::Array(vec![])),
        ),
        (
            "from and to",
            Box::new(|m| m["spec"]["platforms"][0]["files"][0]["to"] = "".into()),
        ),
        (
            "LICENSE",
            Box::new(|m| {
                m["spec"]["platforms"][0]["files"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
        ),
        (
            "selector is required",
            Box::new(|m| m["spec"]["platforms"][0]["selector"] = Value::Null),
        ),
        (
            "specified but empty",
            Box::new(|m| {
                m["spec"]["platforms"][0]["selector"]["matchLabels"] = serde_json::json!({})
            }),
        ),
        (
            "not supported",
            Box::new(|m| {
                m["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = "debian".into()
            }),
        ),
        (
            "overlap on linux/amd64",
            Box::new(|m| {
                m["spec"]["platforms"][1]["selector"] = serde_json::json!({"matchExpressions": [{"key": "os", "operator": "In", "values": ["linux"]}]});
            }),
        ),
    ];
    for (expected, mutate) in cases {
        let mut manifest = valid.clone();
        mutate(&mut manifest);
        let errors = validate(&manifest);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "expected an error containing {expected:?}, got {errors:?}"
        );
    }
}
