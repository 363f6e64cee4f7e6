//! The weir under test: a `weir run` child process, killed when the harness drops it (also
//! on panic), and a client for its admin endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

pub struct WeirProcess {
    child: tokio::process::Child,
    pub admin: SocketAddr,
}

impl WeirProcess {
    pub async fn start(
        bin: &Path,
        config_dir: &Path,
        admin: SocketAddr,
        pool: &str,
        log: &Path,
    ) -> anyhow::Result<WeirProcess> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = tokio::process::Command::new(bin)
            .args(["run", "--config-dir"])
            .arg(config_dir)
            .args([
                "--admin-address",
                &admin.to_string(),
                "--address-pool",
                pool,
            ])
            .env(
                "WEIR_LOG",
                std::env::var("WEIR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with `cargo build`, or pass --weir)",
                    bin.display()
                )
            })?;
        let mut p = WeirProcess { child, admin };
        for _ in 0..100 {
            if let Some(status) = p.child.try_wait()? {
                bail!("weir exited at start-up ({status}); see {}", log.display());
            }
            if p.get("/readyz").await.is_ok() {
                return Ok(p);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("weir did not become ready within 5s; see {}", log.display())
    }

    /// GETs an admin path and returns the body when the status is 200.
    pub async fn get(&self, path: &str) -> anyhow::Result<String> {
        let resp = crate::http::get_raw(self.admin, path).await?;
        if resp.status != 200 {
            bail!("admin {path}: status {}", resp.status);
        }
        Ok(resp.body)
    }

    /// The `/status` document.
    pub async fn status(&self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.get("/status").await?)?)
    }
}

impl Drop for WeirProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The weir binary: `--weir`, else `$WEIR_BIN`, else next to this executable.
pub fn default_bin() -> PathBuf {
    if let Ok(p) = std::env::var("WEIR_BIN") {
        return p.into();
    }
    let me = std::env::current_exe().unwrap_or_default();
    let dir = me.parent().unwrap_or(Path::new("."));
    // Test binaries live in target/<profile>/deps.
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    dir.join("weir")
}
