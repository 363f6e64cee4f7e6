//! A directory of manifests, read the way an API server would store them.
//!
//! Every `*.yaml` and `*.yml` under the root (recursively, multi-document) is decoded into
//! typed objects. Objects that fail to decode or to pass admission are reported with file,
//! line, kind, name, field and reason, and left out; everything else is served. Like the API
//! server, the directory assigns `metadata.generation` (bumped when the spec changes),
//! `creationTimestamp` and the default namespace.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::object::{Kind, Object, ObjectKey};
use crate::snapshot::Snapshot;
use crate::validate::validate;
use crate::yaml::{Document, parse_documents};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Severity {
    /// The object was left out.
    Error,
    /// The object (or document) was skipped on purpose, e.g. an unknown kind.
    Warning,
}

/// A problem with one document or field, located in the source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: usize,
    pub kind: Option<String>,
    /// `namespace/name`, or `name` for cluster-scoped kinds.
    pub object: Option<String>,
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.file.display(), self.line)?;
        if let Some(k) = &self.kind {
            write!(f, " {k}")?;
        }
        if let Some(o) = &self.object {
            write!(f, " {o}")?;
        }
        if let Some(fl) = &self.field {
            write!(f, " field {fl}:")?;
        } else if self.kind.is_some() || self.object.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.reason)
    }
}

/// One parsed file, kept until its content changes.
struct FileEntry {
    hash: u64,
    objects: Vec<CachedObject>,
    diagnostics: Vec<Diagnostic>,
}

/// A decoded object of a cached file: stamped in place once, then shared by every snapshot
/// until the file changes.
struct CachedObject {
    obj: Object,
    line: usize,
    /// A hash of everything but metadata and status: a change bumps the generation.
    spec_hash: u64,
}

/// What the "API server" remembers about an object across reloads.
struct History {
    spec_hash: u64,
    generation: i64,
    created: Time,
}

/// A manifest directory and the state an API server would keep for it.
pub struct ManifestDir {
    root: PathBuf,
    files: BTreeMap<PathBuf, FileEntry>,
    history: HashMap<ObjectKey, History>,
}

impl ManifestDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ManifestDir {
            root: root.into(),
            files: BTreeMap::new(),
            history: HashMap::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Rereads the directory (parsing only files whose content changed) and returns the
    /// resulting snapshot and every diagnostic.
    pub fn load(&mut self) -> std::io::Result<(Snapshot, Vec<Diagnostic>)> {
        let mut paths = Vec::new();
        collect_yaml_files(&self.root, &mut paths)?;
        paths.sort();
        let mut files = BTreeMap::new();
        for path in paths {
            // A file removed between listing and reading is simply gone.
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let hash = content_hash(&text);
            let entry = match self.files.remove(&path) {
                Some(e) if e.hash == hash => e,
                _ => parse_file(&path, &text, hash),
            };
            files.insert(path, entry);
        }
        self.files = files;
        Ok(self.build())
    }

    fn build(&mut self) -> (Snapshot, Vec<Diagnostic>) {
        let mut snapshot = Snapshot::default();
        let mut diags = Vec::new();
        let mut seen: HashMap<ObjectKey, (PathBuf, usize)> = HashMap::new();
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let mut files = std::mem::take(&mut self.files);
        for (path, entry) in &mut files {
            diags.extend(entry.diagnostics.iter().cloned());
            for CachedObject {
                obj,
                line,
                spec_hash,
            } in &mut entry.objects
            {
                let key = obj.key();
                if let Some((first, first_line)) = seen.get(&key) {
                    diags.push(Diagnostic {
                        severity: Severity::Error,
                        file: path.clone(),
                        line: *line,
                        kind: Some(key.kind.to_string()),
                        object: Some(key.id.to_string()),
                        field: Some("metadata.name".into()),
                        reason: format!(
                            "duplicate object: already defined at {}:{first_line}",
                            first.display()
                        ),
                    });
                    continue;
                }
                seen.insert(key.clone(), (path.clone(), *line));
                self.stamp(&key, obj, *spec_hash, &now);
                snapshot.insert(obj.clone());
            }
        }
        self.files = files;
        self.history.retain(|k, _| seen.contains_key(k));
        (snapshot, diags)
    }

    /// Sets generation and creationTimestamp as the API server would. An object already
    /// stamped (its file did not change) is left alone, so it is not copied.
    fn stamp(&mut self, key: &ObjectKey, obj: &mut Object, spec_hash: u64, now: &Time) {
        let h = self.history.entry(key.clone()).or_insert_with(|| History {
            spec_hash,
            generation: 1,
            created: now.clone(),
        });
        if h.spec_hash != spec_hash {
            h.spec_hash = spec_hash;
            h.generation += 1;
        }
        if obj.meta().generation.is_some() && obj.meta().creation_timestamp.is_some() {
            return;
        }
        let meta = obj.meta_mut();
        if meta.generation.is_none() {
            meta.generation = Some(h.generation);
        }
        if meta.creation_timestamp.is_none() {
            meta.creation_timestamp = Some(h.created.clone());
        }
    }
}

fn content_hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

fn collect_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue; // editor swap files, hidden dirs
        }
        let ty = entry.file_type()?;
        if ty.is_dir() || (ty.is_symlink() && path.is_dir()) {
            collect_yaml_files(&path, out)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Parses one file into objects (with their document's line) and diagnostics.
fn parse_file(path: &Path, text: &str, hash: u64) -> FileEntry {
    let mut entry = FileEntry {
        hash,
        objects: Vec::new(),
        diagnostics: Vec::new(),
    };
    let docs = match parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            entry.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                file: path.to_owned(),
                line: e.line,
                kind: None,
                object: None,
                field: None,
                reason: format!(
                    "YAML syntax error: {}; the whole file is left out",
                    e.message
                ),
            });
            return entry;
        }
    };
    for doc in docs {
        match decode_document(doc) {
            Ok((obj, line)) => {
                let spec_hash = content_hash(&obj.spec_value().to_string());
                entry.objects.push(CachedObject {
                    obj,
                    line,
                    spec_hash,
                })
            }
            Err(mut d) => {
                d.file = path.to_owned();
                entry.diagnostics.push(d);
            }
        }
    }
    entry
}

// A Diagnostic is built at most once per refused document; its size does not matter.
#[allow(clippy::result_large_err)]
fn decode_document(doc: Document) -> Result<(Object, usize), Diagnostic> {
    let mut diag = Diagnostic {
        severity: Severity::Error,
        file: PathBuf::new(),
        line: doc.line,
        kind: None,
        object: None,
        field: None,
        reason: String::new(),
    };
    let Value::Object(map) = &doc.value else {
        diag.reason = "document is not a mapping".into();
        return Err(diag);
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind_name = map.get("kind").and_then(Value::as_str).unwrap_or("");
    diag.kind = Some(kind_name.to_owned()).filter(|k| !k.is_empty());
    let meta = map.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let ns = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    diag.object = Some(match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    });
    if api_version.is_empty() || kind_name.is_empty() {
        diag.reason = "apiVersion and kind are required".into();
        diag.field = Some(
            if api_version.is_empty() {
                "apiVersion"
            } else {
                "kind"
            }
            .into(),
        );
        return Err(diag);
    }
    let Some(kind) = Kind::from_type(api_version, kind_name) else {
        diag.severity = Severity::Warning;
        diag.reason = format!("kind {kind_name} ({api_version}) is not read by weir; skipped");
        return Err(diag);
    };
    let mut obj = match Object::decode(kind, doc.value.clone()) {
        Ok(o) => o,
        Err(e) => {
            diag.line = doc.lines.line_of(&e.path).unwrap_or(doc.line);
            diag.field = Some(e.path);
            diag.reason = e.reason;
            return Err(diag);
        }
    };
    if kind.namespaced() && obj.meta().namespace.is_none() {
        obj.meta_mut().namespace = Some("default".into());
        diag.object = Some(format!("default/{name}"));
    }
    // Report the first refused field; the API server refuses the whole object.
    let errors = validate(&obj);
    if let Some(first) = errors.first() {
        diag.line = doc.lines.line_of(&first.field).unwrap_or(doc.line);
        diag.field = Some(first.field.clone());
        diag.reason = errors
            .iter()
            .map(|e| {
                if e.field == first.field {
                    e.reason.clone()
                } else {
                    format!("{}: {}", e.field, e.reason)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(diag);
    }
    Ok((obj, doc.line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    const ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\nspec:\n  rules:\n  - matches:\n    - path:\n        type: PathPrefix\n        value: PATH\n";

    #[test]
    fn invalid_path_names_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "route.yaml", &ROUTE.replace("PATH", "nope"));
        let (snap, diags) = ManifestDir::new(dir.path()).load().unwrap();
        assert!(snap.http_routes.is_empty());
        assert_eq!(diags.len(), 1);
        let d = &diags[0];
        assert_eq!(d.line, 10);
        assert_eq!(
            d.field.as_deref(),
            Some("spec.rules[0].matches[0].path.value")
        );
        assert_eq!(d.object.as_deref(), Some("default/r"));
        assert!(d.reason.contains("start with '/'"), "{d}");
    }

    #[test]
    fn bad_file_does_not_hide_good_ones() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", "kind: [unclosed\n");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write(
            &dir.path().join("sub"),
            "b.yml",
            &ROUTE.replace("PATH", "/ok"),
        );
        write(
            dir.path(),
            "c.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n",
        );
        let (snap, diags) = ManifestDir::new(dir.path()).load().unwrap();
        assert_eq!(snap.http_routes.len(), 1);
        assert_eq!(diags.len(), 2);
        assert!(
            diags
                .iter()
                .any(|d| d.severity == Severity::Error && d.reason.contains("YAML syntax"))
        );
        assert!(
            diags
                .iter()
                .any(|d| d.severity == Severity::Warning && d.kind.as_deref() == Some("Pod"))
        );
    }

    #[test]
    fn generation_bumps_only_on_spec_change() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "r.yaml", &ROUTE.replace("PATH", "/a"));
        let mut md = ManifestDir::new(dir.path());
        let generation = |md: &mut ManifestDir| {
            let (s, _) = md.load().unwrap();
            s.http_routes
                .values()
                .next()
                .unwrap()
                .metadata
                .generation
                .unwrap()
        };
        assert_eq!(generation(&mut md), 1);
        write(
            dir.path(),
            "r.yaml",
            &ROUTE
                .replace("PATH", "/a")
                .replace("name: r", "name: r\n  labels: {a: b}"),
        );
        assert_eq!(generation(&mut md), 1);
        write(dir.path(), "r.yaml", &ROUTE.replace("PATH", "/b"));
        assert_eq!(generation(&mut md), 2);
    }

    #[test]
    fn duplicate_objects_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", &ROUTE.replace("PATH", "/a"));
        write(dir.path(), "b.yaml", &ROUTE.replace("PATH", "/b"));
        let (snap, diags) = ManifestDir::new(dir.path()).load().unwrap();
        assert_eq!(snap.http_routes.len(), 1);
        assert!(diags[0].reason.contains("duplicate"), "{}", diags[0]);
    }
}

#[cfg(test)]
mod tls_admission_tests {
    use super::*;

    #[test]
    fn https_passthrough_and_terminate_without_certificates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  gatewayClassName: weir\n  listeners:\n  - {name: a, protocol: HTTPS, port: 443, tls: {mode: Passthrough}}\n  - {name: b, protocol: TLS, port: 8443, tls: {mode: Terminate}}\n";
        std::fs::write(dir.path().join("gw.yaml"), gw).unwrap();
        let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata: {name: r}\nspec:\n  hostnames: [\"Bad_Host\"]\n  rules:\n  - backendRefs: [{name: svc}]\n";
        std::fs::write(dir.path().join("route.yaml"), route).unwrap();
        let (snap, diags) = ManifestDir::new(dir.path()).load().unwrap();
        assert!(snap.gateways.is_empty() && snap.tls_routes.is_empty());
        let gw = diags
            .iter()
            .find(|d| d.kind.as_deref() == Some("Gateway"))
            .unwrap();
        assert_eq!(gw.field.as_deref(), Some("spec.listeners[0].tls.mode"));
        assert!(
            gw.reason
                .contains("tls mode must be Terminate for protocol HTTPS"),
            "{gw}"
        );
        assert!(gw.reason.contains("spec.listeners[1].tls.certificateRefs: certificateRefs or options must be specified"), "{gw}");
        let r = diags
            .iter()
            .find(|d| d.kind.as_deref() == Some("TLSRoute"))
            .unwrap();
        assert_eq!(r.field.as_deref(), Some("spec.hostnames[0]"));
        assert!(r.reason.contains("port is required"), "{r}");
    }
}

#[cfg(test)]
mod cors_admission_tests {
    use super::*;

    #[test]
    fn invalid_cors_origin_is_refused_with_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules:\n  - filters:\n    - type: CORS\n      cors:\n        allowOrigins: [\"https://ok.example\", \"not an origin\"]\n";
        std::fs::write(dir.path().join("r.yaml"), route).unwrap();
        let (snap, diags) = ManifestDir::new(dir.path()).load().unwrap();
        assert!(snap.http_routes.is_empty());
        assert_eq!(
            diags[0].field.as_deref(),
            Some("spec.rules[0].filters[0].cors.allowOrigins[1]")
        );
        assert!(diags[0].reason.contains("is not an origin"), "{}", diags[0]);
        assert_eq!(diags[0].line, 9);
    }

    #[test]
    fn invalid_retry_is_refused_with_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules:\n  - retry:\n      codes: [500, 200]\n      backoff: soon\n";
        std::fs::write(dir.path().join("r.yaml"), route).unwrap();
        let (snap, diags) = ManifestDir::new(dir.path()).load().unwrap();
        assert!(snap.http_routes.is_empty());
        // One diagnostic per object: the first field, with every other fault in its reason.
        assert_eq!(
            diags[0].field.as_deref(),
            Some("spec.rules[0].retry.codes[1]")
        );
        assert!(
            diags[0].reason.contains("200 is not a retriable status"),
            "{}",
            diags[0]
        );
        assert!(
            diags[0]
                .reason
                .contains("spec.rules[0].retry.backoff: \"soon\""),
            "{}",
            diags[0]
        );
        assert_eq!(diags[0].line, 7);
    }
}
