//! The CORS filter: preflight requests are answered here, actual cross-origin requests get the
//! CORS response headers, and requests from origins that are not allowed get none.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use regex::Regex;

use crate::config::Cors;

pub struct CompiledCors {
    origins: Vec<OriginPattern>,
    methods: Vec<String>,
    headers: Vec<String>,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: u32,
}

enum OriginPattern {
    Any,
    Exact(String),
    /// `https://*.example.com`: `*` stands for one or more DNS labels (letters, digits, `-`, `.`).
    Wildcard(Regex),
}

impl CompiledCors {
    pub fn new(c: &Cors) -> Result<CompiledCors, String> {
        let origins = c
            .allow_origins
            .iter()
            .map(|o| {
                if o == "*" {
                    Ok(OriginPattern::Any)
                } else if o.contains('*') {
                    let re = format!("^{}$", regex::escape(o).replace(r"\*", "[a-z0-9.-]+"));
                    Regex::new(&re)
                        .map(OriginPattern::Wildcard)
                        .map_err(|e| format!("allowOrigins {o:?}: {e}"))
                } else {
                    Ok(OriginPattern::Exact(o.to_ascii_lowercase()))
                }
            })
            .collect::<Result<_, String>>()?;
        let expose = (!c.expose_headers.is_empty())
            .then(|| HeaderValue::from_str(&c.expose_headers.join(", ")))
            .transpose()
            .map_err(|e| format!("exposeHeaders: {e}"))?;
        Ok(CompiledCors {
            origins,
            methods: c.allow_methods.clone(),
            headers: c.allow_headers.clone(),
            expose,
            credentials: c.allow_credentials,
            max_age: c.max_age.unwrap_or(5),
        })
    }

    fn allows(&self, origin: &str) -> bool {
        let lower = origin.to_ascii_lowercase();
        self.origins.iter().any(|p| match p {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => *o == lower,
            OriginPattern::Wildcard(re) => re.is_match(&lower),
        })
    }

    /// The allowed origin is always echoed, never `*`: a `*` answer is invalid with credentials,
    /// and an echo is correct in every case (the conformance suite requires it).
    fn allow_origin(&self, origin: &str) -> HeaderValue {
        HeaderValue::from_str(origin).unwrap_or_else(|_| HeaderValue::from_static("null"))
    }

    /// A configured list, or for `*` the value the preflight asked for.
    fn list(&self, configured: &[String], requested: Option<&HeaderValue>) -> Option<HeaderValue> {
        if configured.iter().any(|m| m == "*") {
            return Some(
                requested
                    .cloned()
                    .unwrap_or_else(|| HeaderValue::from_static("*")),
            );
        }
        (!configured.is_empty())
            .then(|| HeaderValue::from_str(&configured.join(", ")).ok())
            .flatten()
    }

    /// A preflight (OPTIONS with Origin and Access-Control-Request-Method): the answer, with CORS
    /// headers when the origin is allowed and none when it is not.
    pub fn preflight(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<(StatusCode, HeaderMap)> {
        if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
        let mut out = HeaderMap::new();
        if self.allows(origin) {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                self.allow_origin(origin),
            );
            if let Some(m) = self.list(
                &self.methods,
                headers.get(header::ACCESS_CONTROL_REQUEST_METHOD),
            ) {
                out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
            }
            if let Some(h) = self.list(
                &self.headers,
                headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS),
            ) {
                out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h);
            }
            if let Some(e) = &self.expose {
                out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
            }
            if self.credentials {
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            out.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(self.max_age),
            );
        }
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
        Some((StatusCode::OK, out))
    }

    /// CORS headers for the response to an actual cross-origin request.
    pub fn response_headers(&self, request_origin: Option<&HeaderValue>, response: &mut HeaderMap) {
        let Some(origin) = request_origin.and_then(|o| o.to_str().ok()) else {
            return;
        };
        if !self.allows(origin) {
            return;
        }
        response.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin(origin),
        );
        if self.credentials {
            response.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(e) = &self.expose {
            response.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
        response.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> CompiledCors {
        CompiledCors::new(&Cors {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: vec!["GET".into(), "OPTIONS".into()],
            allow_credentials: credentials,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn wildcard_origins_match_subdomains_only() {
        let c = cors(&["https://www.foo.com", "https://*.bar.com"], false);
        assert!(c.allows("https://www.foo.com"));
        assert!(c.allows("https://api.bar.com"));
        assert!(c.allows("https://a.b.bar.com"));
        assert!(!c.allows("https://bar.com"));
        assert!(!c.allows("http://api.bar.com"));
        assert!(!c.allows("https://www.foo.com.evil.org"));
        assert!(!c.allows("https://evil.org:1@x.bar.com"));
    }

    #[test]
    fn the_origin_is_always_echoed() {
        assert_eq!(
            cors(&["*"], false).allow_origin("https://x.org"),
            "https://x.org"
        );
        assert_eq!(
            cors(&["*"], true).allow_origin("https://x.org:8443"),
            "https://x.org:8443"
        );
    }

    #[test]
    fn preflight_from_a_foreign_origin_gets_no_cors_headers() {
        let c = cors(&["https://www.foo.com"], false);
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.org"));
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("GET"),
        );
        let (status, out) = c.preflight(&Method::OPTIONS, &h).unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(!out.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }
}
