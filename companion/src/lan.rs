//! `deckcast serve --lan`: the dashboard for a phone on the same network. Off loopback every
//! secret (the session cookie, the pairing code, stream keys typed on the phone) travels over
//! TLS, so the server speaks HTTPS with a self-signed certificate made here on first use and kept
//! in the data directory (`lan/cert.pem`, `lan/key.pem`, the owner's only); it is made again when
//! the address it must name changes. A phone is paired by a one-time code in the URL's fragment,
//! which browsers never send to a server (so no proxy or server log ever holds it); the QR code
//! carries that URL.
//!
//! Threads: certificate files are read and written on the caller's thread (once, at start).
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest;

/// Why LAN mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum LanError {
    /// No address for the phone to reach: no route to a LAN, and none given.
    #[error(
        "cannot tell this computer's address on the local network (no network route); pass --listen <address>:<port> with the address the phone should use"
    )]
    NoAddress,
    /// The certificate files could not be read or written.
    #[error("TLS certificate in {path}: {source}")]
    Files {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate could not be made or used.
    #[error("TLS certificate: {0}")]
    Cert(String),
}

/// What LAN mode serves with.
#[derive(Clone)]
pub struct Lan {
    /// The address the phone uses (the certificate's name for this computer).
    pub ip: IpAddr,
    /// `https://<address>:<port>`: where the phone reaches the dashboard.
    pub base_url: String,
    /// The TLS server configuration (certificate and key).
    pub tls: Arc<tokio_rustls::rustls::ServerConfig>,
    /// SHA-256 of the certificate (DER), as browsers show it: `AB:CD:…`.
    pub fingerprint: String,
    /// The certificate file (for a client to trust it).
    pub cert_path: PathBuf,
}

impl std::fmt::Debug for Lan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lan")
            .field("base_url", &self.base_url)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The address to listen on for `--lan`: `listen` if it names an address other than loopback,
/// else every interface on its port.
pub fn listen_address(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_loopback() {
        SocketAddr::new(IpAddr::from([0, 0, 0, 0]), listen.port())
    } else {
        listen
    }
}

/// The address a phone on the LAN uses: the listening address if it is a specific one, else the
/// source address of this computer's route towards the internet (no packet is sent).
pub fn phone_address(bound: SocketAddr) -> Result<IpAddr, LanError> {
    if !bound.ip().is_unspecified() {
        return Ok(bound.ip());
    }
    let probe = UdpSocket::bind("0.0.0.0:0").map_err(|_| LanError::NoAddress)?;
    // TEST-NET-3 (RFC 5737): any address with a route shows which interface the LAN is on.
    probe
        .connect("203.0.113.1:9")
        .map_err(|_| LanError::NoAddress)?;
    let ip = probe.local_addr().map_err(|_| LanError::NoAddress)?.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        return Err(LanError::NoAddress);
    }
    Ok(ip)
}

fn files_error(path: &Path) -> impl FnOnce(std::io::Error) -> LanError + '_ {
    move |source| LanError::Files {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `data` to `path`, readable by the owner only.
fn write_private(path: &Path, data: &str) -> Result<(), LanError> {
    let tmp = path.with_extension("tmp");
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(files_error(&tmp))?;
        f.write_all(data.as_bytes()).map_err(files_error(&tmp))?;
        f.sync_all().map_err(files_error(&tmp))?;
    }
    #[cfg(not(unix))]
    std::fs::write(&tmp, data).map_err(files_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(files_error(path))
}

/// The certificate for `ip` in `data_dir/lan/`, made (self-signed, for `ip`, `localhost` and
/// 127.0.0.1) when missing or made for another address, and the TLS configuration from it.
pub fn prepare(data_dir: &Path, ip: IpAddr, port: u16) -> Result<Lan, LanError> {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let dir = data_dir.join("lan");
    crate::store::create_private_dir(&dir).map_err(files_error(&dir))?;
    let (cert_path, key_path, names_path) =
        (dir.join("cert.pem"), dir.join("key.pem"), dir.join("names"));
    let names = vec![
        ip.to_string(),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
    ];
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(&names_path).unwrap_or_default();
    if current != wanted || !cert_path.exists() || !key_path.exists() {
        let made = rcgen::generate_simple_self_signed(names.clone())
            .map_err(|e| LanError::Cert(e.to_string()))?;
        write_private(&key_path, &made.signing_key.serialize_pem())?;
        write_private(&cert_path, &made.cert.pem())?;
        write_private(&names_path, &wanted)?;
        tracing::info!("made a TLS certificate for {ip} in {}", dir.display());
    }
    let cert_pem = std::fs::read(&cert_path).map_err(files_error(&cert_path))?;
    let key_pem = std::fs::read(&key_path).map_err(files_error(&key_path))?;
    let certs: Vec<_> = rustls_pki_certs(&cert_pem)?;
    let der = certs
        .first()
        .ok_or_else(|| LanError::Cert(format!("no certificate in {}", cert_path.display())))?;
    let fingerprint = sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let key = rustls_pki_key(&key_pem)?;
    let mut tls = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| LanError::Cert(e.to_string()))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Lan {
        ip,
        base_url: format!("https://{}:{port}", host_name(ip)),
        tls: Arc::new(tls),
        fingerprint,
        cert_path,
    })
}

/// `ip` as the host part of a URL or a `Host` header (`[…]` around IPv6).
pub fn host_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn rustls_pki_certs(
    pem: &[u8],
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, LanError> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    tokio_rustls::rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LanError::Cert(e.to_string()))
}

fn rustls_pki_key(
    pem: &[u8],
) -> Result<tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>, LanError> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    tokio_rustls::rustls::pki_types::PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| LanError::Cert(e.to_string()))
}

/// `url` as a QR code for a terminal with a dark background: two modules per character cell
/// (upper and lower half blocks), light modules drawn, with the quiet zone around.
pub fn terminal_qr(url: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// `url` as a QR code in SVG (dark modules on white, with the quiet zone).
pub fn svg_qr(url: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_made_once_per_address_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("deckcast-lan-{}", std::process::id()));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let a = prepare(&dir, ip, 8750).unwrap();
        assert_eq!(a.base_url, "https://192.0.2.7:8750");
        assert_eq!(a.fingerprint.len(), 32 * 3 - 1, "{}", a.fingerprint);
        let again = prepare(&dir, ip, 8750).unwrap();
        assert_eq!(a.fingerprint, again.fingerprint, "kept, not made again");
        let moved = prepare(&dir, "192.0.2.8".parse().unwrap(), 8750).unwrap();
        assert_ne!(
            a.fingerprint, moved.fingerprint,
            "a new address, a new certificate"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("lan/key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let v6 = prepare(&dir, "2001:db8::1".parse().unwrap(), 8443).unwrap();
        assert_eq!(v6.base_url, "https://[2001:db8::1]:8443");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn loopback_listening_becomes_every_interface_and_a_given_address_stays() {
        let lo: SocketAddr = "127.0.0.1:8750".parse().unwrap();
        assert_eq!(listen_address(lo), "0.0.0.0:8750".parse().unwrap());
        let given: SocketAddr = "10.1.2.3:9000".parse().unwrap();
        assert_eq!(listen_address(given), given);
        assert_eq!(phone_address(given).unwrap(), given.ip());
    }

    #[test]
    fn qr_codes_render_for_the_terminal_and_the_page() {
        let url = "https://192.0.2.7:8750/pair#0123456789abcdef0123456789abcdef";
        let t = terminal_qr(url).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines.len() > 10);
        assert!(t.contains('█') && t.contains('▀'));
        let svg = svg_qr(url).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }
}
