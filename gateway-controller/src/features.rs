//! The Gateway API features Weir claims in `GatewayClass.status.supportedFeatures`.
//!
//! A feature is listed only when the proxy implements it and a test drives real traffic
//! through it; the conformance harness runs exactly the tests these names enable.

/// Sorted, as the GatewayClass status lists them.
pub fn supported_features() -> &'static [&'static str] {
    &[
        "BackendTLSPolicy",
        "BackendTLSPolicySANValidation",
        "GRPCRoute",
        "GRPCRouteNamedRouteRule",
        "Gateway",
        "GatewayAddressEmpty",
        "GatewayBackendClientCertificate",
        "GatewayFrontendClientCertificateValidation",
        "GatewayFrontendClientCertificateValidationInsecureFallback",
        "GatewayHTTPListenerIsolation",
        "GatewayHTTPSListenerDetectMisdirectedRequests",
        "GatewayPort8080",
        "GatewayStaticAddresses",
        "HTTPRoute",
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
        "ReferenceGrant",
        "TCPRoute",
        "TLSRoute",
        "TLSRouteModeMixed",
        "TLSRouteModeTerminate",
        "UDPRoute",
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn features_are_sorted_and_unique() {
        let f = super::supported_features();
        assert!(f.windows(2).all(|w| w[0] < w[1]), "{f:?}");
    }
}
