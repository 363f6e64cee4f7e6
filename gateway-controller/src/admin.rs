//! The admin endpoint: `/status`, `/config`, `/metrics`, `/healthz`, `/readyz`.
//! It listens on loopback unless told otherwise; it is read-only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::runtime::{Published, SharedState};
use crate::status::GROUP;

/// Serves the admin endpoint on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, state: SharedState, registry: Arc<Registry>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let registry = registry.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let resp = handle(&req, &state.load(), &registry);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Binds the admin address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

fn handle(req: &Request<Incoming>, p: &Published, registry: &Registry) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" if p.ready => text(StatusCode::OK, "ready\n".into()),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no config applied yet\n".into(),
        ),
        "/status" => json_response(&status_document(p)),
        "/config" => {
            let mut config = serde_json::to_value(&*p.config).unwrap_or_default();
            redact_keys(&mut config);
            let infrastructure: serde_json::Map<String, serde_json::Value> = p
                .infrastructure
                .iter()
                .map(|(id, i)| (id.to_string(), json!(i)))
                .collect();
            json_response(&json!({
                "version": p.version,
                "config": config,
                "infrastructure": infrastructure,
            }))
        }
        "/metrics" => {
            let mut out = String::new();
            match prometheus_client::encoding::text::encode(&mut out, registry) {
                Ok(()) => {
                    let mut r = text(StatusCode::OK, out);
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    r
                }
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "unknown path; try /status /config /metrics /healthz /readyz\n".into(),
        ),
    }
}

/// Every object's `.status` in Kubernetes shape, plus the manifest diagnostics.
pub fn status_document(p: &Published) -> Value {
    let mut items = Vec::new();
    let gen_of =
        |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| m.generation.unwrap_or(0);
    for (name, s) in &p.statuses.gateway_classes {
        let generation = p
            .snapshot
            .gateway_classes
            .get(&weir_store::NsName::new("", name.as_str()))
            .map_or(0, |o| gen_of(&o.metadata));
        items.push(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "GatewayClass",
            "metadata": { "name": name, "generation": generation },
            "status": s,
        }));
    }
    for (id, s) in &p.statuses.gateways {
        let generation = p
            .snapshot
            .gateways
            .get(id)
            .map_or(0, |o| gen_of(&o.metadata));
        items.push(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "Gateway",
            "metadata": { "namespace": id.namespace, "name": id.name, "generation": generation },
            "status": s,
        }));
    }
    for (id, s) in &p.statuses.listener_sets {
        let generation = p
            .snapshot
            .listener_sets
            .get(id)
            .map_or(0, |o| gen_of(&o.metadata));
        items.push(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "ListenerSet",
            "metadata": { "namespace": id.namespace, "name": id.name, "generation": generation },
            "status": s,
        }));
    }
    let route_generation = |kind: &str, id: &weir_store::NsName| match kind {
        "HTTPRoute" => p.snapshot.http_routes.get(id).map(|o| gen_of(&o.metadata)),
        "GRPCRoute" => p.snapshot.grpc_routes.get(id).map(|o| gen_of(&o.metadata)),
        "TCPRoute" => p.snapshot.tcp_routes.get(id).map(|o| gen_of(&o.metadata)),
        "UDPRoute" => p.snapshot.udp_routes.get(id).map(|o| gen_of(&o.metadata)),
        _ => p.snapshot.tls_routes.get(id).map(|o| gen_of(&o.metadata)),
    };
    let routes = p.statuses.http_routes.iter().map(|r| ("HTTPRoute", r));
    let routes = routes.chain(p.statuses.grpc_routes.iter().map(|r| ("GRPCRoute", r)));
    let routes = routes.chain(p.statuses.tls_routes.iter().map(|r| ("TLSRoute", r)));
    let routes = routes.chain(p.statuses.tcp_routes.iter().map(|r| ("TCPRoute", r)));
    for (kind, (id, s)) in routes.chain(p.statuses.udp_routes.iter().map(|r| ("UDPRoute", r))) {
        items.push(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": kind,
            "metadata": { "namespace": id.namespace, "name": id.name, "generation": route_generation(kind, id).unwrap_or(0) },
            "status": s,
        }));
    }
    for (id, s) in &p.statuses.backend_tls_policies {
        let generation = p
            .snapshot
            .backend_tls_policies
            .get(id)
            .map_or(0, |o| gen_of(&o.metadata));
        items.push(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "BackendTLSPolicy",
            "metadata": { "namespace": id.namespace, "name": id.name, "generation": generation },
            "status": s,
        }));
    }
    json!({
        "configVersion": p.version,
        "sourceRevision": p.revision,
        "items": items,
        "diagnostics": &*p.diagnostics,
    })
}

/// Private keys never leave through the admin endpoint.
fn redact_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "keyPem" {
                    *x = Value::String("<redacted>".into());
                } else {
                    redact_keys(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_keys),
        _ => {}
    }
}

fn json_response(v: &Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec_pretty(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
