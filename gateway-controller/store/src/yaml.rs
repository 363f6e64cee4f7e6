//! YAML documents decoded into JSON values, with the source line of every field.
//!
//! The Kubernetes API speaks JSON, and the gateway-api and k8s-openapi types deserialize from
//! it. A manifest directory is YAML, and its errors must name a line. So one pass over the
//! yaml-rust2 event stream builds both the value and a `LineIndex` from field path
//! (`spec.rules[0].matches[0].path.value`, the same form serde_path_to_error prints) to line.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based line where the document's content starts.
    pub line: usize,
    pub value: Value,
    pub lines: LineIndex,
}

/// Field path → 1-based line.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

impl LineIndex {
    /// The line of `path`, or of its closest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Parses every document in `text`. Empty documents (`---` with nothing after) are dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: e.info().to_string(),
    })?;
    Ok(builder.docs)
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    stack: Vec<Frame>,
    /// Path segments of the node being built.
    path: Vec<String>,
    lines: HashMap<String, usize>,
    anchors: HashMap<usize, Value>,
    doc_line: usize,
    root: Option<Value>,
}

impl Builder {
    fn path_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            if !seg.starts_with('[') && !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        }
        s
    }

    /// Before a node starts: work out its path segment and record its line.
    fn enter(&mut self, line: usize) -> bool {
        let seg = match self.stack.last() {
            None => {
                self.doc_line = line;
                None
            }
            Some(Frame::Seq(items, _)) => Some(format!("[{}]", items.len())),
            Some(Frame::Map(_, Some(key), _)) => Some(key.clone()),
            // A mapping key: not a value node.
            Some(Frame::Map(_, None, _)) => return false,
        };
        if let Some(seg) = seg {
            self.path.push(seg);
            self.lines.entry(self.path_string()).or_insert(line);
        }
        true
    }

    /// A finished node: store it in its parent.
    fn complete(&mut self, value: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq(items, _)) => {
                items.push(value);
                self.path.pop();
            }
            Some(Frame::Map(map, key, _)) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                    self.path.pop();
                }
                None => *key = Some(key_string(&value)),
            },
        }
    }
}

fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn scalar(text: String, style: TScalarStyle, tagged_str: bool) -> Value {
    if style != TScalarStyle::Plain || tagged_str {
        return Value::String(text);
    }
    match Yaml::from_str(&text) {
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(text)),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::DocumentStart => {
                self.doc_line = line;
                self.lines.clear();
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                if let Some(value) = self.root.take()
                    && !value.is_null()
                {
                    self.docs.push(Document {
                        line: self.doc_line.max(1),
                        value,
                        lines: LineIndex {
                            lines: std::mem::take(&mut self.lines),
                        },
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = !self.enter(line);
                let tagged_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let v = if is_key {
                    Value::String(text)
                } else {
                    scalar(text, style, tagged_str)
                };
                self.complete(v, anchor);
            }
            Event::Alias(id) => {
                self.enter(line);
                let v = self.anchors.get(&id).cloned().unwrap_or(Value::Null);
                self.complete(v, 0);
            }
            Event::SequenceStart(anchor, _) => {
                self.enter(line);
                self.stack.push(Frame::Seq(Vec::new(), anchor));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor)) = self.stack.pop() {
                    self.complete(Value::Array(items), anchor);
                }
            }
            Event::MappingStart(anchor, _) => {
                self.enter(line);
                self.stack.push(Frame::Map(Map::new(), None, anchor));
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(map, _, anchor)) = self.stack.pop() {
                    self.complete(Value::Object(map), anchor);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_values_and_lines() {
        let text = "a: 1\n---\nkind: Gateway\nspec:\n  listeners:\n  - name: http\n    port: \"80\"\n    x: true\n---\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value, serde_json::json!({"a": 1}));
        let d = &docs[1];
        assert_eq!(
            d.value["spec"]["listeners"][0]["port"],
            Value::String("80".into())
        );
        assert_eq!(d.value["spec"]["listeners"][0]["x"], Value::Bool(true));
        assert_eq!(d.lines.line_of("spec.listeners[0].port"), Some(7));
        assert_eq!(d.lines.line_of("spec.listeners[0].name"), Some(6));
        // Unknown leaf falls back to the nearest ancestor.
        assert_eq!(d.lines.line_of("spec.listeners[0].hostname"), Some(6));
        assert_eq!(d.line, 3);
    }

    #[test]
    fn syntax_error_names_line() {
        let err = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
    }

    #[test]
    fn anchors_resolve() {
        let docs = parse_documents("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(docs[0].value["b"]["k"], "v");
    }
}
