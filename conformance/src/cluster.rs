//! The fake cluster: what a Kubernetes cluster would do for the conformance manifests.
//!
//! No API server or kubelet can run here, so the harness plays both: each Deployment in the
//! base manifests becomes `replicas` in-process `weir echo` pods, each on its own loopback
//! address with POD_NAME and NAMESPACE set as the downward API would, and each Service with a
//! selector gets an EndpointSlice listing those pods, as the EndpointSlice controller writes it.
//! Manifests are "applied" by writing them into the directory `weir run` watches.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The GatewayClass name the harness creates and substitutes into every Gateway.
pub const GATEWAY_CLASS: &str = "weir-conformance";

/// A running echo pod.
#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub app: String,
    pub ip: IpAddr,
    /// Every request the pod echoed (its "logs").
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
    task: Arc<tokio::task::AbortHandle>,
}

impl Drop for Pod {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

/// Pods by deployment, plus the manifest directory.
pub struct FakeCluster {
    pub manifests: PathBuf,
    pub config_dir: tempfile::TempDir,
    pub controller_name: String,
    pub pods: Vec<Pod>,
    /// Deployments that need something the harness cannot run yet (gRPC, TCP, UDP, TLS echo).
    pub skipped_deployments: Vec<String>,
    /// Leaf certificates (DER) of the Secrets the harness created, by `namespace/name`, so
    /// TLS clients can pin them.
    pub certificates: BTreeMap<String, Arc<Vec<u8>>>,
    /// The same Secrets' PEM material, for the backends that serve them.
    pub key_pairs: BTreeMap<String, KeyPairPem>,
    /// The harness CA (DER), which signed every Secret.
    pub ca_der: Arc<Vec<u8>>,
    /// Client CAs of the frontend validation tests: (default, per-port).
    pub client_cas: Arc<(weir_tls::devcert::DevCa, weir_tls::devcert::DevCa)>,
    /// PEM CA bundles of the ConfigMaps the harness created, by `namespace/name`.
    pub config_map_pems: BTreeMap<String, String>,
    /// Pods of Deployments that a test manifest brought, by applied file; stopped on delete.
    test_pods: std::sync::Mutex<BTreeMap<String, Vec<Pod>>>,
    /// The next address block for a test Deployment: stopped pods release their sockets
    /// asynchronously, so blocks are not reused within a run.
    next_test_block: std::sync::atomic::AtomicU8,
}

/// The TLS Secrets the upstream suite creates in code (suite.Setup), with their SANs. All are
/// signed by one harness CA, published as ConfigMap `tls-checks-ca-certificate` (`ca.crt`).
const SUITE_SECRETS: &[(&str, &str, &[&str])] = &[
    (
        "gateway-conformance-infra",
        "tls-validity-checks-certificate",
        &["*", "*.org"],
    ),
    ("gateway-conformance-web-backend", "certificate", &["*"]),
    (
        "gateway-conformance-infra",
        "tls-passthrough-checks-certificate",
        &["abc.example.com"],
    ),
    (
        "gateway-conformance-app-backend",
        "tls-passthrough-checks-certificate",
        &["abc.example.com"],
    ),
    (
        "gateway-conformance-infra",
        "tls-checks-certificate",
        &["abc.example.com", "other.example.com"],
    ),
    (
        "gateway-conformance-infra",
        "tls-terminate-checks-certificate",
        &["tls.example.com", "terminate.example.com"],
    ),
    (
        "gateway-conformance-infra",
        "tls-checks-client-certificate",
        &["client.example.com"],
    ),
];

/// A generated certificate and key, PEM.
#[derive(Clone)]
pub struct KeyPairPem {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Clone, Copy)]
enum PodMode {
    Http,
    Tcp,
    /// echo-basic with UDP_ECHO_SERVER: JSON datagram echo on UDP_PORT (default 8080).
    Udp(u16),
    /// The coredns Deployment: a `whoami` DNS responder on UDP 53.
    Dns,
    /// echo-basic with GRPC_ECHO_SERVER: the GrpcEcho service, h2c on 3000 (TLS on 8443).
    Grpc,
}

fn pem_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer<'_>| c.to_vec())
        .context("parsing a generated certificate")
}

/// Substitutes the suite's templated fields, as the upstream Applier does.
pub fn substitute(text: &str, controller_name: &str) -> String {
    text.replace("{GATEWAY_CLASS_NAME}", GATEWAY_CLASS)
        .replace("{GATEWAY_CONTROLLER_NAME}", controller_name)
        .replace(
            "- value: \"PLACEHOLDER_USABLE_ADDRS\"",
            &format!("- {{type: IPAddress, value: \"{USABLE_ADDRESS}\"}}"),
        )
        .replace(
            "- value: \"PLACEHOLDER_UNUSABLE_ADDRS\"",
            &format!("- {{type: IPAddress, value: \"{UNUSABLE_ADDRESS}\"}}"),
        )
}

/// The suite's UsableNetworkAddresses: a loopback address outside the Gateway address pool.
pub const USABLE_ADDRESS: &str = "127.2.1.250";
/// The suite's UnusableNetworkAddresses: a documentation address that no interface of this
/// machine holds, so binding it fails (nothing is ever sent to it).
pub const UNUSABLE_ADDRESS: &str = "198.51.100.250";

/// Parses a manifest file into JSON documents.
pub fn documents(text: &str) -> anyhow::Result<Vec<Value>> {
    Ok(weir_store::yaml::parse_documents(text)?
        .into_iter()
        .map(|d| d.value)
        .collect())
}

impl FakeCluster {
    /// Reads `<manifests>/base/manifests.yaml`, starts the echo pods and writes the base
    /// objects, their EndpointSlices and the harness's GatewayClass.
    pub async fn start(manifests: &Path, controller_name: &str) -> anyhow::Result<FakeCluster> {
        let base = manifests.join("base/manifests.yaml");
        let text = std::fs::read_to_string(&base).with_context(|| {
            format!(
                "reading the conformance base manifests {} (pass --manifests DIR)",
                base.display()
            )
        })?;
        let text = substitute(&text, controller_name);
        let docs = documents(&text)?;
        let config_dir = tempfile::Builder::new()
            .prefix("weir-conformance-")
            .tempdir()?;
        let mut cluster = FakeCluster {
            manifests: manifests.to_owned(),
            config_dir,
            controller_name: controller_name.to_owned(),
            pods: Vec::new(),
            skipped_deployments: Vec::new(),
            certificates: BTreeMap::new(),
            key_pairs: BTreeMap::new(),
            ca_der: Arc::new(Vec::new()),
            config_map_pems: BTreeMap::new(),
            test_pods: std::sync::Mutex::new(BTreeMap::new()),
            next_test_block: std::sync::atomic::AtomicU8::new(100),
            client_cas: Arc::new((
                weir_tls::devcert::DevCa::new("client CA")?,
                weir_tls::devcert::DevCa::new("per-port client CA")?,
            )),
        };
        let ca = weir_tls::devcert::DevCa::new("weir conformance CA")?;
        let mut secret_docs = Vec::new();
        for (ns, name, sans) in SUITE_SECRETS {
            // The backend serving certificate also carries the SPIFFE ID the SAN tests look for.
            let uris: &[&str] = if *name == "tls-checks-certificate" {
                &["spiffe://abc.example.com/test-identity"]
            } else {
                &[]
            };
            let cert = ca.issue_with_uris(sans, uris, 365)?;
            let yaml = weir_tls::devcert::secret_manifest(ns, name, &cert, None);
            secret_docs.extend(documents(&yaml)?);
            cluster
                .certificates
                .insert(format!("{ns}/{name}"), Arc::new(pem_der(&cert.cert_pem)?));
            cluster.key_pairs.insert(
                format!("{ns}/{name}"),
                KeyPairPem {
                    cert_pem: cert.cert_pem,
                    key_pem: cert.key_pem,
                },
            );
        }
        cluster.ca_der = Arc::new(pem_der(&ca.cert_pem)?);
        // CA bundles the suite creates as ConfigMaps: the one that signed everything above, an
        // unrelated one (validation must fail), and the two client CAs of the frontend tests.
        let mismatch = weir_tls::devcert::DevCa::new("unrelated CA")?;
        for (name, pem) in [
            ("tls-checks-ca-certificate", ca.cert_pem.clone()),
            ("mismatch-ca-certificate", mismatch.cert_pem.clone()),
            (
                "tls-validity-checks-ca-certificate",
                cluster.client_cas.0.cert_pem.clone(),
            ),
            (
                "tls-validity-checks-per-port-ca-certificate",
                cluster.client_cas.1.cert_pem.clone(),
            ),
        ] {
            cluster
                .config_map_pems
                .insert(format!("gateway-conformance-infra/{name}"), pem.clone());
            secret_docs.push(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": name, "namespace": "gateway-conformance-infra" },
                "data": { "ca.crt": pem },
            }));
        }
        let mut dep_index = 0u8;
        for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
            dep_index += 1;
            match cluster.start_deployment(d, dep_index).await? {
                Ok(pods) => cluster.pods.extend(pods),
                Err(skipped) => cluster.skipped_deployments.push(skipped),
            }
        }
        let class = json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": { "name": GATEWAY_CLASS },
            "spec": { "controllerName": controller_name },
        });
        let mut all = vec![class];
        all.extend(docs.iter().filter(|d| d["kind"] != "Deployment").cloned());
        all.extend(secret_docs);
        cluster.apply("00-base", &all)?;
        Ok(cluster)
    }

    /// Starts a Deployment's pods; `Err(name)` when the harness cannot run its image mode.
    async fn start_deployment(
        &self,
        d: &Value,
        index: u8,
    ) -> anyhow::Result<Result<Vec<Pod>, String>> {
        let mut pods = Vec::new();
        let name = d["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let namespace = d["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let app = d["spec"]["template"]["metadata"]["labels"]["app"]
            .as_str()
            .unwrap_or(&name)
            .to_owned();
        let replicas = d["spec"]["replicas"].as_u64().unwrap_or(1);
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let env_names: Vec<String> = containers
            .iter()
            .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect();
        let image = containers
            .first()
            .and_then(|c| c["image"].as_str())
            .unwrap_or("");
        let has = |e: &str| env_names.iter().any(|n| n == e);
        // A literal env value (downward-API values are filled in per pod).
        let env_value = |e: &str| -> Option<String> {
            containers
                .iter()
                .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
                .find(|v| v["name"] == e)
                .and_then(|v| v["value"].as_str().map(str::to_owned))
        };
        let dns = image.contains("coredns");
        if !(image.contains("echo-basic") || dns) {
            return Ok(Err(format!("{namespace}/{name}")));
        }
        // The Secret mounted for TLS_SERVER_CERT, if any.
        let secret = d["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|v| v["secret"]["secretName"].as_str())
            .map(|s| format!("{namespace}/{s}"));
        let tls = match (&secret, has("TLS_SERVER_CERT")) {
            (Some(s), true) => {
                let kp = self.key_pairs.get(s).with_context(|| {
                    format!("Deployment {name} mounts Secret {s}, which the harness did not create")
                })?;
                // TLS_CLIENT_CACERTS: a mounted ConfigMap's CA checks client certificates.
                let client_ca = d["spec"]["template"]["spec"]["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|v| v["configMap"]["name"].as_str())
                    .filter(|_| has("TLS_CLIENT_CACERTS"))
                    .and_then(|cm| self.config_map_pems.get(&format!("{namespace}/{cm}")));
                Some(
                    weir_echo::tls_acceptor_with_client_ca(
                        kp.cert_pem.as_bytes(),
                        kp.key_pem.as_bytes(),
                        client_ca.map(|c| c.as_bytes()),
                    )
                    .map_err(anyhow::Error::msg)?,
                )
            }
            _ => None,
        };
        let mode = if dns {
            PodMode::Dns
        } else if has("UDP_ECHO_SERVER") {
            PodMode::Udp(
                env_value("UDP_PORT")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(8080),
            )
        } else if has("GRPC_ECHO_SERVER") {
            PodMode::Grpc
        } else if has("TCP_ECHO_SERVER") {
            PodMode::Tcp
        } else {
            PodMode::Http
        };
        let service = env_value("SERVICE_NAME").unwrap_or_default();
        for i in 0..replicas {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 1, index, (i + 1) as u8));
            // Pod names start with the Deployment name, as a ReplicaSet's do.
            let pod_name = format!(
                "{name}-7c9f8d-{}",
                ["x2k4p", "q8m3n", "z5t7w", "b6r9c"][i as usize % 4]
            );
            let log = Arc::new(std::sync::Mutex::new(Vec::new()));
            let id = Arc::new(weir_echo::EchoIdentity {
                pod: pod_name.clone(),
                namespace: namespace.clone(),
                http_port: "3000".into(),
                service: service.clone(),
                request_log: Some(log.clone()),
                ..Default::default()
            });
            let bind_udp = |port: u16| {
                let pod = pod_name.clone();
                async move {
                    tokio::net::UdpSocket::bind(SocketAddr::new(ip, port))
                        .await
                        .with_context(|| format!("binding pod {pod} on udp {ip}:{port}"))
                }
            };
            let bind = |port: u16| {
                let pod = pod_name.clone();
                async move {
                    tokio::net::TcpListener::bind(SocketAddr::new(ip, port))
                        .await
                        .with_context(|| format!("binding pod {pod} on {ip}:{port}"))
                }
            };
            let (l3000, l8443) = match mode {
                PodMode::Udp(_) | PodMode::Dns => (None, None),
                _ if tls.is_some() => (Some(bind(3000).await?), Some(bind(8443).await?)),
                _ => (Some(bind(3000).await?), None),
            };
            let tls = tls.clone();
            let task = match (mode, l3000) {
                (PodMode::Udp(port), _) => {
                    tokio::spawn(weir_echo::udp::serve(bind_udp(port).await?, id.clone()))
                }
                (PodMode::Dns, _) => tokio::spawn(crate::dns::serve_whoami(bind_udp(53).await?)),
                (_, None) => unreachable!("TCP pods bind port 3000"),
                (PodMode::Tcp, Some(l3000)) => {
                    let ports = Arc::new(("3000".to_owned(), "8443".to_owned()));
                    tokio::spawn(async move {
                        let tls_side = async {
                            if let (Some(l), Some(a)) = (l8443, tls) {
                                weir_echo::tcp::serve(l, Some(a), id.clone(), ports.clone()).await
                            }
                        };
                        tokio::join!(
                            weir_echo::tcp::serve(l3000, None, id.clone(), ports.clone()),
                            tls_side
                        );
                    })
                }
                (PodMode::Grpc, Some(l3000)) => tokio::spawn(async move {
                    let tls_side = async {
                        if let (Some(l), Some(a)) = (l8443, tls) {
                            weir_echo::grpc::serve_tls(l, a, id.clone()).await
                        }
                    };
                    tokio::join!(weir_echo::grpc::serve(l3000, id.clone()), tls_side);
                }),
                (PodMode::Http, Some(l3000)) => {
                    let l3001 = bind(3001).await?;
                    tokio::spawn(async move {
                        let tls_side = async {
                            if let (Some(l), Some(a)) = (l8443, tls) {
                                weir_echo::serve_tls(l, a, id.clone()).await
                            }
                        };
                        tokio::join!(
                            weir_echo::serve(l3000, id.clone()),
                            weir_echo::serve(l3001, id.clone()),
                            tls_side
                        );
                    })
                }
            };
            pods.push(Pod {
                log,
                name: pod_name,
                namespace: namespace.clone(),
                app: app.clone(),
                ip,
                task: Arc::new(task.abort_handle()),
            });
        }
        Ok(Ok(pods))
    }

    /// Writes `objects` (and the EndpointSlices for any Services among them) as one file.
    pub fn apply(&self, name: &str, objects: &[Value]) -> anyhow::Result<()> {
        let mut all = objects.to_vec();
        for svc in objects.iter().filter(|o| o["kind"] == "Service") {
            if let Some(slice) = self.endpoint_slice_for(svc) {
                all.push(slice);
            }
        }
        let mut text = String::new();
        for o in &all {
            text.push_str("---\n");
            text.push_str(&serde_yaml_ng::to_string(o)?);
        }
        // Write then rename, so weir never reads half a file.
        let tmp = self.config_dir.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.config_dir.path().join(format!("{name}.yaml")))?;
        Ok(())
    }

    /// Applies a test manifest from `<manifests>/tests/`, with substitutions.
    pub async fn apply_test_manifest(&self, file: &str) -> anyhow::Result<Vec<Value>> {
        let path = self.manifests.join("tests").join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let docs = documents(&substitute(&text, &self.controller_name))?;
        if docs.is_empty() {
            bail!("{} holds no objects", path.display());
        }
        // Deployments the test brings: start their pods before their Services are written.
        let mut pods = Vec::new();
        for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
            let block = self
                .next_test_block
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if block == u8::MAX {
                bail!("the harness ran out of pod address blocks");
            }
            match self.start_deployment(d, block).await? {
                Ok(p) => pods.extend(p),
                Err(skipped) => {
                    bail!("test Deployment {skipped} needs an echo mode the harness lacks")
                }
            }
        }
        self.test_pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("test-{file}"), pods);
        let objects: Vec<Value> = docs
            .iter()
            .filter(|d| d["kind"] != "Deployment")
            .cloned()
            .collect();
        self.apply(&format!("test-{file}"), &objects)?;
        Ok(docs)
    }

    /// Deletes an applied file, as the upstream suite deletes a test's objects afterwards.
    pub fn delete(&self, name: &str) {
        self.test_pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let _ = std::fs::remove_file(self.config_dir.path().join(format!("{name}.yaml")));
    }

    /// The EndpointSlice the EndpointSlice controller would write for a Service with a selector.
    fn endpoint_slice_for(&self, svc: &Value) -> Option<Value> {
        let selector = svc["spec"]["selector"].as_object()?;
        let app = selector.get("app")?.as_str()?;
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = svc["metadata"]["name"].as_str()?;
        let test_pods = self.test_pods.lock().unwrap_or_else(|e| e.into_inner());
        let pods: Vec<&Pod> = self
            .pods
            .iter()
            .chain(test_pods.values().flatten())
            .filter(|p| p.app == app && p.namespace == ns)
            .collect();
        let ports: Vec<Value> = svc["spec"]["ports"]
            .as_array()?
            .iter()
            .map(|p| {
                let target = p["targetPort"]
                    .as_u64()
                    .or_else(|| p["port"].as_u64())
                    .unwrap_or(0);
                let mut port =
                    json!({ "port": target, "protocol": p["protocol"].as_str().unwrap_or("TCP") });
                if let Some(n) = p["name"].as_str() {
                    port["name"] = json!(n);
                }
                if let Some(a) = p["appProtocol"].as_str() {
                    port["appProtocol"] = json!(a);
                }
                port
            })
            .collect();
        let endpoints: Vec<Value> = pods
            .iter()
            .map(|p| {
                json!({
                    "addresses": [p.ip.to_string()],
                    "conditions": { "ready": true, "serving": true, "terminating": false },
                    "targetRef": { "kind": "Pod", "namespace": p.namespace, "name": p.name },
                })
            })
            .collect();
        let mut labels = BTreeMap::new();
        labels.insert("kubernetes.io/service-name", name);
        labels.insert(
            "endpointslice.kubernetes.io/managed-by",
            "endpointslice-controller.k8s.io",
        );
        Some(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": { "name": format!("{name}-harness"), "namespace": ns, "labels": labels },
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints,
        }))
    }
}
