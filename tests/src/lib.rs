//! Deckcast's end-to-end test rig: a real OBS Studio with the freshly built plugin, a real
//! nginx-rtmp server and ffprobe, for the tests in `tests/tests/` (and those of every later feature).
//!
//! - [`runtime`]: where OBS comes from. The host's `obs` if it is ≥ 30.2, otherwise a Debian trixie
//!   chroot with OBS 30.2.3 built once by `tests/rig/obs-chroot.sh` and cached
//!   (`DECKCAST_OBS_SUITE=sid` selects OBS 32.x for a compatibility run). Commands run inside it in a
//!   private mount namespace, so parallel tests never share mounts and nothing is left mounted.
//! - [`obs`]: one OBS per test: fresh config (no wizard, obs-websocket on a free port with a random
//!   password, a 640x360 scene with a test pattern and a looping audio file), the plugin installed
//!   in the per-user plugin layout, Xvfb + `dbus-run-session`, stopped with SIGINT by PID. The OBS
//!   log is printed and the directory kept when a test fails.
//! - [`rtmp`]: nginx-rtmp on a free loopback port and an ffprobe helper.
//! - [`artifacts`]: builds the plugin and the `deckcast` binary once per test process.
//! - [`companion`]: `deckcast serve` in its own D-Bus session with an unlocked keyring and a
//!   persistent home; [`http`] a small HTTP/SSE client; [`browser`] headless Chromium over the
//!   DevTools protocol; [`openapi`] checks responses against `companion/openapi.json`;
//!   [`prometheus`] a real Prometheus scraping `/metrics`; [`site`] the streamer's site (webhook
//!   receiver, platform API, a tus server taking uploads).
//!
//! Threads: the rig is synchronous and owned by one test; helpers spawn only short reader threads.
//! Everything needs root (chroot, mount namespaces), as CI and the README test command provide.
#![forbid(unsafe_code)]

pub mod alsa;
pub mod artifacts;
pub mod browser;
pub mod companion;
pub mod events;
pub mod http;
pub mod image;
pub mod mpris;
pub mod netns;
pub mod notify;
pub mod obs;
pub mod openapi;
pub mod prometheus;
pub mod rtmp;
pub mod runtime;
pub mod site;
pub mod util;
pub mod vendor;
pub mod wav;
