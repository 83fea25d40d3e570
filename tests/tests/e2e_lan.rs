//! End-to-end: `deckcast serve --lan` and a phone on another network namespace (a veth pair; nothing
//! leaves the machine). The QR code printed on the terminal (a real pty, through `script`) and
//! the one the dashboard shows are read by a real decoder (zbarimg); the phone side is curl in the
//! namespace, trusting only the companion's own certificate: the pairing page loads over HTTPS, the
//! code logs in once (a Secure cookie), a used code and plain HTTP get nothing. Tier "e2e".
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use deckcast_tests::artifacts;
use deckcast_tests::netns::SlowLink;
use deckcast_tests::openapi::OpenApi;
use deckcast_tests::util::{self, random_hex, wait_for};

/// Runs curl inside the phone's namespace; returns (exit code, stdout).
fn phone_curl(link: &SlowLink, args: &[&str]) -> (i32, String) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            link.name(),
            "curl",
            "-sS",
            "--max-time",
            "10",
        ])
        .args(args)
        .output()
        .expect("running curl in the namespace");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Decodes the QR code in a PNG with zbarimg (the text it holds).
fn zbar(png: &Path) -> String {
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(png)
        .output()
        .expect("zbarimg (apt-get install zbar-tools)");
    assert!(
        out.status.success(),
        "zbarimg found no QR code in {}: {}",
        png.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The terminal's QR code as a picture: each character cell is two modules (upper and lower
/// half), a drawn half light, as it shows on a dark terminal; 8 px per module.
fn terminal_qr_png(lines: &[&str], path: &Path) {
    let rows: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let width = rows.iter().map(Vec::len).max().unwrap();
    let (scale, w, h) = (8usize, width, rows.len() * 2);
    let mut pixels = vec![0u8; w * scale * h * scale];
    for (r, row) in rows.iter().enumerate() {
        for (x, c) in row.iter().enumerate() {
            let (top, bottom) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            };
            for (half, light) in [(0, top), (1, bottom)] {
                if !light {
                    continue;
                }
                let y = r * 2 + half;
                for dy in 0..scale {
                    let start = (y * scale + dy) * w * scale + x * scale;
                    pixels[start..start + scale].fill(255);
                }
            }
        }
    }
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(file, (w * scale) as u32, (h * scale) as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .unwrap()
        .write_image_data(&pixels)
        .unwrap();
}

/// `script` (util-linux) with the companion inside, in its own process group; stopped on drop.
struct Lan {
    child: std::process::Child,
    output: PathBuf,
}

impl Drop for Lan {
    fn drop(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .status();
        util::stop_pid(pgid, "TERM", Duration::from_secs(5));
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "e2e: needs root for network namespaces, curl, zbarimg and rsvg-convert (see README: the test command runs this tier)"]
fn a_phone_on_the_lan_pairs_by_qr_code_over_https_only() {
    let api = OpenApi::load().unwrap();
    let deckcast = &artifacts::get().unwrap().deckcast;
    let link = SlowLink::new(1_000_000).unwrap();
    let dir = std::env::temp_dir().join(format!("deckcast-e2e-lan-{}", random_hex(6).unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let port = util::free_port().unwrap();
    let token = random_hex(24).unwrap();
    let closed = util::free_port().unwrap();
    let output = dir.join("terminal.txt");
    let log = dir.join("companion.log");
    let command = format!(
        "exec {} serve --lan --listen {}:{port} --data-dir {} --obs-port {closed} 2> {}",
        deckcast.display(),
        link.host,
        data.display(),
        log.display()
    );
    // The companion without a keyring: the token and OBS password from the environment.
    let child = Command::new("script")
        .args(["-qfec", &command])
        .arg(&output)
        .env("HOME", &dir)
        .env("DECKCAST_DASHBOARD_TOKEN", &token)
        .env("DECKCAST_OBS_PASSWORD", "unused")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("script (util-linux)");
    let lan = Lan {
        child,
        output: output.clone(),
    };
    let mut last = 0;
    let terminal = wait_for(
        "the pairing QR code on the terminal",
        Duration::from_secs(30),
        || {
            let mut text = String::new();
            if let Ok(mut f) = std::fs::File::open(&lan.output) {
                let _ = f.read_to_string(&mut text);
            }
            // The QR code is the last thing printed: done once it stops growing.
            let qr_lines = text
                .lines()
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| !l.is_empty() && l.chars().all(|c| " █▀▄".contains(c)))
                .count();
            let done = text.contains("/pair#") && qr_lines > 20 && qr_lines == last;
            last = qr_lines;
            Ok(done.then_some(text))
        },
    )
    .unwrap();
    let url = terminal
        .split_whitespace()
        .find(|w| w.starts_with("https://") && w.contains("/pair#"))
        .unwrap()
        .to_owned();
    let base = format!("https://{}:{port}", link.host);
    assert!(url.starts_with(&format!("{base}/pair#")), "{url}");
    let code = url.split_once('#').unwrap().1.to_owned();
    assert!(
        !terminal.contains(&token),
        "the dashboard token is on the terminal"
    );

    // The printed QR code holds exactly that URL (decoded by zbar, not by us).
    let qr: Vec<&str> = terminal
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && l.chars().all(|c| " █▀▄".contains(c)))
        .collect();
    let qr_png = dir.join("terminal-qr.png");
    terminal_qr_png(&qr, &qr_png);
    assert_eq!(zbar(&qr_png), url, "the terminal's QR code");

    // The certificate: the fingerprint printed is the file's, and only it is trusted.
    let cert = data.join("lan/cert.pem");
    let fp = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout);
    let fp = fp.trim().rsplit('=').next().unwrap();
    assert!(terminal.contains(fp), "fingerprint {fp} not shown");
    let cacert = cert.to_string_lossy().into_owned();

    // The phone: no trust in the certificate → refused; plain HTTP → nothing.
    let (rc, _) = phone_curl(&link, &[&format!("{base}/pair")]);
    assert_eq!(rc, 60, "curl must refuse a certificate it was not given");
    let (rc, body) = phone_curl(
        &link,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{}:{port}/login", link.host),
        ],
    );
    assert!(rc != 0 && body != "200", "plain HTTP answered: {rc} {body}");

    // The pairing page over HTTPS, then the code for a session (Secure, HttpOnly).
    let (rc, page) = phone_curl(&link, &["--cacert", &cacert, &format!("{base}/pair")]);
    assert_eq!(rc, 0);
    assert!(page.contains("/assets/pair.js"), "{page}");
    let jar = dir.join("phone-cookies");
    let jar = jar.to_string_lossy().into_owned();
    let login_from = |origin: &str, code: &str| {
        phone_curl(
            &link,
            &[
                "--cacert",
                &cacert,
                "-c",
                &jar,
                "-D",
                "-",
                "-o",
                "/dev/null",
                "-H",
                "content-type: application/json",
                "-H",
                &format!("Origin: {origin}"),
                "--data",
                &format!(r#"{{"pairingCode":"{code}"}}"#),
                &format!("{base}/api/v1/login"),
            ],
        )
    };
    let login = |code: &str| login_from(&base, code);
    let (rc, head) = login(&code);
    assert_eq!(rc, 0);
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{head}"));
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let status = |with_cookie: bool| {
        let mut args = vec!["--cacert", cacert.as_str(), "-w", "\n%{http_code}"];
        if with_cookie {
            args.extend(["-b", jar.as_str()]);
        }
        let url = format!("{base}/api/v1/status");
        args.push(&url);
        phone_curl(&link, &args).1
    };
    let paired = status(true);
    assert!(paired.ends_with("\n200"), "{paired}");
    let body: serde_json::Value =
        serde_json::from_str(paired.rsplit_once('\n').unwrap().0).unwrap();
    api.check_response("GET", "/api/v1/status", 200, &body)
        .unwrap();
    assert!(status(false).ends_with("\n401"), "no cookie, no status");
    // Used once: the same code again is refused.
    let (_, head) = login(&code);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    // Another page's origin, an http:// origin over https, a foreign Host: all refused.
    for origin in [
        "https://evil.example".to_owned(),
        format!("http://{}:{port}", link.host),
    ] {
        let (_, head) = login_from(&origin, "x");
        assert!(head.starts_with("HTTP/1.1 403"), "{origin}: {head}");
    }
    let (_, code_of) = phone_curl(
        &link,
        &[
            "--cacert",
            &cacert,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--connect-to",
            &format!("rebound.example:{port}:{}:{port}", link.host),
            "-k",
            &format!("https://rebound.example:{port}/api/v1/status"),
        ],
    );
    assert_eq!(code_of, "403", "a foreign Host (DNS rebinding) is refused");
    // The metrics need the token from the network.
    let metrics = |auth: Option<&str>| {
        let mut args = vec![
            "--cacert".to_owned(),
            cacert.clone(),
            "-o".to_owned(),
            "/dev/null".to_owned(),
            "-w".to_owned(),
            "%{http_code}".to_owned(),
        ];
        if let Some(t) = auth {
            args.extend(["-H".to_owned(), format!("Authorization: Bearer {t}")]);
        }
        args.push(format!("{base}/metrics"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        phone_curl(&link, &args).1
    };
    assert_eq!(metrics(None), "401");
    assert_eq!(metrics(Some(&token)), "200");

    // The dashboard's "Pair a phone": a new code as an SVG QR code, decoded by zbar.
    let (rc, reply) = phone_curl(
        &link,
        &[
            "--cacert",
            &cacert,
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("{base}/api/v1/pairing"),
        ],
    );
    assert_eq!(rc, 0);
    let pairing: serde_json::Value =
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
    api.check_response("POST", "/api/v1/pairing", 200, &pairing)
        .unwrap();
    assert_eq!(pairing["fingerprint"], fp);
    let svg = dir.join("dashboard-qr.svg");
    std::fs::write(&svg, pairing["svg"].as_str().unwrap()).unwrap();
    let svg_png = dir.join("dashboard-qr.png");
    let converted = Command::new("rsvg-convert")
        .args(["-b", "white", "-w", "480", "-o"])
        .arg(&svg_png)
        .arg(&svg)
        .status()
        .expect("rsvg-convert (apt-get install librsvg2-bin)");
    assert!(converted.success());
    let second = pairing["url"].as_str().unwrap();
    assert_eq!(zbar(&svg_png), second, "the dashboard's QR code");
    let (_, head) = login(second.split_once('#').unwrap().1);
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");

    drop(lan);
    // The codes and the token were shown on the terminal only: never in the log.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("dashboard on the local network"),
        "{logged}"
    );
    for secret in [code.as_str(), second, token.as_str()] {
        assert!(!logged.contains(secret), "a secret reached the log");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
