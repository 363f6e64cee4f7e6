//! The upstream ConformanceReport (gateway.networking.k8s.io/v1) and a short table.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::suite::Outcome;

/// Profiles as upstream defines them: core features, and the features a test may also need
/// to count as extended in the profile.
pub struct Profile {
    pub name: &'static str,
    pub core: &'static [&'static str],
    pub extended: &'static [&'static str],
    /// Further extended features, shared with other profiles.
    pub shared_extended: &'static [&'static str],
}

pub const GATEWAY_HTTP: Profile = Profile {
    name: "GATEWAY-HTTP",
    core: &["Gateway", "HTTPRoute", "ReferenceGrant"],
    extended: &[
        "BackendTLSPolicy",
        "BackendTLSPolicySANValidation",
        "GatewayAddressEmpty",
        "GatewayBackendClientCertificate",
        "GatewayFrontendClientCertificateValidation",
        "GatewayFrontendClientCertificateValidationInsecureFallback",
        "GatewayHTTPListenerIsolation",
        "GatewayHTTPSListenerDetectMisdirectedRequests",
        "GatewayInfrastructurePropagation",
        "GatewayPort8080",
        "GatewayStaticAddresses",
        "HTTPRoute303RedirectStatusCode",
        "HTTPRoute307RedirectStatusCode",
        "HTTPRoute308RedirectStatusCode",
        "HTTPRouteBackendProtocolH2C",
        "HTTPRouteBackendProtocolWebSocket",
        "HTTPRouteBackendRequestHeaderModification",
        "HTTPRouteBackendTimeout",
        "HTTPRouteCORS",
        "HTTPRouteDestinationPortMatching",
        "HTTPRouteHostRewrite",
        "HTTPRouteMethodMatching",
        "HTTPRouteNamedRouteRule",
        "HTTPRouteParentRefPort",
        "HTTPRoutePathRedirect",
        "HTTPRoutePathRewrite",
        "HTTPRoutePortRedirect",
        "HTTPRouteQueryParamMatching",
        "HTTPRouteRequestMirror",
        "HTTPRouteRequestMultipleMirrors",
        "HTTPRouteRequestPercentageMirror",
        "HTTPRouteRequestTimeout",
        "HTTPRouteResponseHeaderModification",
        "HTTPRouteRetry",
        "HTTPRouteRetryBackendTimeout",
        "HTTPRouteRetryConnectionError",
        "HTTPRouteSchemeRedirect",
        "ListenerSet",
    ],
    shared_extended: &[],
};

#[derive(Serialize, Default)]
struct Statistics {
    #[serde(rename = "Failed")]
    failed: usize,
    #[serde(rename = "Passed")]
    passed: usize,
    #[serde(rename = "Skipped")]
    skipped: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Section {
    result: &'static str,
    statistics: Statistics,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failed_tests: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped_tests: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    supported_features: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unsupported_features: Vec<String>,
}

#[derive(Serialize)]
struct ProfileReport {
    core: Section,
    extended: Section,
    name: &'static str,
    summary: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Implementation {
    contact: Vec<&'static str>,
    organization: &'static str,
    project: &'static str,
    url: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    api_version: &'static str,
    date: String,
    #[serde(rename = "gatewayAPIChannel")]
    gateway_api_channel: &'static str,
    #[serde(rename = "gatewayAPIVersion")]
    gateway_api_version: &'static str,
    implementation: Implementation,
    kind: &'static str,
    mode: &'static str,
    profiles: Vec<ProfileReport>,
}

pub const GATEWAY_TLS: Profile = Profile {
    name: "GATEWAY-TLS",
    core: &["Gateway", "ReferenceGrant", "TLSRoute"],
    extended: &[
        "GatewayAddressEmpty",
        "GatewayHTTPListenerIsolation",
        "GatewayInfrastructurePropagation",
        "GatewayPort8080",
        "GatewayStaticAddresses",
        "ListenerSet",
        "TLSRouteModeMixed",
        "TLSRouteModeTerminate",
    ],
    shared_extended: &[],
};

/// The Gateway-level extended features of the L4 profiles (GATEWAY-TCP, GATEWAY-UDP), as the
/// v1.6 reports list them beside the route kind.
const L4_GATEWAY_EXTENDED: &[&str] = &[
    "GatewayAddressEmpty",
    "GatewayBackendClientCertificate",
    "GatewayFrontendClientCertificateValidation",
    "GatewayFrontendClientCertificateValidationInsecureFallback",
    "GatewayHTTPListenerIsolation",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    "GatewayInfrastructurePropagation",
    "GatewayPort8080",
    "GatewayStaticAddresses",
    "ListenerSet",
];

pub const GATEWAY_TCP: Profile = Profile {
    name: "GATEWAY-TCP",
    core: &["Gateway", "ReferenceGrant"],
    extended: &["TCPRoute"],
    shared_extended: L4_GATEWAY_EXTENDED,
};

pub const GATEWAY_UDP: Profile = Profile {
    name: "GATEWAY-UDP",
    core: &["Gateway", "ReferenceGrant"],
    extended: &["UDPRoute"],
    shared_extended: L4_GATEWAY_EXTENDED,
};

pub const GATEWAY_GRPC: Profile = Profile {
    name: "GATEWAY-GRPC",
    core: &["Gateway", "GRPCRoute", "ReferenceGrant"],
    extended: &[],
    shared_extended: L4_GATEWAY_EXTENDED,
};

/// The profiles the harness reports.
pub const PROFILES: &[&Profile] = &[
    &GATEWAY_HTTP,
    &GATEWAY_GRPC,
    &GATEWAY_TLS,
    &GATEWAY_TCP,
    &GATEWAY_UDP,
];

impl Profile {
    fn contains(&self, features: &[&str]) -> bool {
        features
            .iter()
            .all(|x| self.core.contains(x) || self.extended_features().any(|e| e == *x))
    }
    /// Every extended feature, sorted.
    fn extended_features(&self) -> impl Iterator<Item = &'static str> {
        let mut all: Vec<&'static str> = self
            .extended
            .iter()
            .chain(self.shared_extended)
            .copied()
            .collect();
        all.sort_unstable();
        all.into_iter()
    }
    fn is_core(&self, features: &[&str]) -> bool {
        features.iter().all(|x| self.core.contains(x))
    }
}

/// A result per scenario: (name, features, outcome).
pub type Results = Vec<(&'static str, &'static [&'static str], Outcome)>;

fn section(results: &Results, pick: impl Fn(&[&str]) -> bool) -> Section {
    let mut s = Section {
        result: "success",
        statistics: Statistics::default(),
        failed_tests: vec![],
        skipped_tests: vec![],
        supported_features: vec![],
        unsupported_features: vec![],
    };
    for (name, _, outcome) in results.iter().filter(|(_, f, _)| pick(f)) {
        match outcome {
            Outcome::Passed => s.statistics.passed += 1,
            Outcome::Failed(_) => {
                s.statistics.failed += 1;
                s.failed_tests.push((*name).into());
            }
            Outcome::Skipped(_) => {
                s.statistics.skipped += 1;
                s.skipped_tests.push((*name).into());
            }
        }
    }
    if s.statistics.failed > 0 {
        s.result = "failure";
    } else if s.statistics.skipped > 0 {
        s.result = "partial";
    }
    s
}

/// Builds the report YAML for every profile; a test counts in each profile it belongs to.
pub fn render(
    results: &Results,
    supported: &BTreeSet<String>,
    date: &str,
) -> anyhow::Result<String> {
    let mut profiles = Vec::new();
    for p in PROFILES {
        let core = section(results, |f| p.contains(f) && p.is_core(f));
        let mut extended = section(results, |f| p.contains(f) && !p.is_core(f));
        extended.supported_features = p
            .extended_features()
            .filter(|f| supported.contains(*f))
            .map(|f| f.to_string())
            .collect();
        extended.unsupported_features = p
            .extended_features()
            .filter(|f| !supported.contains(*f))
            .map(|f| f.to_string())
            .collect();
        let summary = format!(
            "Core tests {}. Extended tests {}.",
            if core.result == "success" {
                "succeeded"
            } else {
                "did not all pass"
            },
            if extended.result == "success" {
                "succeeded"
            } else {
                "did not all pass"
            }
        );
        profiles.push(ProfileReport {
            core,
            extended,
            name: p.name,
            summary,
        });
    }
    let report = Report {
        api_version: "gateway.networking.k8s.io/v1",
        date: date.to_owned(),
        gateway_api_channel: "standard",
        gateway_api_version: "v1.6.1",
        implementation: Implementation {
            contact: vec!["https://github.com/weir-net/weir/issues"],
            organization: "weir-net",
            project: "weir",
            url: "github.com/weir-net/weir",
            version: env!("CARGO_PKG_VERSION"),
        },
        kind: "ConformanceReport",
        mode: "default",
        profiles,
    };
    Ok(serde_yaml_ng::to_string(&report)?)
}

/// The table printed at the end of a run: each test counts in every profile it belongs to.
pub fn table(results: &Results) -> String {
    let mut out = String::from(
        "| profile | passed | failed | skipped | failed tests |\n|---|---|---|---|---|\n",
    );
    for p in PROFILES {
        for (label, core) in [("core", true), ("extended", false)] {
            let (mut pass, mut fail, mut skip, mut names) = (0, 0, 0, Vec::new());
            for (name, _, o) in results
                .iter()
                .filter(|(_, f, _)| p.contains(f) && p.is_core(f) == core)
            {
                match o {
                    Outcome::Passed => pass += 1,
                    Outcome::Failed(_) => {
                        fail += 1;
                        names.push(*name);
                    }
                    Outcome::Skipped(_) => skip += 1,
                }
            }
            if pass + fail + skip > 0 {
                out.push_str(&format!(
                    "| {} {label} | {pass} | {fail} | {skip} | {} |\n",
                    p.name,
                    names.join(", ")
                ));
            }
        }
    }
    out
}
