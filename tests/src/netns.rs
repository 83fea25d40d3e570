//! A slow link for one target: a network namespace reached through a veth pair whose host side is
//! shaped with `tc tbf` (the test's own host, on a private /30; nothing leaves the machine).
//! Real TCP congestion then builds up in the sender (OBS), as on a weak uplink.
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// The namespace, its veth pair and the shaping; removed on drop.
#[derive(Debug)]
pub struct SlowLink {
    ns: String,
    host_if: String,
    /// The namespace side's IPv4 address (where servers inside listen).
    pub addr: String,
    /// The host side's IPv4 address (where the namespace reaches this machine).
    pub host: String,
}

fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl SlowLink {
    /// Creates the namespace with traffic towards it limited to `rate_kbit` kbit/s.
    pub fn new(rate_kbit: u32) -> Result<SlowLink> {
        let tag = util::random_hex(3)?;
        let n = u8::from_str_radix(&tag[..2], 16)?;
        let m = u8::from_str_radix(&tag[2..4], 16)? & 0xfc;
        let link = SlowLink {
            ns: format!("dc{tag}"),
            host_if: format!("dc{tag}a"),
            addr: format!("10.213.{n}.{}", m + 2),
            host: format!("10.213.{n}.{}", m + 1),
        };
        let peer = format!("dc{tag}b");
        let host_addr = format!("10.213.{n}.{}/30", m + 1);
        let ns_addr = format!("{}/30", link.addr);
        run(&["ip", "netns", "add", &link.ns])?;
        // From here on, Drop cleans up whatever was created.
        run(&[
            "ip",
            "link",
            "add",
            &link.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ])?;
        run(&["ip", "link", "set", &peer, "netns", &link.ns])?;
        run(&["ip", "addr", "add", &host_addr, "dev", &link.host_if])?;
        run(&["ip", "link", "set", &link.host_if, "up"])?;
        run(&[
            "ip", "netns", "exec", &link.ns, "ip", "addr", "add", &ns_addr, "dev", &peer,
        ])?;
        run(&[
            "ip", "netns", "exec", &link.ns, "ip", "link", "set", &peer, "up",
        ])?;
        run(&[
            "ip", "netns", "exec", &link.ns, "ip", "link", "set", "lo", "up",
        ])?;
        link.tbf("add", rate_kbit)
            .context("shaping the link (tc tbf)")?;
        // Static neighbour entries: connecting before ARP settles would otherwise fail for seconds.
        let mac = |ns: Option<&str>, dev: &str| -> Result<String> {
            let mut c = Command::new("ip");
            if let Some(ns) = ns {
                c.args(["netns", "exec", ns, "ip"]);
            }
            let out = c.args(["-br", "link", "show", dev]).output()?;
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .nth(2)
                .map(str::to_owned)
                .with_context(|| format!("MAC address of {dev}"))
        };
        let (host_mac, peer_mac) = (mac(None, &link.host_if)?, mac(Some(&link.ns), &peer)?);
        run(&[
            "ip",
            "neigh",
            "replace",
            &link.addr,
            "lladdr",
            &peer_mac,
            "dev",
            &link.host_if,
            "nud",
            "permanent",
        ])?;
        let host_ip = host_addr.trim_end_matches("/30");
        run(&[
            "ip",
            "netns",
            "exec",
            &link.ns,
            "ip",
            "neigh",
            "replace",
            host_ip,
            "lladdr",
            &host_mac,
            "dev",
            &peer,
            "nud",
            "permanent",
        ])?;
        Ok(link)
    }

    /// Changes the shaping to `rate_kbit` kbit/s (a very high rate is an unshaped link).
    pub fn set_rate(&self, rate_kbit: u32) -> Result<()> {
        self.tbf("change", rate_kbit)
            .context("reshaping the link (tc tbf)")
    }

    /// `tc qdisc <action>` of the token bucket on the host side.
    fn tbf(&self, action: &str, rate_kbit: u32) -> Result<()> {
        let rate = format!("{rate_kbit}kbit");
        run(&[
            "tc",
            "qdisc",
            action,
            "dev",
            &self.host_if,
            "root",
            "tbf",
            "rate",
            &rate,
            "burst",
            "10kb",
            "latency",
            "50ms",
        ])
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.ns
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        let _ = run(&["ip", "link", "del", &self.host_if]);
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "e2e tier: needs root for network namespaces"]
    fn a_server_behind_the_link_is_reachable() {
        let link = SlowLink::new(500).unwrap();
        let server = crate::rtmp::RtmpServer::start_behind(&link).unwrap();
        assert!(server.url().starts_with(&format!("rtmp://{}:", link.addr)));
        let addr: std::net::SocketAddr = format!("{}:{}", link.addr, server.port).parse().unwrap();
        assert!(util::addr_open(addr));
    }
}
