//! A throwaway nginx-rtmp server on a free loopback port, and ffprobe checks of live streams.
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::runtime::{Isolation, Runtime};
use crate::util::{self, wait_for};

const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// nginx (Debian's nginx-light + libnginx-mod-rtmp) in its own prefix, single process, not a daemon.
#[derive(Debug)]
pub struct RtmpServer {
    prefix: PathBuf,
    /// Port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
    applications: String,
    /// Address it listens on (127.0.0.1, or the slow link's namespace address).
    pub host: String,
    netns: Option<String>,
}

impl RtmpServer {
    /// Starts a server with one `live` application on a free port.
    pub fn start() -> Result<RtmpServer> {
        Self::start_with("application live { live on; record off; }")
    }

    /// Starts a server with one `live` application inside `link`'s namespace: publishers reach it
    /// through the shaped link.
    pub fn start_behind(link: &crate::netns::SlowLink) -> Result<RtmpServer> {
        Self::start_at(
            "application live { live on; record off; }",
            link.addr.clone(),
            Some(link),
        )
    }

    /// Starts a server with the given `application { ... }` blocks (e.g. a relay that `push`es).
    pub fn start_with(applications: &str) -> Result<RtmpServer> {
        Self::start_at(applications, "127.0.0.1".into(), None)
    }

    fn start_at(
        applications: &str,
        host: String,
        link: Option<&crate::netns::SlowLink>,
    ) -> Result<RtmpServer> {
        if !std::path::Path::new(RTMP_MODULE).exists() {
            bail!("{RTMP_MODULE} is missing: apt-get install nginx-light libnginx-mod-rtmp");
        }
        let prefix = std::env::temp_dir().join(format!("deckcast-rtmp-{}", util::random_hex(6)?));
        std::fs::create_dir_all(prefix.join("logs"))?;
        let mut server = RtmpServer {
            prefix,
            port: util::free_port()?,
            child: None,
            applications: applications.to_owned(),
            host,
            netns: None,
        };
        if let Some(l) = link {
            server.netns = Some(l.name().to_owned());
        }
        server.resume()?;
        Ok(server)
    }

    /// `rtmp://HOST:PORT/live` (the server URL; the stream key is the last path element).
    pub fn url(&self) -> String {
        format!("rtmp://{}:{}/live", self.host, self.port)
    }

    /// The full URL of stream `key`.
    pub fn stream_url(&self, key: &str) -> String {
        format!("{}/{key}", self.url())
    }

    /// PID of the nginx process (for CPU measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server abruptly (SIGKILL, like a crash): publishers lose their connection.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port.
    pub fn resume(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let p = self.prefix.display();
        let conf = format!(
            "load_module {RTMP_MODULE};\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
             pid {p}/nginx.pid;\nerror_log {p}/logs/error.log info;\nevents {{ worker_connections 256; }}\n\
             rtmp {{ server {{ listen {}:{}; chunk_size 4096; {} }} }}\n",
            self.host, self.port, self.applications
        );
        std::fs::write(self.prefix.join("nginx.conf"), conf)?;
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "nginx"]);
                c
            }
            None => Command::new("nginx"),
        };
        let mut child = cmd
            .arg("-p")
            .arg(&self.prefix)
            .arg("-e")
            .arg(self.prefix.join("logs/error.log"))
            .arg("-c")
            .arg(self.prefix.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting nginx (apt-get install nginx-light libnginx-mod-rtmp)")?;
        let addr: std::net::SocketAddr = format!("{}:{}", self.host, self.port).parse()?;
        let up = wait_for("nginx-rtmp to listen", Duration::from_secs(10), || {
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "nginx exited ({status}): {}",
                    util::tail(&self.prefix.join("logs/error.log"), 10)
                );
            }
            Ok(util::addr_open(addr).then_some(()))
        });
        if let Err(e) = up {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for RtmpServer {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.prefix);
        }
    }
}

/// What ffprobe sees in a live stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamInfo {
    /// Video codec (`h264`), width, height and frame rate.
    pub video: Option<VideoInfo>,
    /// Audio codec (`aac`), sample rate and channels.
    pub audio: Option<AudioInfo>,
}

/// A video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Codec name as ffprobe says it.
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second (from `r_frame_rate`).
    pub fps: f64,
}

/// An audio stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// Codec name.
    pub codec: String,
    /// Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u32,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    r_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
}

fn parse_rate(r: &str) -> f64 {
    match r.split_once('/') {
        Some((n, d)) => {
            let (n, d): (f64, f64) = (n.parse().unwrap_or(0.0), d.parse().unwrap_or(0.0));
            if d > 0.0 { n / d } else { 0.0 }
        }
        None => r.parse().unwrap_or(0.0),
    }
}

/// Parses `ffprobe -of json -show_streams` output.
pub fn parse_probe(json: &str) -> Result<StreamInfo> {
    let probe: Probe = serde_json::from_str(json).context("parsing ffprobe output")?;
    let mut info = StreamInfo::default();
    for s in probe.streams {
        match s.codec_type.as_deref() {
            Some("video") => {
                info.video = Some(VideoInfo {
                    codec: s.codec_name.unwrap_or_default(),
                    width: s.width.unwrap_or(0),
                    height: s.height.unwrap_or(0),
                    fps: s.r_frame_rate.as_deref().map(parse_rate).unwrap_or(0.0),
                })
            }
            Some("audio") => {
                info.audio = Some(AudioInfo {
                    codec: s.codec_name.unwrap_or_default(),
                    sample_rate: s.sample_rate.and_then(|r| r.parse().ok()).unwrap_or(0),
                    channels: s.channels.unwrap_or(0),
                })
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Probes a live stream with the runtime's ffprobe (reads up to ~5 s of it).
pub fn ffprobe(url: &str) -> Result<StreamInfo> {
    let runtime = Runtime::get()?;
    let out = runtime
        .command(
            "ffprobe",
            &[
                "-v",
                "error",
                "-rw_timeout",
                "15000000",
                "-analyzeduration",
                "5000000",
                "-probesize",
                "5000000",
                "-show_entries",
                "stream=codec_type,codec_name,width,height,r_frame_rate,sample_rate,channels",
                "-of",
                "json",
                url,
            ],
            &[("PATH", "/usr/bin:/bin".to_owned())],
            &Isolation::default(),
        )
        .output()
        .context("running ffprobe")?;
    if !out.status.success() {
        bail!(
            "ffprobe {url} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout))
}

/// Probes until the stream shows both video and audio (a publisher may take a moment to start).
pub fn ffprobe_until_av(url: &str, timeout: Duration) -> Result<StreamInfo> {
    let mut last = String::new();
    wait_for(
        &format!("audio and video on {url}"),
        timeout,
        || match ffprobe(url) {
            Ok(info) if info.video.is_some() && info.audio.is_some() => Ok(Some(info)),
            Ok(info) => {
                last = format!("{info:?}");
                Ok(None)
            }
            Err(e) => {
                last = e.to_string();
                Ok(None)
            }
        },
    )
    .with_context(|| format!("last probe: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ffprobe_json() {
        let info = parse_probe(
            r#"{"programs": [], "streams": [
                {"codec_name": "h264", "codec_type": "video", "width": 640, "height": 360, "r_frame_rate": "30/1"},
                {"codec_name": "aac", "codec_type": "audio", "sample_rate": "48000", "channels": 2, "r_frame_rate": "0/0"}]}"#,
        )
        .unwrap();
        let v = info.video.unwrap();
        assert_eq!((v.codec.as_str(), v.width, v.height), ("h264", 640, 360));
        assert!((v.fps - 30.0).abs() < 1e-9);
        assert_eq!(
            info.audio.unwrap(),
            AudioInfo {
                codec: "aac".into(),
                sample_rate: 48_000,
                channels: 2
            }
        );
        assert_eq!(parse_rate("30000/1001").round(), 30.0);
        assert_eq!(
            parse_probe(r#"{"streams": []}"#).unwrap(),
            StreamInfo::default()
        );
        assert!(parse_probe("not json").is_err());
    }
}
