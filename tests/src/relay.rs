//! A loopback TCP relay that caps the upstream rate: a "link that is too slow" for one target,
//! without touching the network configuration. Small socket buffers make the backlog show up in the
//! sender (OBS) quickly instead of hiding in the kernel.
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use socket2::{Domain, Socket, Type};

/// A running relay; stops accepting when dropped (existing connections end with the peers).
#[derive(Debug)]
pub struct SlowRelay {
    /// Port on 127.0.0.1 to connect to instead of the target.
    pub port: u16,
    stop: Arc<AtomicBool>,
}

fn small_buffers(s: &Socket) {
    let _ = s.set_recv_buffer_size(8 * 1024);
    let _ = s.set_send_buffer_size(8 * 1024);
}

impl SlowRelay {
    /// Relays 127.0.0.1:`port` -> `target`, client-to-server limited to `bytes_per_sec`.
    pub fn start(target: SocketAddr, bytes_per_sec: u64) -> Result<SlowRelay> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        small_buffers(&socket);
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        socket.listen(8)?;
        let listener: TcpListener = socket.into();
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(server) = TcpStream::connect(target) {
                            spawn_pipes(client, server, bytes_per_sec);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(SlowRelay { port, stop })
    }
}

impl Drop for SlowRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn spawn_pipes(client: TcpStream, server: TcpStream, rate: u64) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let sock = socket2::SockRef::from(&server);
    let _ = sock.set_send_buffer_size(8 * 1024);
    // Keep the sender's backlog in the sender: a small receive window on the accepted socket.
    let _ = socket2::SockRef::from(&client).set_recv_buffer_size(8 * 1024);
    std::thread::spawn(move || pipe(client, server, Some(rate)));
    std::thread::spawn(move || pipe(s2, c2, None));
}

/// Copies `from` -> `to`, at most `rate` bytes/s (token bucket with 100 ms slices).
fn pipe(mut from: TcpStream, mut to: TcpStream, rate: Option<u64>) {
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    let mut sent: u64 = 0;
    loop {
        let chunk = match rate {
            Some(r) => (r / 10).clamp(1, buf.len() as u64) as usize,
            None => buf.len(),
        };
        let n = match from.read(&mut buf[..chunk]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        if let Some(r) = rate {
            let due = Duration::from_secs_f64(sent as f64 / r as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Helper for tests: the relay's RTMP server URL for an nginx on `rtmp_port`.
pub fn rtmp_url_via(relay: &SlowRelay) -> String {
    format!("rtmp://127.0.0.1:{}/live", relay.port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_the_upstream_rate() {
        let sink = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = sink.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = sink.accept().unwrap();
            let mut total = 0usize;
            let mut buf = [0u8; 8192];
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(1500) {
                s.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                if let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
            }
            total
        });
        let relay = SlowRelay::start(addr, 20_000).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
        c.set_write_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let data = vec![7u8; 1_000_000];
        let _ = c.write_all(&data);
        let got = reader.join().unwrap();
        // ~1.5 s at 20 kB/s: far below the megabyte offered.
        assert!(got > 5_000 && got < 80_000, "relayed {got} bytes");
    }
}
