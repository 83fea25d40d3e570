//! A real Prometheus server (Debian's `prometheus`) on a free loopback port scraping one target
//! every second, and its query API.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{http, util};

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    /// Its HTTP address.
    pub addr: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus scraping `http://<target>/metrics` every second.
    pub fn start(target: SocketAddr) -> Result<Prometheus> {
        Self::start_with_rules(target, None)
    }

    /// [`Prometheus::start`], also evaluating the alerting rules in `rules` every second.
    pub fn start_with_rules(
        target: SocketAddr,
        rules: Option<&std::path::Path>,
    ) -> Result<Prometheus> {
        let dir =
            std::env::temp_dir().join(format!("deckcast-prometheus-{}", util::random_hex(6)?));
        std::fs::create_dir_all(dir.join("data"))?;
        let rule_files = match rules {
            Some(r) => format!("rule_files:\n  - '{}'\n", r.display()),
            None => String::new(),
        };
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rule_files}scrape_configs:\n  - job_name: deckcast\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config)?;
        let port = util::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus (apt-get install prometheus)")?;
        let p = Prometheus { child, dir, addr };
        // Listening is not enough: queries answer 503 until the TSDB is up (`/-/ready`).
        util::wait_for("prometheus to be ready", Duration::from_secs(60), || {
            let ready = http::send(
                addr,
                &http::Request {
                    method: "GET",
                    path: "/-/ready",
                    ..Default::default()
                },
            );
            Ok(ready.is_ok_and(|r| r.status == 200).then_some(()))
        })?;
        Ok(p)
    }

    /// Runs an instant query; returns the `data.result` array.
    pub fn query(&self, promql: &str) -> Result<Vec<Value>> {
        let q: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let r = http::send(
            self.addr,
            &http::Request {
                method: "GET",
                path: &format!("/api/v1/query?query={q}"),
                ..Default::default()
            },
        )?;
        let v = r.json()?;
        if v["status"] != "success" {
            bail!("query {promql}: {v}");
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// The alerts it holds (`/api/v1/alerts`: pending and firing).
    pub fn alerts(&self) -> Result<Vec<Value>> {
        let r = http::send(
            self.addr,
            &http::Request {
                method: "GET",
                path: "/api/v1/alerts",
                ..Default::default()
            },
        )?;
        let v = r.json()?;
        Ok(v["data"]["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = util::stop_pid(self.child.id(), "TERM", Duration::from_secs(10));
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
