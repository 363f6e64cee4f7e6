//! `weir`: the single binary. It only wires the crates together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod status_cmd;

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "Gateway API gateway and networking stack for bare-metal Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a directory of Gateway API manifests (the embedded API server).
    Run(RunArgs),
    /// A backend compatible with the Gateway API conformance echo server.
    Echo(EchoArgs),
    /// Print every object's status from a running weir's admin endpoint.
    Status {
        #[arg(long, default_value = "127.0.0.1:9901", env = "WEIR_ADMIN_ADDRESS")]
        admin_address: SocketAddr,
        /// Print the raw JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make a local CA and a certificate for the given hostnames, written as a
    /// kubernetes.io/tls Secret manifest (for the quickstart and for testing HTTPS).
    Certs {
        /// Directory to write `ca.crt` and `<name>-secret.yaml` into.
        #[arg(long)]
        out: PathBuf,
        /// DNS names for the certificate (repeatable; `*.home.example` style wildcards allowed).
        #[arg(long = "hostname", required = true)]
        hostnames: Vec<String>,
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long, default_value = "weir-tls")]
        name: String,
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
    /// Check a manifest directory without serving it; exits non-zero on any error.
    Validate {
        #[arg(long)]
        config_dir: PathBuf,
        #[arg(long, default_value = weir_controller::CONTROLLER_NAME)]
        controller_name: String,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Directory of *.yaml / *.yml manifests, watched recursively.
    #[arg(long)]
    config_dir: PathBuf,
    /// Admin endpoint (/status, /config, /metrics, /healthz, /readyz).
    #[arg(long, default_value = "127.0.0.1:9901", env = "WEIR_ADMIN_ADDRESS")]
    admin_address: SocketAddr,
    /// Addresses for Gateways without spec.addresses: one per Gateway.
    #[arg(long, default_value = "127.0.10.0/24")]
    address_pool: ipnet::IpNet,
    /// The GatewayClass controllerName this weir serves.
    #[arg(long, default_value = weir_controller::CONTROLLER_NAME)]
    controller_name: String,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(clap::Args)]
struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    address: std::net::IpAddr,
    /// HTTP port (HTTP/1.1 and h2c prior knowledge).
    #[arg(long, env = "HTTP_PORT", default_value_t = 3000)]
    port: u16,
    /// A second port for h2c, as echo-basic has; 0 disables it.
    #[arg(long, env = "H2C_PORT", default_value_t = 3001)]
    h2c_port: u16,
    #[arg(long, env = "POD_NAME", default_value = "")]
    pod: String,
    #[arg(long, env = "NAMESPACE", default_value = "")]
    namespace: String,
    /// PEM certificate chain for an HTTPS port (echo-basic's TLS_SERVER_CERT).
    #[arg(long, env = "TLS_SERVER_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for the HTTPS port (echo-basic's TLS_SERVER_PRIVKEY).
    #[arg(long, env = "TLS_SERVER_PRIVKEY")]
    tls_key: Option<PathBuf>,
    /// PEM CA bundle: verify client certificates when presented (echo-basic's TLS_CLIENT_CACERTS).
    #[arg(long, env = "TLS_CLIENT_CACERTS")]
    tls_client_cacerts: Option<PathBuf>,
    /// HTTPS port, served when a certificate and key are given.
    #[arg(long, env = "HTTPS_PORT", default_value_t = 8443)]
    https_port: u16,
    /// Run the TCP line-protocol server instead of HTTP (echo-basic's TCP_ECHO_SERVER).
    #[arg(long, env = "TCP_ECHO_SERVER")]
    tcp: Option<String>,
    /// TCP mode: plain port, and TLS port (served with --tls-cert and --tls-key).
    #[arg(long, env = "TCP_PORT", default_value_t = 3000)]
    tcp_port: u16,
    #[arg(long, env = "TLS_PORT", default_value_t = 8443)]
    tls_port: u16,
    /// Run the gRPC echo service (GrpcEcho, h2c on --port) instead of HTTP (echo-basic's
    /// GRPC_ECHO_SERVER).
    #[arg(long, env = "GRPC_ECHO_SERVER")]
    grpc: Option<String>,
    /// The TCP and gRPC modes' key variable name in echo-basic.
    #[arg(long, env = "TLS_SERVER_PRIV_KEY")]
    tls_priv_key: Option<PathBuf>,
}

/// mimalloc instead of glibc malloc: config swaps allocate and free whole route tables, which
/// glibc's allocator serves slowly and leaves fragmented (ADR 0015).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let workers = match &cli.command {
        Command::Run(a) => a.workers,
        Command::Echo(_) => Some(1),
        _ => Some(1),
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(w) = workers {
        rt.worker_threads(w.max(1));
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weir: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weir: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Run(args) => run(args).await,
        Command::Echo(args) => echo(args).await,
        Command::Status {
            admin_address,
            json,
        } => status_cmd::status(admin_address, json).await,
        Command::Validate {
            config_dir,
            controller_name,
        } => validate(config_dir, controller_name),
        Command::Certs {
            out,
            hostnames,
            namespace,
            name,
            days,
        } => certs(out, hostnames, namespace, name, days),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let source = weir_store::ManifestSource::start(&args.config_dir)
        .with_context(|| format!("loading --config-dir {}", args.config_dir.display()))?;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = weir_proxy::metrics::Metrics::register(&mut registry);
    let dataplane = Arc::new(weir_proxy::Dataplane::new(metrics));
    let state: weir_controller::runtime::SharedState = Default::default();
    let admin = weir_controller::admin::bind(args.admin_address)
        .await
        .with_context(|| format!("binding --admin-address {}", args.admin_address))?;
    tracing::info!(address = %args.admin_address, "admin endpoint listening");
    tokio::spawn(weir_controller::admin::serve(
        admin,
        state.clone(),
        Arc::new(registry),
    ));
    let runtime = weir_controller::runtime::Runtime {
        dataplane: dataplane.clone(),
        state,
        controller_name: args.controller_name,
        pool: weir_controller::addresses::AddressPool::new(args.address_pool),
    };
    let rx = source.subscribe();
    tokio::select! {
        _ = runtime.run(rx) => {}
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    dataplane.shutdown().await;
    drop(source);
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

async fn echo(args: EchoArgs) -> anyhow::Result<ExitCode> {
    let mut id = weir_echo::EchoIdentity::from_env();
    id.pod = args.pod.clone();
    id.namespace = args.namespace.clone();
    id.http_port = args.port.to_string();
    let id = Arc::new(id);
    if args.tcp.as_deref().is_some_and(|v| !v.is_empty()) {
        return echo_tcp(args, id).await;
    }
    if args.grpc.as_deref().is_some_and(|v| !v.is_empty()) {
        return echo_grpc(args, id).await;
    }
    let main = tokio::net::TcpListener::bind((args.address, args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.address, args.port))?;
    if args.h2c_port != 0 && args.h2c_port != args.port {
        let h2c = tokio::net::TcpListener::bind((args.address, args.h2c_port))
            .await
            .with_context(|| format!("binding {}:{}", args.address, args.h2c_port))?;
        tokio::spawn(weir_echo::serve(h2c, id.clone()));
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read =
            |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let client_ca = args.tls_client_cacerts.as_ref().map(read).transpose()?;
        let acceptor =
            weir_echo::tls_acceptor_with_client_ca(&read(cert)?, &read(key)?, client_ca.as_deref())
                .map_err(anyhow::Error::msg)?;
        let https = tokio::net::TcpListener::bind((args.address, args.https_port))
            .await
            .with_context(|| format!("binding {}:{}", args.address, args.https_port))?;
        tokio::spawn(weir_echo::serve_tls(https, acceptor, id.clone()));
    }
    tracing::info!(address = %args.address, port = args.port, "echo listening");
    tokio::select! {
        _ = weir_echo::serve(main, id) => {}
        _ = shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn echo_tcp(args: EchoArgs, id: Arc<weir_echo::EchoIdentity>) -> anyhow::Result<ExitCode> {
    let ports = Arc::new((args.tcp_port.to_string(), args.tls_port.to_string()));
    let plain = tokio::net::TcpListener::bind((args.address, args.tcp_port))
        .await
        .with_context(|| format!("binding {}:{}", args.address, args.tcp_port))?;
    let key = args.tls_priv_key.as_ref().or(args.tls_key.as_ref());
    if let (Some(cert), Some(key)) = (&args.tls_cert, key) {
        let acceptor = weir_echo::tls_acceptor(&std::fs::read(cert)?, &std::fs::read(key)?)
            .map_err(anyhow::Error::msg)?;
        let tls = tokio::net::TcpListener::bind((args.address, args.tls_port))
            .await
            .with_context(|| format!("binding {}:{}", args.address, args.tls_port))?;
        tokio::spawn(weir_echo::tcp::serve(
            tls,
            Some(acceptor),
            id.clone(),
            ports.clone(),
        ));
    }
    tracing::info!(address = %args.address, port = args.tcp_port, "TCP echo listening");
    tokio::select! {
        _ = weir_echo::tcp::serve(plain, None, id, ports) => {}
        _ = shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn echo_grpc(args: EchoArgs, id: Arc<weir_echo::EchoIdentity>) -> anyhow::Result<ExitCode> {
    let plain = tokio::net::TcpListener::bind((args.address, args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.address, args.port))?;
    let key = args.tls_priv_key.as_ref().or(args.tls_key.as_ref());
    if let (Some(cert), Some(key)) = (&args.tls_cert, key) {
        let acceptor = weir_echo::tls_acceptor(&std::fs::read(cert)?, &std::fs::read(key)?)
            .map_err(anyhow::Error::msg)?;
        let tls = tokio::net::TcpListener::bind((args.address, args.https_port))
            .await
            .with_context(|| format!("binding {}:{}", args.address, args.https_port))?;
        tokio::spawn(weir_echo::grpc::serve_tls(tls, acceptor, id.clone()));
    }
    tracing::info!(address = %args.address, port = args.port, "gRPC echo listening");
    tokio::select! {
        _ = weir_echo::grpc::serve(plain, id) => {}
        _ = shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(dir: PathBuf, controller_name: String) -> anyhow::Result<ExitCode> {
    let mut md = weir_store::ManifestDir::new(&dir);
    let (snapshot, diags) = md
        .load()
        .with_context(|| format!("reading {}", dir.display()))?;
    let mut errors = 0;
    for d in &diags {
        println!("{d}");
        if d.severity == weir_store::manifest::Severity::Error {
            errors += 1;
        }
    }
    let mut pool = weir_controller::addresses::AddressPool::new("127.0.10.0/24".parse()?);
    let ctx = weir_controller::translate::TranslateContext {
        controller_name,
        assigned_addresses: pool.assign(&snapshot).clone(),
        now_unix: weir_tls::material::unix_now(),
    };
    let t = weir_controller::translate::translate(&snapshot, &ctx);
    let published = weir_controller::runtime::Published {
        snapshot: Arc::new(snapshot),
        statuses: t.statuses,
        ..Default::default()
    };
    let doc = weir_controller::admin::status_document(&published);
    errors += status_cmd::print_table(&doc);
    println!(
        "{} objects, {} errors",
        doc["items"].as_array().map_or(0, Vec::len),
        errors
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn certs(
    out: PathBuf,
    hostnames: Vec<String>,
    namespace: String,
    name: String,
    days: i64,
) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let ca = weir_tls::devcert::DevCa::new("weir local CA")?;
    let names: Vec<&str> = hostnames.iter().map(String::as_str).collect();
    let cert = ca.issue(&names, days)?;
    let ca_path = out.join("ca.crt");
    std::fs::write(&ca_path, &ca.cert_pem)?;
    let secret_path = out.join(format!("{name}-secret.yaml"));
    std::fs::write(
        &secret_path,
        weir_tls::devcert::secret_manifest(&namespace, &name, &cert, Some(&ca.cert_pem)),
    )?;
    println!(
        "wrote {} (Secret {namespace}/{name} for {}) and {}",
        secret_path.display(),
        hostnames.join(", "),
        ca_path.display()
    );
    println!("trust it with: curl --cacert {} ...", ca_path.display());
    Ok(ExitCode::SUCCESS)
}
