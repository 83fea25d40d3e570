//! A real freedesktop notification daemon on a given session bus: `dunst` (Debian's package) on
//! its own Xvfb display, with `dbus-monitor` capturing every `Notify` call made on that bus. What a
//! desktop shows is what `dunst` received; what was asked for is what `dbus-monitor` saw.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::util;

/// One `org.freedesktop.Notifications.Notify` call as `dbus-monitor` printed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    /// `app_name`.
    pub app: String,
    /// `replaces_id` (0: a new notification).
    pub replaces_id: u32,
    /// `summary`.
    pub summary: String,
    /// `body`.
    pub body: String,
    /// The `urgency` hint (0 low, 1 normal, 2 critical), if given.
    pub urgency: Option<u8>,
}

/// Xvfb + dunst + dbus-monitor; all stopped (by PID) on drop.
#[derive(Debug)]
pub struct NotificationDaemon {
    bus: String,
    display: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl NotificationDaemon {
    /// Starts the daemon on the session bus at `bus` (a `DBUS_SESSION_BUS_ADDRESS`).
    pub fn start(bus: &str) -> Result<NotificationDaemon> {
        let dir = std::env::temp_dir().join(format!("deckcast-notify-{}", util::random_hex(4)?));
        std::fs::create_dir_all(&dir)?;
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "800x600x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("xvfb.log"))?)
            .stdin(Stdio::null())
            .spawn()
            .context("starting Xvfb (apt-get install xvfb)")?;
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().context("Xvfb stdout")?).read_line(&mut line)?;
        let display = format!(":{}", line.trim());
        let mut d = NotificationDaemon {
            bus: bus.to_owned(),
            display,
            dir,
            children: vec![xvfb],
        };
        let monitor = Command::new("dbus-monitor")
            .args(["--address", bus, "--monitor"])
            .arg("type='method_call',interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(std::fs::File::create(d.dir.join("monitor.txt"))?)
            .stderr(std::fs::File::create(d.dir.join("monitor.err"))?)
            .stdin(Stdio::null())
            .spawn()
            .context("starting dbus-monitor")?;
        d.children.push(monitor);
        let dunst = Command::new("dunst")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &d.dir)
            .env("DISPLAY", &d.display)
            .env("DBUS_SESSION_BUS_ADDRESS", bus)
            .stdout(std::fs::File::create(d.dir.join("dunst.log"))?)
            .stderr(std::fs::File::create(d.dir.join("dunst.err"))?)
            .stdin(Stdio::null())
            .spawn()
            .context("starting dunst (apt-get install dunst)")?;
        d.children.push(dunst);
        util::wait_for(
            "dunst to own org.freedesktop.Notifications",
            Duration::from_secs(20),
            || Ok(d.dunstctl(&["is-paused"]).is_ok().then_some(())),
        )
        .with_context(|| d.logs())?;
        Ok(d)
    }

    fn dunstctl(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("dunstctl")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()?;
        if !out.status.success() {
            bail!(
                "dunstctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// How many notifications dunst shows now.
    pub fn displayed(&self) -> Result<u32> {
        Ok(self.dunstctl(&["count", "displayed"])?.parse()?)
    }

    /// Every `Notify` call seen on the bus so far.
    pub fn calls(&self) -> Vec<Notify> {
        let text = std::fs::read_to_string(self.dir.join("monitor.txt")).unwrap_or_default();
        text.split("method call ")
            .skip(1)
            .filter(|c| c.contains("member=Notify"))
            .filter_map(parse_notify)
            .collect()
    }

    /// The daemon's and the monitor's output, for failure reports.
    pub fn logs(&self) -> String {
        ["xvfb.log", "monitor.err", "dunst.log", "dunst.err"]
            .iter()
            .map(|f| {
                format!(
                    "--- {f} ---\n{}",
                    std::fs::read_to_string(self.dir.join(f)).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The arguments of one call: string, uint32, string, string, string, array, dict, int32.
fn parse_notify(call: &str) -> Option<Notify> {
    let mut strings = Vec::new();
    let mut replaces = None;
    let mut urgency = None;
    let mut lines = call.lines().peekable();
    while let Some(l) = lines.next() {
        let t = l.trim();
        if let Some(s) = t.strip_prefix("string \"") {
            // Multi-line strings continue until the closing quote.
            let mut s = s.to_owned();
            while !s.ends_with('"') {
                match lines.next() {
                    Some(more) => {
                        s.push('\n');
                        s.push_str(more);
                    }
                    None => break,
                }
            }
            let s = s.trim_end_matches('"').to_owned();
            if s == "urgency" {
                // The hint's value follows: `variant byte N`.
                if let Some(v) = lines.next() {
                    urgency = v
                        .trim()
                        .strip_prefix("variant")
                        .map(str::trim)
                        .and_then(|v| v.strip_prefix("byte ").and_then(|n| n.trim().parse().ok()));
                }
            } else {
                strings.push(s);
            }
        } else if let Some(n) = t.strip_prefix("uint32 ")
            && replaces.is_none()
        {
            replaces = n.trim().parse().ok();
        }
    }
    Some(Notify {
        app: strings.first()?.clone(),
        replaces_id: replaces?,
        summary: strings.get(2)?.clone(),
        body: strings.get(3)?.clone(),
        urgency,
    })
}

impl Drop for NotificationDaemon {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = util::stop_pid(c.id(), "TERM", Duration::from_secs(5));
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_calls_parse_from_dbus_monitor_output() {
        let text = r#"method call time=1.2 sender=:1.5 -> destination=org.freedesktop.Notifications serial=7 path=/org/freedesktop/Notifications; interface=org.freedesktop.Notifications; member=Notify
   string "Deckcast"
   uint32 0
   string "dialog-warning"
   string "Dead air"
   string "dead air: the program audio has been below -50 dBFS
for 8.1 s"
   array [
   ]
   array [
      dict entry(
         string "urgency"
         variant             byte 2
      )
      dict entry(
         string "category"
         variant             string "network.error"
      )
   ]
   int32 0
"#;
        let calls: Vec<Notify> = text
            .split("method call ")
            .skip(1)
            .filter_map(parse_notify)
            .collect();
        assert_eq!(
            calls,
            [Notify {
                app: "Deckcast".into(),
                replaces_id: 0,
                summary: "Dead air".into(),
                body: "dead air: the program audio has been below -50 dBFS\nfor 8.1 s".into(),
                urgency: Some(2),
            }]
        );
    }
}
