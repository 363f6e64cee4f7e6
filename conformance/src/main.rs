//! `weir-conformance`: run the conformance scenarios and write a ConformanceReport.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use weir_conformance::suite::{Outcome, Suite, Timeouts};
use weir_conformance::{cluster, report, scenarios, weir};

#[derive(Parser)]
#[command(about = "Run the Gateway API v1.6.1 conformance scenarios against a local weir")]
struct Args {
    /// The upstream conformance folder (holding base/ and tests/).
    #[arg(long, default_value = "../shared/gateway-api/v1.6.1/conformance")]
    manifests: PathBuf,
    /// The weir binary (default: $WEIR_BIN, else next to this program).
    #[arg(long)]
    weir: Option<PathBuf>,
    /// Run only these tests (comma-separated ShortNames).
    #[arg(long, value_delimiter = ',')]
    run: Vec<String>,
    /// Where to write the ConformanceReport YAML.
    #[arg(long, default_value = "conformance-report.yaml")]
    report: PathBuf,
    /// Admin address of the weir under test.
    #[arg(long, default_value = "127.0.0.1:19901")]
    admin: SocketAddr,
    /// Seconds a traffic expectation may take to become consistent (upstream: 30).
    #[arg(long, default_value_t = 30)]
    max_time_to_consistency: u64,
    /// Exit non-zero only if one of these tests fails (comma-separated; default: any failure).
    #[arg(long, value_delimiter = ',')]
    must_pass: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("warn")
        .init();
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weir-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.manifests.join("tests").is_dir() || !args.manifests.join("base").is_dir() {
        bail!(
            "{} is not a conformance folder (it needs base/ and tests/); pass --manifests",
            args.manifests.display()
        );
    }
    let all = scenarios::all();
    let known: BTreeSet<&str> = all.iter().map(|s| s.name).collect();
    let unknown: Vec<&String> = args
        .run
        .iter()
        .chain(&args.must_pass)
        .filter(|n| !known.contains(n.as_str()))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown test name(s): {}; known: {}",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            known.iter().copied().collect::<Vec<_>>().join(", ")
        );
    }
    let controller = "weir.dev/gateway-controller";
    let cluster = cluster::FakeCluster::start(&args.manifests, controller).await?;
    let bin = args.weir.clone().unwrap_or_else(weir::default_bin);
    let log = std::env::temp_dir().join("weir-conformance-weir.log");
    let weir = weir::WeirProcess::start(
        &bin,
        cluster.config_dir.path(),
        args.admin,
        "127.2.0.0/24",
        &log,
    )
    .await?;
    let timeouts = Timeouts {
        max_time_to_consistency: Duration::from_secs(args.max_time_to_consistency),
        ..Default::default()
    };
    let mut suite = Suite {
        cluster,
        weir,
        timeouts,
        supported_features: BTreeSet::new(),
    };
    // Features come from the GatewayClass status, as the upstream suite infers them.
    let features: Vec<String> = suite
        .wait_for("GatewayClass weir-conformance Accepted", |doc| {
            let gc =
                weir_conformance::suite::find(doc, "GatewayClass", "", cluster::GATEWAY_CLASS)?;
            weir_conformance::suite::has_condition(
                &gc["status"]["conditions"],
                "Accepted",
                "True",
                None,
            )?;
            Ok(gc["status"]["supportedFeatures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["name"].as_str().map(str::to_owned))
                .collect())
        })
        .await
        .map_err(anyhow::Error::msg)?;
    suite.supported_features = features.into_iter().collect();
    if !suite.cluster.skipped_deployments.is_empty() {
        eprintln!(
            "not started (no gRPC or UDP echo yet): {}",
            suite.cluster.skipped_deployments.join(", ")
        );
    }
    let mut results = Vec::new();
    for s in all
        .iter()
        .filter(|s| args.run.is_empty() || args.run.iter().any(|n| n == s.name))
    {
        let start = Instant::now();
        let outcome = suite.run(s).await;
        let secs = start.elapsed().as_secs_f32();
        match &outcome {
            Outcome::Passed => println!("PASS {} ({secs:.1}s)", s.name),
            Outcome::Failed(e) => println!("FAIL {} ({secs:.1}s)\n    {e}", s.name),
            Outcome::Skipped(why) => println!("SKIP {}: {why}", s.name),
        }
        results.push((s.name, s.features, outcome));
    }
    let date = std::process::Command::new("date")
        .arg("-Iseconds")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let yaml = report::render(&results, &suite.supported_features, &date)?;
    std::fs::write(&args.report, yaml)
        .with_context(|| format!("writing {}", args.report.display()))?;
    println!("\n{}", report::table(&results));
    let passed = results
        .iter()
        .filter(|r| matches!(r.2, Outcome::Passed))
        .count();
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| matches!(r.2, Outcome::Failed(_)))
        .map(|r| r.0)
        .collect();
    let skipped = results
        .iter()
        .filter(|r| matches!(r.2, Outcome::Skipped(_)))
        .count();
    println!("report written to {}", args.report.display());
    println!(
        "conformance: {passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    let blocking: Vec<&&str> = failed
        .iter()
        .filter(|f| args.must_pass.is_empty() || args.must_pass.iter().any(|m| m == **f))
        .collect();
    Ok(if blocking.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
