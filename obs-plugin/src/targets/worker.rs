//! The targets worker thread: owns the [`Engine`] and processes, in order, typed [`Command`]s,
//! output signals, frontend events and a 1 Hz health tick.
//!
//! Everything reaches it through one channel, so no lock is ever held while libobs calls back
//! (output signals fire synchronously inside `obs_output_start/stop`). Callers on obs-websocket
//! threads wait for their answer with a timeout; signal, hotkey and event senders never wait.
//!
//! Shutdown is bounded: a worker stuck (a keyring prompt nobody answers, a D-Bus call that hangs)
//! is abandoned after the timeout so OBS can exit, and once it wakes up it touches nothing of
//! OBS's again (its engine is leaked, not dropped: libobs may be gone by then). Only the command
//! it was stuck in finishes.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use deckcast_protocol::Error;
use deckcast_secrets::KeyStore;

use super::command::{Command, TargetsRequest};
use super::engine::{Engine, FrontendEvent};
use super::host::{Host, Level, OutputSignal};

/// Keyring service name for Deckcast's secrets.
pub const KEYRING_SERVICE: &str = "deckcast";

enum Msg {
    Command(Box<Command>),
    Signal {
        id: String,
        generation: u64,
        signal: OutputSignal,
    },
    Frontend(FrontendEvent),
    Shutdown(SyncSender<()>),
}

/// Handle to the worker thread.
#[derive(Debug)]
pub struct Worker {
    tx: Mutex<Option<Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    abandoned: Arc<AtomicBool>,
}

/// How [`Worker::shutdown`] ended.
#[derive(Debug)]
pub enum Stopped {
    /// Every target stopped and the thread ended.
    Clean,
    /// The worker did not answer in time and was left behind; it will touch nothing once it
    /// wakes up. The handle lets tests wait for that.
    Abandoned(Option<JoinHandle<()>>),
}

impl Worker {
    /// Starts the worker; `make_host` runs on the new thread. The keyring is opened there too
    /// (it may block on D-Bus); if none answers, keys live in memory and the log says so once.
    pub fn spawn<H: Host + 'static>(make_host: impl FnOnce() -> H + Send + 'static) -> Worker {
        Worker::spawn_with(make_host, || deckcast_secrets::open(KEYRING_SERVICE))
    }

    /// [`Worker::spawn`] with the keyring `open_keys` returns (and why it is only in memory).
    pub fn spawn_with<H: Host + 'static>(
        make_host: impl FnOnce() -> H + Send + 'static,
        open_keys: impl FnOnce() -> (Arc<dyn KeyStore>, Option<String>) + Send + 'static,
    ) -> Worker {
        let (tx, rx) = mpsc::channel::<Msg>();
        let signal_tx = tx.clone();
        let abandoned = Arc::new(AtomicBool::new(false));
        let left_behind = Arc::clone(&abandoned);
        let thread = std::thread::Builder::new()
            .name("deckcast-targets".into())
            .spawn(move || {
                let host = make_host();
                let (keys, why) = open_keys();
                if let Some(why) = why {
                    host.log(
                        Level::Warn,
                        &format!(
                            "no OS keyring is available ({why}): stream keys are kept in memory for this session only and must be set again after OBS restarts"
                        ),
                    );
                }
                let router = std::sync::Arc::new(move |id: String, generation: u64, signal: OutputSignal| {
                    let _ = signal_tx.send(Msg::Signal { id, generation, signal });
                });
                run(Engine::new(host, keys, router), rx, &left_behind);
            })
            .ok();
        Worker {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(thread),
            abandoned,
        }
    }

    fn send(&self, msg: Msg) -> bool {
        self.tx
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|tx| tx.send(msg).is_ok()))
            .unwrap_or(false)
    }

    /// Runs a targets request on the worker and waits up to `timeout` for its answer.
    pub fn call<R: TargetsRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::Reply, Error> {
        let (reply, answer) = mpsc::sync_channel(1);
        if !self.send(Msg::Command(Box::new(request.into_command(Some(reply))))) {
            return Err(Error::internal(
                "the Deckcast targets worker is not running",
            ));
        }
        answer.recv_timeout(timeout).unwrap_or_else(|_| {
            Err(Error::internal(
                "the Deckcast targets worker did not answer in time",
            ))
        })
    }

    /// Queues a request whose answer nobody waits for (hotkeys); failures are logged.
    pub fn fire<R: TargetsRequest>(&self, request: R) {
        self.send(Msg::Command(Box::new(request.into_command(None))));
    }

    /// Forwards a frontend event (does not wait).
    pub fn frontend(&self, ev: FrontendEvent) {
        self.send(Msg::Frontend(ev));
    }

    /// Stops every target and ends the thread, waiting at most `timeout`; a worker that does
    /// not answer by then is abandoned (see the module docs). Later calls return at once.
    pub fn shutdown(&self, timeout: Duration) -> Stopped {
        let (done, wait) = mpsc::sync_channel(1);
        let answered = self.send(Msg::Shutdown(done)) && wait.recv_timeout(timeout).is_ok();
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if answered || thread.as_ref().is_none_or(|t| t.is_finished()) {
            if let Some(t) = thread {
                // It sent `done` as its last act, so this returns at once.
                let _ = t.join();
            }
            return Stopped::Clean;
        }
        self.abandoned.store(true, Ordering::SeqCst);
        Stopped::Abandoned(thread)
    }
}

fn run<H: Host>(engine: Engine<H>, rx: Receiver<Msg>, abandoned: &AtomicBool) {
    let mut engine = std::mem::ManuallyDrop::new(engine);
    serve(&mut engine, &rx, abandoned);
    if abandoned.load(Ordering::SeqCst) {
        // OBS went on exiting without us: its outputs and encoders may be freed already.
        return;
    }
    // A clean exit drops the engine (releasing its OBS references) here, on the worker thread.
    drop(std::mem::ManuallyDrop::into_inner(engine));
}

fn serve<H: Host>(engine: &mut Engine<H>, rx: &Receiver<Msg>, abandoned: &AtomicBool) {
    const TICK: Duration = Duration::from_secs(1);
    let mut next_tick = Instant::now() + TICK;
    loop {
        if abandoned.load(Ordering::SeqCst) {
            return;
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Msg::Command(command)) => command.run(engine),
            Ok(Msg::Signal {
                id,
                generation,
                signal,
            }) => engine.on_signal(&id, generation, signal),
            Ok(Msg::Frontend(ev)) => engine.on_frontend(ev),
            Ok(Msg::Shutdown(done)) => {
                engine.shutdown();
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                engine.shutdown();
                return;
            }
        }
        if abandoned.load(Ordering::SeqCst) {
            return;
        }
        if Instant::now() >= next_tick {
            engine.tick();
            next_tick += TICK;
            if next_tick < Instant::now() {
                next_tick = Instant::now() + TICK;
            }
        }
    }
}
