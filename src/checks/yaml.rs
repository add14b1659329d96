//! YAML documents as JSON values plus the line of every node, so an offline finding can point at
//! `k8s/production.yaml:42`. serde-saphyr's `Spanned` gives each node its location; we flatten that
//! into a map from JSON pointer (`/spec/template/spec/containers/0/env/3`) to line.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// Line numbers of the nodes of one object, keyed by JSON pointer relative to the object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineMap {
    lines: HashMap<String, u32>,
}

impl LineMap {
    /// The line of `pointer`, or of its nearest ancestor that has one.
    pub fn line(&self, pointer: &str) -> Option<u32> {
        let mut pointer = pointer;
        loop {
            if let Some(line) = self.lines.get(pointer) {
                return Some(*line);
            }
            match pointer.rfind('/') {
                Some(i) => pointer = &pointer[..i],
                None => return None,
            }
        }
    }

    /// The line of exactly `pointer`, without falling back to an ancestor.
    pub fn exact(&self, pointer: &str) -> Option<u32> {
        self.lines.get(pointer).copied()
    }

    /// The sub-map under `prefix`, re-rooted (for the items of a `List`).
    pub fn subtree(&self, prefix: &str) -> LineMap {
        let lines = self
            .lines
            .iter()
            .filter_map(|(k, v)| {
                if k == prefix {
                    Some((String::new(), *v))
                } else {
                    k.strip_prefix(prefix)
                        .filter(|rest| rest.starts_with('/'))
                        .map(|rest| (rest.to_string(), *v))
                }
            })
            .collect();
        LineMap { lines }
    }
}

/// One YAML node with the line it starts on.
struct Node {
    line: u32,
    value: NodeValue,
}

enum NodeValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    /// Entries with the line of their key (`strategy:`), which is where a person looks.
    Map(Vec<(String, u32, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeValue>::deserialize(deserializer)?;
        Ok(Node {
            line: u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<NodeValue, E> {
        Ok(serde_json::Number::from_f64(v)
            .map(NodeValue::Number)
            .unwrap_or_else(|| NodeValue::String(v.to_string())))
    }
    fn visit_str<E>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let line = u32::try_from(key.referenced.line()).unwrap_or(u32::MAX);
            entries.push((key.value.0, line, map.next_value::<Node>()?));
        }
        Ok(NodeValue::Map(entries))
    }
}

/// Mapping keys as text: Kubernetes keys are strings, but `80: http` must not fail the file.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_string()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

fn flatten(node: Node, pointer: &mut String, lines: &mut HashMap<String, u32>) -> Value {
    if node.line > 0 {
        lines.insert(pointer.clone(), node.line);
    }
    match node.value {
        NodeValue::Null => Value::Null,
        NodeValue::Bool(b) => Value::Bool(b),
        NodeValue::Number(n) => Value::Number(n),
        NodeValue::String(s) => Value::String(s),
        NodeValue::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| with_segment(pointer, &i.to_string(), |p| flatten(item, p, lines)))
                .collect(),
        ),
        NodeValue::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, key_line, item)| {
                    let value = with_segment(pointer, &escape(&key), |p| {
                        let value = flatten(item, p, lines);
                        if key_line > 0 {
                            lines.insert(p.clone(), key_line);
                        }
                        value
                    });
                    (key, value)
                })
                .collect(),
        ),
    }
}

fn with_segment<T>(pointer: &mut String, segment: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = pointer.len();
    pointer.push('/');
    pointer.push_str(segment);
    let out = f(pointer);
    pointer.truncate(len);
    out
}

/// RFC 6901 escaping of a pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// One YAML document of a file: its value, the line of its first node and the lines of all nodes.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    pub line: Option<u32>,
    pub lines: LineMap,
}

/// Parses every document of a multi-document YAML text (empty documents are dropped).
/// The error is one line with the location serde-saphyr reports.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, String> {
    let nodes: Vec<Option<Node>> = serde_saphyr::from_str_multiple(text).map_err(|e| {
        let message = e.to_string();
        message.lines().next().unwrap_or(&message).to_string()
    })?;
    Ok(nodes
        .into_iter()
        .flatten()
        .filter(|n| !matches!(n.value, NodeValue::Null))
        .map(|node| {
            let line = (node.line > 0).then_some(node.line);
            let mut lines = HashMap::new();
            let value = flatten(node, &mut String::new(), &mut lines);
            Document {
                value,
                line,
                lines: LineMap { lines },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_DOCS: &str = "\
# leading comment
apiVersion: v1
kind: Secret
metadata:
  name: a
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: app:1
          env:
            - name: POSTHOG_API_KEY
              value: literal
";

    #[test]
    fn documents_keep_absolute_line_numbers() {
        let docs = parse_documents(TWO_DOCS).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["kind"], "Secret");
        assert_eq!(docs[0].line, Some(2));
        assert_eq!(docs[1].line, Some(7));
        assert_eq!(docs[1].lines.line("/kind"), Some(8));
        assert_eq!(
            docs[1].lines.line("/spec/template/spec/containers/0/image"),
            Some(16)
        );
        assert_eq!(
            docs[1].lines.line("/spec/template/spec/containers/0/env/0"),
            Some(18)
        );
        assert_eq!(
            docs[1]
                .lines
                .line("/spec/template/spec/containers/0/env/0/value"),
            Some(19)
        );
        // A pointer to something absent falls back to its nearest ancestor.
        assert_eq!(
            docs[1]
                .lines
                .line("/spec/template/spec/containers/0/resources"),
            Some(15)
        );
    }

    #[test]
    fn values_convert_to_json() {
        let docs = parse_documents("a: 1\nb: [true, null, 2.5, x]\n80: http\n").unwrap();
        assert_eq!(
            docs[0].value,
            serde_json::json!({"a": 1, "b": [true, null, 2.5, "x"], "80": "http"})
        );
    }

    #[test]
    fn empty_documents_are_dropped_and_errors_are_one_line() {
        assert_eq!(parse_documents("---\n---\na: 1\n---\n").unwrap().len(), 1);
        let err = parse_documents("a: [unclosed\n").unwrap_err();
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn subtree_reroots_list_items() {
        let docs = parse_documents(
            "kind: List\nitems:\n  - kind: Service\n    metadata:\n      name: s\n",
        )
        .unwrap();
        let item = docs[0].lines.subtree("/items/0");
        assert_eq!(item.line(""), Some(3));
        assert_eq!(item.line("/metadata/name"), Some(5));
    }
}
