//! ManifestSource: a manifest directory watched for changes, publishing Snapshots.
//!
//! A dedicated thread owns the `ManifestDir`. inotify events (via notify) are coalesced for
//! a short quiet window, so that an editor's write-rename-chmod sequence is one reload, and
//! the new snapshot is published on a `tokio::sync::watch` channel: consumers always see the
//! latest state and never a queue of stale ones.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::watch;

use crate::manifest::{Diagnostic, ManifestDir};
use crate::snapshot::Snapshot;

/// One published state of the source.
#[derive(Debug, Clone, Default)]
pub struct SourceUpdate {
    /// Increments with every reload.
    pub revision: u64,
    pub snapshot: Arc<Snapshot>,
    pub diagnostics: Arc<Vec<Diagnostic>>,
    /// When the change that caused this reload was first seen.
    pub changed_at: Option<Instant>,
}

/// Handle to a running manifest watcher. Dropping it stops the watch.
pub struct ManifestSource {
    rx: watch::Receiver<SourceUpdate>,
    _watcher: notify::RecommendedWatcher,
}

/// Errors starting a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("config dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("watching {path}: {source}")]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
}

/// How long the directory must be quiet before a reload, and the most a reload waits.
const QUIET: Duration = Duration::from_millis(2);
const MAX_DELAY: Duration = Duration::from_millis(20);

impl ManifestSource {
    /// Loads `root` once (synchronously, so errors surface at start-up) and starts watching.
    pub fn start(root: impl Into<PathBuf>) -> Result<ManifestSource, SourceError> {
        let root: PathBuf = root.into();
        let mut dir = ManifestDir::new(&root);
        let (snapshot, diagnostics) = dir.load().map_err(|source| SourceError::Io {
            path: root.clone(),
            source,
        })?;
        log_diagnostics(&diagnostics);
        let (tx, rx) = watch::channel(SourceUpdate {
            revision: 1,
            snapshot: Arc::new(snapshot),
            diagnostics: Arc::new(diagnostics),
            changed_at: None,
        });
        let (ev_tx, ev_rx) = mpsc::channel::<Instant>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && !ev.kind.is_access()
            {
                let _ = ev_tx.send(Instant::now());
            }
        })
        .map_err(|source| SourceError::Watch {
            path: root.clone(),
            source,
        })?;
        watcher
            .watch(&root, RecursiveMode::Recursive)
            .map_err(|source| SourceError::Watch {
                path: root.clone(),
                source,
            })?;
        std::thread::Builder::new()
            .name("weir-manifest-watch".into())
            .spawn(move || reload_loop(dir, ev_rx, tx))
            .map_err(|source| SourceError::Io {
                path: root.clone(),
                source,
            })?;
        Ok(ManifestSource {
            rx,
            _watcher: watcher,
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<SourceUpdate> {
        self.rx.clone()
    }
}

fn reload_loop(
    mut dir: ManifestDir,
    events: mpsc::Receiver<Instant>,
    tx: watch::Sender<SourceUpdate>,
) {
    let mut revision = 1;
    // Ends when the watcher (and so the event sender) is dropped.
    while let Ok(first) = events.recv() {
        while first.elapsed() < MAX_DELAY {
            match events.recv_timeout(QUIET) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        match dir.load() {
            Ok((snapshot, diagnostics)) => {
                revision += 1;
                log_diagnostics(&diagnostics);
                tracing::debug!(revision, dir = %dir.root().display(), "manifests reloaded");
                let update = SourceUpdate {
                    revision,
                    snapshot: Arc::new(snapshot),
                    diagnostics: Arc::new(diagnostics),
                    changed_at: Some(first),
                };
                if tx.send(update).is_err() {
                    return;
                }
            }
            // The directory itself vanished or is unreadable: keep the last good state.
            Err(e) => {
                tracing::error!(dir = %dir.root().display(), error = %e, "reading manifests failed; keeping the last good state")
            }
        }
    }
}

fn log_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        match d.severity {
            crate::manifest::Severity::Error => tracing::error!("{d}"),
            crate::manifest::Severity::Warning => tracing::warn!("{d}"),
        }
    }
}
