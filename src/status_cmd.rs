//! `weir status`: the admin endpoint's `/status`, as a table for people.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use serde_json::Value;

pub async fn status(admin: SocketAddr, raw: bool) -> anyhow::Result<ExitCode> {
    let stream = tokio::net::TcpStream::connect(admin)
        .await
        .with_context(|| {
            format!("connecting to the admin endpoint {admin} (is `weir run` running?)")
        })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::get("/status")
        .header(http::header::HOST, admin.to_string())
        .body(Empty::<bytes::Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let body = resp.into_body().collect().await?.to_bytes();
    let doc: Value =
        serde_json::from_slice(&body).context("the admin endpoint returned invalid JSON")?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    for d in doc["diagnostics"].as_array().into_iter().flatten() {
        println!(
            "{} {}:{} {} {} {} {}",
            d["severity"].as_str().unwrap_or(""),
            d["file"].as_str().unwrap_or(""),
            d["line"],
            d["kind"].as_str().unwrap_or(""),
            d["object"].as_str().unwrap_or(""),
            d["field"].as_str().unwrap_or(""),
            d["reason"].as_str().unwrap_or("")
        );
    }
    let problems = print_table(&doc);
    println!(
        "config version {}; {problems} conditions not True",
        doc["configVersion"]
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints each object and its conditions; returns how many conditions are not as they should
/// be (a False positive-polarity condition, or a True `Conflicted`).
pub fn print_table(doc: &Value) -> usize {
    let mut problems = 0;
    let mut line = |indent: &str, what: String, conds: &Value| {
        println!("{indent}{what}");
        for c in conds.as_array().into_iter().flatten() {
            let t = c["type"].as_str().unwrap_or("");
            let s = c["status"].as_str().unwrap_or("");
            let bad = if t == "Conflicted" || t == "PartiallyInvalid" {
                s == "True"
            } else {
                s != "True"
            };
            if bad {
                problems += 1;
            }
            println!(
                "{indent}  {} {t}={s} {} (gen {}): {}",
                if bad { "✗" } else { "✓" },
                c["reason"].as_str().unwrap_or(""),
                c["observedGeneration"],
                c["message"].as_str().unwrap_or("")
            );
        }
    };
    for item in doc["items"].as_array().into_iter().flatten() {
        let kind = item["kind"].as_str().unwrap_or("");
        let m = &item["metadata"];
        let name = match m["namespace"].as_str() {
            Some(ns) => format!("{ns}/{}", m["name"].as_str().unwrap_or("")),
            None => m["name"].as_str().unwrap_or("").to_owned(),
        };
        let st = &item["status"];
        match kind {
            "Gateway" => {
                let addrs: Vec<&str> = st["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["value"].as_str())
                    .collect();
                line(
                    "",
                    format!("Gateway {name} addresses [{}]", addrs.join(", ")),
                    &st["conditions"],
                );
                for l in st["listeners"].as_array().into_iter().flatten() {
                    line(
                        "  ",
                        format!(
                            "listener {} attachedRoutes={}",
                            l["name"].as_str().unwrap_or(""),
                            l["attachedRoutes"]
                        ),
                        &l["conditions"],
                    );
                }
            }
            "HTTPRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute" => {
                println!("{kind} {name}");
                for p in st["parents"].as_array().into_iter().flatten() {
                    let r = &p["parentRef"];
                    line(
                        "  ",
                        format!(
                            "parent {}/{}{}",
                            r["namespace"]
                                .as_str()
                                .unwrap_or(m["namespace"].as_str().unwrap_or("")),
                            r["name"].as_str().unwrap_or(""),
                            r["sectionName"]
                                .as_str()
                                .map(|s| format!(" section {s}"))
                                .unwrap_or_default()
                        ),
                        &p["conditions"],
                    );
                }
            }
            "BackendTLSPolicy" => {
                println!("BackendTLSPolicy {name}");
                for a in st["ancestors"].as_array().into_iter().flatten() {
                    let r = &a["ancestorRef"];
                    line(
                        "  ",
                        format!(
                            "ancestor Gateway {}/{}",
                            r["namespace"].as_str().unwrap_or(""),
                            r["name"].as_str().unwrap_or("")
                        ),
                        &a["conditions"],
                    );
                }
            }
            _ => line("", format!("{kind} {name}"), &st["conditions"]),
        }
    }
    problems
}
