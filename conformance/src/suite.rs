//! The suite: a fake cluster, a weir, the upstream timing rules, status assertions, and the
//! scenario runner with feature gating.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::Value;

use crate::cluster::FakeCluster;
use crate::http::{Case, expect_eventually};
use crate::weir::WeirProcess;

pub const INFRA: &str = "gateway-conformance-infra";
pub const GROUP: &str = "gateway.networking.k8s.io";

pub type BoxFut<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One upstream test.
pub struct Scenario {
    /// The upstream ShortName.
    pub name: &'static str,
    /// Features the upstream test declares; it runs only if weir claims all of them.
    pub features: &'static [&'static str],
    /// Files under `tests/` applied before the test and deleted after.
    pub manifests: &'static [&'static str],
    pub run: for<'a> fn(&'a Suite) -> BoxFut<'a>,
}

/// The upstream default timeouts (config.DefaultTimeoutConfig).
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub required_consecutive_successes: usize,
    pub max_time_to_consistency: Duration,
    pub status: Duration,
    pub poll: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            required_consecutive_successes: 3,
            max_time_to_consistency: Duration::from_secs(30),
            status: Duration::from_secs(60),
            poll: Duration::from_millis(100),
        }
    }
}

pub struct Suite {
    pub cluster: FakeCluster,
    pub weir: WeirProcess,
    pub timeouts: Timeouts,
    pub supported_features: BTreeSet<String>,
}

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

impl Suite {
    /// Runs one scenario: skip if a feature is missing; apply its manifests; run it (a panic
    /// is a failure); delete its manifests.
    pub async fn run(&self, s: &Scenario) -> Outcome {
        let missing: Vec<&str> = s
            .features
            .iter()
            .copied()
            .filter(|f| !self.supported_features.contains(*f))
            .collect();
        if !missing.is_empty() {
            return Outcome::Skipped(format!("unsupported features: {}", missing.join(", ")));
        }
        for m in s.manifests {
            if let Err(e) = self.cluster.apply_test_manifest(m).await {
                return Outcome::Failed(format!("applying {m}: {e:#}"));
            }
        }
        let result = AssertUnwindSafe((s.run)(self)).catch_unwind().await;
        for m in s.manifests {
            self.cluster.delete(&format!("test-{m}"));
        }
        match result {
            Ok(Ok(())) => Outcome::Passed,
            Ok(Err(e)) => Outcome::Failed(e),
            Err(panic) => Outcome::Failed(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    }

    /// Rewrites an applied test manifest, as the upstream tests patch objects.
    pub fn patch(&self, file: &str, mutate: impl FnOnce(&mut Vec<Value>)) -> Result<(), String> {
        let path = self.cluster.manifests.join("tests").join(file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut docs = crate::cluster::documents(&crate::cluster::substitute(
            &text,
            &self.cluster.controller_name,
        ))
        .map_err(|e| e.to_string())?;
        mutate(&mut docs);
        self.cluster
            .apply(&format!("test-{file}"), &docs)
            .map_err(|e| e.to_string())
    }

    /// Polls `/status` until `check` passes or the status timeout ends.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        check: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, String> {
        let start = Instant::now();
        let mut last = String::from("no status yet");
        while start.elapsed() < self.timeouts.status {
            match self.weir.status().await {
                Ok(doc) => match check(&doc) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = e,
                },
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(self.timeouts.poll).await;
        }
        Err(format!("{what}: {last}"))
    }

    /// Every case, concurrently, each under the consistency rule.
    pub async fn expect(&self, gw: SocketAddr, cases: Vec<Case>) -> Result<(), String> {
        let t = &self.timeouts;
        all_of(cases.iter().map(|c| {
            expect_eventually(
                gw,
                c,
                t.required_consecutive_successes,
                t.max_time_to_consistency,
            )
        }))
        .await
    }

    /// The Gateway's address and its first listener's port, once it is Accepted and Programmed
    /// with every condition at the latest generation.
    pub async fn gateway_address(&self, ns: &str, name: &str) -> Result<SocketAddr, String> {
        self.gateway_listener_address(ns, name, None).await
    }

    /// As `gateway_address`, with the port of the named listener (`NewGatewayRef(gw, name)`).
    pub async fn gateway_listener_address(
        &self,
        ns: &str,
        name: &str,
        listener: Option<&str>,
    ) -> Result<SocketAddr, String> {
        self.wait_for(&format!("Gateway {ns}/{name} ready"), |doc| {
            let gw = find(doc, "Gateway", ns, name)?;
            latest(gw, &gw["status"]["conditions"])?;
            for t in ["Accepted", "Programmed"] {
                has_condition(&gw["status"]["conditions"], t, "True", None)?;
            }
            if !gw["status"]["addresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["type"].is_string()))
            {
                return Err("no status.addresses with a type".into());
            }
            Ok(())
        })
        .await?;
        let doc = self.weir.status().await.map_err(|e| e.to_string())?;
        let gw = find(&doc, "Gateway", ns, name)?;
        let first = match listener {
            Some(l) => l.to_owned(),
            None => gw["status"]["listeners"][0]["name"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        };
        let cfg: Value = self
            .weir
            .get("/config")
            .await
            .ok()
            .and_then(|c| serde_json::from_str(&c).ok())
            .ok_or("no /config")?;
        let host = format!("{ns}/{name}/{first}");
        cfg["config"]["listeners"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| {
                l["hosts"]
                    .as_array()
                    .is_some_and(|hs| hs.iter().any(|h| h["name"] == host.as_str()))
            })
            .and_then(|l| l["address"].as_str())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("Gateway {ns}/{name}: listener {first} is not served"))
    }

    /// GatewayAndHTTPRoutesMustBeAccepted: each route Accepted=True (reason Accepted) for the
    /// Gateway, every listener of the Gateway ResolvedRefs/Accepted/Programmed, and the address.
    pub async fn routes_accepted(
        &self,
        gw: (&str, &str),
        routes: &[(&str, &str)],
    ) -> Result<SocketAddr, String> {
        let addr = self.gateway_address(gw.0, gw.1).await?;
        for (rns, rname) in routes {
            self.route_condition(rns, rname, gw, "Accepted", "True", Some("Accepted"))
                .await?;
        }
        self.wait_for(
            &format!("Gateway {}/{} listeners ready", gw.0, gw.1),
            |doc| {
                let g = find(doc, "Gateway", gw.0, gw.1)?;
                for l in g["status"]["listeners"].as_array().into_iter().flatten() {
                    for t in ["ResolvedRefs", "Accepted", "Programmed"] {
                        has_condition(&l["conditions"], t, "True", None)
                            .map_err(|e| format!("listener {}: {e}", l["name"]))?;
                    }
                }
                Ok(())
            },
        )
        .await?;
        Ok(addr)
    }

    /// Waits until the route has a parent for `gw` with the condition.
    pub async fn route_condition(
        &self,
        rns: &str,
        rname: &str,
        gw: (&str, &str),
        t: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        self.kind_route_condition("HTTPRoute", rns, rname, gw, t, status, reason)
            .await
    }

    /// `route_condition` for any route kind.
    #[allow(clippy::too_many_arguments)]
    pub async fn kind_route_condition(
        &self,
        kind: &str,
        rns: &str,
        rname: &str,
        gw: (&str, &str),
        t: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        self.parent_condition(kind, rns, rname, "Gateway", gw, t, status, reason)
            .await
    }

    /// Waits until the route has a parent entry of `parent_kind` (Gateway or ListenerSet) named
    /// `parent`, with group, kind and namespace written out, carrying the condition.
    #[allow(clippy::too_many_arguments)]
    pub async fn parent_condition(
        &self,
        kind: &str,
        rns: &str,
        rname: &str,
        parent_kind: &str,
        gw: (&str, &str),
        t: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        self.wait_for(
            &format!("{kind} {rns}/{rname} {t}={status} for {}/{}", gw.0, gw.1),
            |doc| {
                let r = find(doc, kind, rns, rname)?;
                let parents = r["status"]["parents"].as_array().ok_or("no parents")?;
                for p in parents {
                    latest(r, &p["conditions"])?;
                }
                let p = parents
                    .iter()
                    .find(|p| {
                        let pr = &p["parentRef"];
                        pr["name"] == gw.1
                            && pr["namespace"].as_str().unwrap_or(rns) == gw.0
                            && pr["group"] == GROUP
                            && pr["kind"] == parent_kind
                            && p["controllerName"] == self.cluster.controller_name.as_str()
                    })
                    .ok_or_else(|| format!("no parent for {parent_kind} {}/{}", gw.0, gw.1))?;
                has_condition(&p["conditions"], t, status, reason)
            },
        )
        .await
    }

    /// A policy's ancestor entry for Gateway `gw` has the condition (at the latest generation).
    #[allow(clippy::too_many_arguments)]
    pub async fn policy_condition(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        gw: (&str, &str),
        t: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        self.wait_for(
            &format!(
                "{kind} {ns}/{name} {t}={status} for Gateway {}/{}",
                gw.0, gw.1
            ),
            |doc| {
                let p = find(doc, kind, ns, name)?;
                let ancestors = p["status"]["ancestors"].as_array().ok_or("no ancestors")?;
                let a = ancestors
                    .iter()
                    .find(|a| {
                        a["ancestorRef"]["name"] == gw.1
                            && a["ancestorRef"]["namespace"].as_str().unwrap_or(ns) == gw.0
                    })
                    .ok_or_else(|| format!("no ancestor for Gateway {}/{}", gw.0, gw.1))?;
                latest(p, &a["conditions"])?;
                has_condition(&a["conditions"], t, status, reason)
            },
        )
        .await
    }

    /// HTTPRouteMustHaveNoAcceptedParents: no parents, or exactly one with Accepted=False.
    /// A route its only parent refuses: (ResolvedRefs=True when `refs_resolved`), then
    /// Accepted=False with `reason`, no accepted parent, and the Gateway with zero routes.
    pub async fn route_rejected(
        &self,
        rns: &str,
        route: &str,
        gw: (&str, &str),
        reason: &str,
        refs_resolved: bool,
    ) -> Result<(), String> {
        if refs_resolved {
            self.route_condition(rns, route, gw, "ResolvedRefs", "True", Some("ResolvedRefs"))
                .await?;
        }
        self.route_condition(rns, route, gw, "Accepted", "False", Some(reason))
            .await?;
        self.route_not_accepted(rns, route).await?;
        self.gateway_zero_routes(gw.0, gw.1).await
    }

    pub async fn route_not_accepted(&self, rns: &str, rname: &str) -> Result<(), String> {
        self.kind_route_not_accepted("HTTPRoute", rns, rname).await
    }

    /// `route_not_accepted` for any route kind.
    pub async fn kind_route_not_accepted(
        &self,
        kind: &str,
        rns: &str,
        rname: &str,
    ) -> Result<(), String> {
        self.wait_for(
            &format!("{kind} {rns}/{rname} has no accepted parents"),
            |doc| {
                let Ok(r) = find(doc, kind, rns, rname) else {
                    return Ok(());
                };
                let parents = r["status"]["parents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                match parents.as_slice() {
                    [] => Ok(()),
                    [p] => {
                        latest(r, &p["conditions"])?;
                        has_condition(&p["conditions"], "Accepted", "False", None)
                    }
                    _ => Err(format!("{} parents", parents.len())),
                }
            },
        )
        .await
    }

    /// GatewayMustHaveZeroRoutes: no listeners, or one listener with attachedRoutes 0.
    pub async fn gateway_zero_routes(&self, ns: &str, name: &str) -> Result<(), String> {
        self.wait_for(&format!("Gateway {ns}/{name} has zero routes"), |doc| {
            let g = find(doc, "Gateway", ns, name)?;
            latest(g, &g["status"]["conditions"])?;
            let ls = g["status"]["listeners"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match ls.as_slice() {
                [] => Ok(()),
                [l] if l["attachedRoutes"] == 0 => Ok(()),
                _ => Err(format!("listeners {}", Value::Array(ls))),
            }
        })
        .await
    }

    pub async fn gateway_condition(
        &self,
        ns: &str,
        name: &str,
        t: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        self.wait_for(&format!("Gateway {ns}/{name} {t}={status}"), |doc| {
            let g = find(doc, "Gateway", ns, name)?;
            latest(g, &g["status"]["conditions"])?;
            has_condition(&g["status"]["conditions"], t, status, reason)
        })
        .await
    }

    /// GatewayStatusMustHaveListeners: exactly these listeners, each with at least the given
    /// kinds (or none when `kinds` is empty), the attached route count and the conditions.
    pub async fn gateway_listeners(
        &self,
        ns: &str,
        name: &str,
        want: &[ListenerExpect],
    ) -> Result<(), String> {
        self.wait_for(&format!("Gateway {ns}/{name} listeners"), |doc| {
            let g = find(doc, "Gateway", ns, name)?;
            latest(g, &g["status"]["conditions"])?;
            let ls = g["status"]["listeners"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if ls.len() != want.len() {
                return Err(format!("{} listeners, expected {}", ls.len(), want.len()));
            }
            for w in want {
                let l = ls
                    .iter()
                    .find(|l| l["name"] == w.name)
                    .ok_or_else(|| format!("no listener {}", w.name))?;
                let kinds: Vec<&str> = l["supportedKinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k["kind"].as_str())
                    .collect();
                if w.kinds.is_empty() && !kinds.is_empty() {
                    return Err(format!(
                        "listener {}: supportedKinds {kinds:?}, expected none",
                        w.name
                    ));
                }
                for k in w.kinds {
                    if !kinds.contains(k) {
                        return Err(format!(
                            "listener {}: supportedKinds {kinds:?} lacks {k}",
                            w.name
                        ));
                    }
                }
                if l["attachedRoutes"] != w.attached {
                    return Err(format!(
                        "listener {}: attachedRoutes {} (expected {})",
                        w.name, l["attachedRoutes"], w.attached
                    ));
                }
                for (t, s, r) in w.conditions {
                    has_condition(&l["conditions"], t, s, *r)
                        .map_err(|e| format!("listener {}: {e}", w.name))?;
                }
            }
            Ok(())
        })
        .await
    }
}

pub struct ListenerExpect {
    pub name: &'static str,
    pub kinds: &'static [&'static str],
    pub attached: i64,
    pub conditions: &'static [(&'static str, &'static str, Option<&'static str>)],
}

/// Runs the checks concurrently (upstream subtests run in parallel); every failure is reported.
pub async fn all_of<F>(checks: impl IntoIterator<Item = F>) -> Result<(), String>
where
    F: Future<Output = Result<(), String>>,
{
    let errs: Vec<String> = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n    "))
    }
}

pub fn find<'a>(doc: &'a Value, kind: &str, ns: &str, name: &str) -> Result<&'a Value, String> {
    doc["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| {
            i["kind"] == kind
                && i["metadata"]["name"] == name
                && i["metadata"]["namespace"].as_str().unwrap_or("") == ns
        })
        .ok_or_else(|| format!("{kind} {ns}/{name} has no status"))
}

/// Every condition's observedGeneration equals the object's generation.
fn latest(obj: &Value, conds: &Value) -> Result<(), String> {
    let generation = &obj["metadata"]["generation"];
    for c in conds.as_array().into_iter().flatten() {
        if c["observedGeneration"] != *generation {
            return Err(format!(
                "condition {} observedGeneration {} != generation {generation}",
                c["type"], c["observedGeneration"]
            ));
        }
    }
    Ok(())
}

pub fn has_condition(
    conds: &Value,
    t: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    let c = conds
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == t)
        .ok_or_else(|| format!("no {t} condition"))?;
    if c["status"] != status || reason.is_some_and(|r| c["reason"] != r) {
        return Err(format!(
            "{t}={} reason {} (expected {status} {reason:?}): {}",
            c["status"], c["reason"], c["message"]
        ));
    }
    Ok(())
}
