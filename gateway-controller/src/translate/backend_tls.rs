//! BackendTLSPolicy: which policy applies to a Service port, the upstream TLS it asks for, and
//! the policy's status on each Gateway whose routes reach its targets.

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::backendtlspolicies::{
    BackendTlsPolicy, BackendTlsPolicyValidationSubjectAltNamesType as SanType,
};
use weir_proxy::config::UpstreamTls;
use weir_store::{NsName, Snapshot};

use crate::status::{Condition, GROUP, ParentRef, PolicyAncestorStatus, PolicyStatus};

/// The policy that applies to `service`'s port `port_name`: one naming the port (sectionName)
/// wins over one naming the whole Service; among equals the oldest, then by namespace/name.
pub(crate) fn policy_for<'a>(
    snapshot: &'a Snapshot,
    service: &'a NsName,
    port_name: &str,
) -> Option<(&'a NsName, &'a BackendTlsPolicy)> {
    candidates(snapshot, service)
        .filter(|(_, _, section)| section.is_none_or(|s| s == port_name))
        .min_by(|a, b| {
            let specific = |x: &(&NsName, &BackendTlsPolicy, Option<&str>)| x.2.is_none();
            (specific(a), age(a.1), a.0.to_string()).cmp(&(specific(b), age(b.1), b.0.to_string()))
        })
        .map(|(id, p, _)| (id, p))
}

fn age(p: &BackendTlsPolicy) -> Option<k8s_openapi::jiff::Timestamp> {
    p.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Every (policy, target sectionName) in the Service's namespace that targets it.
fn candidates<'a>(
    snapshot: &'a Snapshot,
    service: &'a NsName,
) -> impl Iterator<Item = (&'a NsName, &'a BackendTlsPolicy, Option<&'a str>)> + 'a {
    snapshot
        .backend_tls_policies
        .range(NsName::new(service.namespace.clone(), String::new())..)
        .take_while(move |(k, _)| k.namespace == service.namespace)
        .flat_map(move |(id, p)| {
            p.spec
                .target_refs
                .iter()
                .filter(move |t| {
                    t.group.is_empty() && t.kind == "Service" && t.name == service.name
                })
                .map(move |t| (id, p.as_ref(), t.section_name.as_deref()))
        })
}

/// The upstream TLS a policy asks for, or why it cannot be honoured (reason, message).
pub(crate) fn upstream_tls(
    snapshot: &Snapshot,
    id: &NsName,
    p: &BackendTlsPolicy,
) -> Result<UpstreamTls, (&'static str, String)> {
    let v = &p.spec.validation;
    let mut ca_pems = Vec::new();
    for r in v.ca_certificate_refs.iter().flatten() {
        let ref_id = NsName::new(id.namespace.clone(), r.name.clone());
        if !r.group.is_empty() || !matches!(r.kind.as_str(), "ConfigMap" | "Secret") {
            return Err((
                "InvalidKind",
                format!(
                    "caCertificateRef {}/{} {ref_id}: only ConfigMaps and Secrets are supported",
                    r.group, r.kind
                ),
            ));
        }
        let pem = match r.kind.as_str() {
            "ConfigMap" => snapshot
                .config_maps
                .get(&ref_id)
                .and_then(|c| c.data.as_ref())
                .and_then(|d| d.get("ca.crt"))
                .cloned(),
            _ => snapshot
                .secrets
                .get(&ref_id)
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get("ca.crt"))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned()),
        };
        let Some(pem) = pem else {
            return Err((
                "InvalidCACertificateRef",
                format!(
                    "caCertificateRef {} {ref_id}: not found, or has no ca.crt",
                    r.kind
                ),
            ));
        };
        if let Err(e) = weir_tls::client_auth::root_store(&[pem.as_bytes()]) {
            return Err((
                "InvalidCACertificateRef",
                format!("caCertificateRef {} {ref_id}: {e}", r.kind),
            ));
        }
        ca_pems.push(pem);
    }
    let system_roots = match v.well_known_ca_certificates.as_deref() {
        None => false,
        Some("System") => true,
        Some(other) => {
            return Err((
                "UnsupportedValue",
                format!("wellKnownCACertificates {other:?} is not supported; use System"),
            ));
        }
    };
    if ca_pems.is_empty() && !system_roots {
        return Err((
            "InvalidCACertificateRef",
            "validation needs caCertificateRefs or wellKnownCACertificates: System".into(),
        ));
    }
    let mut subject_alt_names = Vec::new();
    let mut subject_alt_uris = Vec::new();
    for san in v.subject_alt_names.iter().flatten() {
        match san.r#type {
            SanType::Hostname => subject_alt_names.extend(san.hostname.clone()),
            SanType::Uri => subject_alt_uris.extend(san.uri.clone()),
        }
    }
    Ok(UpstreamTls {
        policy: id.to_string(),
        hostname: v.hostname.clone(),
        ca_pems,
        system_roots,
        subject_alt_names,
        subject_alt_uris,
        client_certificate: None,
    })
}

/// Statuses for every policy that targets a Service used by a route attached to one of our
/// Gateways. `uses` is (Gateway, Service namespace/name, Service port name). Policies conflict
/// only when they select the same Service and sectionName; the older one (then the first by
/// namespace/name) takes precedence and the others are `Accepted=False/Conflicted`.
pub(crate) fn policy_statuses(
    snapshot: &Snapshot,
    controller: &str,
    uses: &BTreeSet<(NsName, NsName, String)>,
) -> BTreeMap<NsName, PolicyStatus> {
    let mut out: BTreeMap<NsName, PolicyStatus> = BTreeMap::new();
    for (gateway, service, port_name) in uses {
        // Group the policies that reach this port by the sectionName they select.
        let mut groups: BTreeMap<Option<&str>, Vec<(&NsName, &BackendTlsPolicy)>> = BTreeMap::new();
        for (id, p, section) in candidates(snapshot, service) {
            if section.is_none_or(|s| s == port_name) {
                groups.entry(section).or_default().push((id, p));
            }
        }
        for mut group in groups.into_values() {
            group.sort_by_key(|a| (age(a.1), a.0.to_string()));
            let winner = group[0].0.to_string();
            for (i, (id, p)) in group.into_iter().enumerate() {
                let generation = p.metadata.generation.unwrap_or(0);
                let conditions = if i > 0 {
                    vec![Condition::new(
                        "Accepted",
                        false,
                        "Conflicted",
                        format!(
                            "policy {winner} selects the same target and takes precedence (older, or first by namespace/name)"
                        ),
                        generation,
                    )]
                } else {
                    match upstream_tls(snapshot, id, p) {
                        Ok(_) => vec![
                            Condition::new(
                                "Accepted",
                                true,
                                "Accepted",
                                "Policy is accepted",
                                generation,
                            ),
                            Condition::new(
                                "ResolvedRefs",
                                true,
                                "ResolvedRefs",
                                "All references are resolved",
                                generation,
                            ),
                        ],
                        Err(("UnsupportedValue", msg)) => vec![
                            Condition::new("Accepted", false, "Invalid", msg.clone(), generation),
                            Condition::new(
                                "ResolvedRefs",
                                true,
                                "ResolvedRefs",
                                "All references are resolved",
                                generation,
                            ),
                        ],
                        Err((reason, msg)) => vec![
                            Condition::new(
                                "Accepted",
                                false,
                                "NoValidCACertificate",
                                msg.clone(),
                                generation,
                            ),
                            Condition::new("ResolvedRefs", false, reason, msg, generation),
                        ],
                    }
                };
                let status = out.entry(id.clone()).or_default();
                let ancestor = ParentRef {
                    group: GROUP.into(),
                    kind: "Gateway".into(),
                    namespace: Some(gateway.namespace.clone()),
                    name: gateway.name.clone(),
                    section_name: None,
                    port: None,
                };
                if !status.ancestors.iter().any(|a| a.ancestor_ref == ancestor) {
                    status.ancestors.push(PolicyAncestorStatus {
                        ancestor_ref: ancestor,
                        controller_name: controller.to_owned(),
                        conditions,
                    });
                }
            }
        }
    }
    out
}
