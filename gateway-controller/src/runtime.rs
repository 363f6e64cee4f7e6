//! The standalone control loop: Source → translate → dataplane, with status flowing back to
//! the admin endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use weir_proxy::{Dataplane, ProxyConfig};
use weir_store::manifest::Diagnostic;
use weir_store::{NsName, Snapshot, SourceUpdate};

use crate::addresses::AddressPool;
use crate::status::{Condition, StatusStore, Statuses};
use crate::translate::{TranslateContext, translate};

/// What the admin endpoint shows: the latest published state.
#[derive(Default)]
pub struct Published {
    pub snapshot: Arc<Snapshot>,
    pub statuses: Statuses,
    pub diagnostics: Arc<Vec<Diagnostic>>,
    pub config: Arc<ProxyConfig>,
    /// Labels and annotations for each Gateway's infrastructure (`Translation::infrastructure`).
    pub infrastructure:
        Arc<std::collections::BTreeMap<weir_store::NsName, crate::translate::Infrastructure>>,
    pub version: u64,
    pub ready: bool,
    /// Source revision this state was built from.
    pub revision: u64,
}

pub type SharedState = Arc<ArcSwap<Published>>;

pub struct Runtime {
    pub dataplane: Arc<Dataplane>,
    pub state: SharedState,
    pub controller_name: String,
    pub pool: AddressPool,
}

impl Runtime {
    /// Runs until the source closes. Each source update is translated and applied; a failed
    /// bind is retried every second.
    pub async fn run(mut self, mut rx: watch::Receiver<SourceUpdate>) {
        let mut statuses_store = StatusStore::default();
        let mut last_config: Option<Arc<ProxyConfig>> = None;
        let mut version = 0u64;
        let mut applied_once = false;
        loop {
            let update = rx.borrow_and_update().clone();
            let started = Instant::now();
            let ctx = TranslateContext {
                controller_name: self.controller_name.clone(),
                assigned_addresses: self.pool.assign(&update.snapshot).clone(),
                now_unix: weir_tls::material::unix_now(),
            };
            let mut t = translate(&update.snapshot, &ctx);
            let config = Arc::new(std::mem::take(&mut t.config));
            let mut bind_errors = HashMap::new();
            if last_config.as_deref() != Some(&*config) || !applied_once {
                version += 1;
                match self.dataplane.apply(config.clone(), version).await {
                    Ok(report) => {
                        bind_errors = report.bind_errors;
                        last_config = Some(config.clone());
                        applied_once = true;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "dataplane refused the config; the previous config keeps serving")
                    }
                }
            }
            mark_bind_errors(&mut t.statuses, &config, &bind_errors);
            statuses_store.stamp(&mut t.statuses, &now_rfc3339());
            let elapsed = started.elapsed();
            if let Some(changed) = update.changed_at {
                tracing::debug!(version, revision = update.revision, since_change = ?changed.elapsed(), translate_and_apply = ?elapsed, "config applied");
            }
            self.state.store(Arc::new(Published {
                snapshot: update.snapshot.clone(),
                statuses: t.statuses,
                diagnostics: update.diagnostics.clone(),
                config,
                infrastructure: Arc::new(t.infrastructure),
                version,
                // Ready only once a full config is serving.
                ready: applied_once,
                revision: update.revision,
            }));
            let retry = !bind_errors.is_empty();
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {
                    last_config = None; // re-apply so the binds are tried again
                }
            }
        }
    }
}

/// Status is the truth: a listener whose socket could not be bound is not programmed.
fn mark_bind_errors(
    statuses: &mut Statuses,
    config: &ProxyConfig,
    errors: &HashMap<SocketAddr, String>,
) {
    for (addr, err) in errors {
        // The TCP and the UDP socket of an address share its bind error.
        for host in config
            .listeners
            .iter()
            .filter(|l| l.address == *addr)
            .flat_map(|l| &l.hosts)
        {
            // host.name is namespace/gateway/listener.
            let mut parts = host.name.splitn(3, '/');
            let (Some(ns), Some(gw), Some(listener)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(gs) = statuses.gateways.get_mut(&NsName::new(ns, gw)) else {
                continue;
            };
            let Some(ls) = gs.listeners.iter_mut().find(|x| x.name == listener) else {
                continue;
            };
            let generation = ls.conditions.first().map_or(0, |c| c.observed_generation);
            let msg = format!("cannot listen on {addr}: {err}");
            crate::translate::set(
                &mut ls.conditions,
                Condition::new(
                    "Accepted",
                    false,
                    "PortUnavailable",
                    msg.clone(),
                    generation,
                ),
            );
            crate::translate::set(
                &mut ls.conditions,
                Condition::new("Programmed", false, "Invalid", msg, generation),
            );
            let any = gs.listeners.iter().any(|l| {
                l.conditions
                    .iter()
                    .any(|c| c.type_ == "Programmed" && c.is_true())
            });
            // An address no interface holds makes the whole Gateway unusable as specified, even
            // when its other addresses serve.
            let not_usable = err.contains("Cannot assign requested address");
            if !any || not_usable {
                let reason = if not_usable {
                    "AddressNotUsable"
                } else {
                    "Invalid"
                };
                crate::translate::set(
                    &mut gs.conditions,
                    Condition::new(
                        "Programmed",
                        false,
                        reason,
                        format!("no listener could be bound: {err}"),
                        generation,
                    ),
                );
            }
        }
    }
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now())
        .to_string()
}
