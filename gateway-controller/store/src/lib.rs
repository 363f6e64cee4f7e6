//! weir-store: the object store that both the controller and the l4 agent read.
//!
//! A Source (a manifest directory here; kube watchers in kube mode) produces immutable
//! `Snapshot`s of typed objects. Nothing downstream reads Kubernetes objects any other way.

pub mod manifest;
pub mod object;
pub mod snapshot;
pub mod validate;
pub mod watch;
pub mod yaml;

pub use manifest::{Diagnostic, ManifestDir};
pub use object::{Kind, NsName, Object, ObjectKey};
pub use snapshot::{Objects, Snapshot};
pub use watch::{ManifestSource, SourceUpdate};
