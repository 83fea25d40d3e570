//! Engine behaviour against a scripted fake OBS: state machine, reconnects, errors, keys, files,
//! events and the vendor request surface (including malformed input).
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use deckcast_protocol::is_obs_data_safe;
use deckcast_secrets::{KeyStore, MemoryStore, Secret};
use serde_json::{Value, json};

use super::engine::{Engine, FrontendEvent, SignalRouter, key_account};
use super::host::{Host, Level, OutputSignal, OutputSpec, OutputStats, SignalSink};
use super::store;

#[derive(Default)]
struct Shared {
    events: Vec<(String, Value)>,
    logs: Vec<String>,
    started: Vec<String>,
    stopped: Vec<String>,
    specs: Vec<OutputSpec>,
    sinks: HashMap<String, SignalSink>,
    fail_start: bool,
    dyn_bitrate: bool,
    stats: OutputStats,
    hotkey_targets: Vec<String>,
    /// `sync_hotkeys` calls that gave every hotkey the loaded profile's bindings.
    hotkeys_restored: usize,
    bindings: Option<std::collections::BTreeMap<String, Value>>,
    /// Encoder types without the dynamic-bitrate capability.
    fixed_bitrate: Vec<String>,
    /// Outputs stopped at once.
    forced: Vec<String>,
    /// `set_video_bitrate` calls: (encoder config id, kbps).
    bitrate_calls: Vec<(String, u32)>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Shared>>);

impl Host for Fake {
    type Output = String;

    fn create_output(&mut self, spec: &OutputSpec, sink: SignalSink) -> Result<String, String> {
        let mut s = self.0.lock().unwrap();
        s.specs.push(spec.clone());
        s.sinks.insert(spec.target_id.clone(), sink);
        Ok(spec.target_id.clone())
    }
    fn start_output(&mut self, output: &String) -> Result<(), String> {
        let mut s = self.0.lock().unwrap();
        if s.fail_start {
            return Err("encoder init failed".into());
        }
        s.started.push(output.clone());
        Ok(())
    }
    fn stop_output(&mut self, output: &String, force: bool) {
        if force {
            self.0.lock().unwrap().forced.push(output.clone());
        }
        self.0.lock().unwrap().stopped.push(output.clone());
    }
    fn stats(&self, _: &String) -> OutputStats {
        self.0.lock().unwrap().stats
    }
    fn emit_event(&self, event_type: &'static str, data: Value) {
        self.0
            .lock()
            .unwrap()
            .events
            .push((event_type.into(), data));
    }
    fn log(&self, _: Level, msg: &str) {
        self.0.lock().unwrap().logs.push(msg.into());
    }
    fn main_dynamic_bitrate(&self) -> bool {
        self.0.lock().unwrap().dyn_bitrate
    }
    fn main_stream_kbps(&self) -> Option<u32> {
        Some(2660)
    }
    fn sync_hotkeys(
        &mut self,
        targets: &[(String, String)],
        _: &std::collections::BTreeMap<String, Value>,
        profile_loaded: bool,
    ) {
        let mut s = self.0.lock().unwrap();
        s.hotkey_targets = targets.iter().map(|(id, _)| id.clone()).collect();
        s.hotkeys_restored += usize::from(profile_loaded);
    }
    fn hotkey_bindings(&self) -> Option<std::collections::BTreeMap<String, Value>> {
        self.0.lock().unwrap().bindings.clone()
    }
    fn bitrate_adjustable(&self, encoder: &str) -> bool {
        !self
            .0
            .lock()
            .unwrap()
            .fixed_bitrate
            .iter()
            .any(|e| e == encoder)
    }
    fn set_video_bitrate(
        &mut self,
        config: &deckcast_protocol::targets::EncoderConfig,
        kbps: u32,
    ) -> Result<(), String> {
        self.0
            .lock()
            .unwrap()
            .bitrate_calls
            .push((config.id.clone(), kbps));
        Ok(())
    }
}

type Queue = Arc<Mutex<Vec<(String, u64, OutputSignal)>>>;

struct Rig {
    engine: Engine<Fake>,
    fake: Fake,
    queue: Queue,
    keys: Arc<MemoryStore>,
    dir: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        let fake = Fake::default();
        let queue: Queue = Arc::default();
        let q = Arc::clone(&queue);
        let router: SignalRouter = Arc::new(move |id, g, s| q.lock().unwrap().push((id, g, s)));
        let keys = Arc::new(MemoryStore::default());
        let mut engine = Engine::new(fake.clone(), keys.clone(), router);
        let dir = std::env::temp_dir().join(format!("deckcast-engine-{}", super::model::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        engine.load_profile(Some(dir.clone()));
        Rig {
            engine,
            fake,
            queue,
            keys,
            dir,
        }
    }

    /// Calls a request and checks the answer is obs_data-safe and never carries a key.
    fn call(&mut self, kind: &str, data: Value) -> Value {
        let v = super::command::handle_wire(&mut self.engine, kind, data);
        assert!(
            is_obs_data_safe(&v),
            "{kind} answered an array obs-websocket would empty: {v}"
        );
        assert!(
            !v.to_string().contains("sk_live"),
            "{kind} leaked a key: {v}"
        );
        v
    }

    fn ok(&mut self, kind: &str, data: Value) -> Value {
        let v = self.call(kind, data);
        assert!(v.get("error").is_none(), "{kind}: {v}");
        v
    }

    fn err(&mut self, kind: &str, data: Value) -> String {
        let v = self.call(kind, data);
        v["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{kind} should fail: {v}"))
            .to_owned()
    }

    fn create(&mut self, name: &str, key: Option<&str>) -> String {
        let mut req = json!({"name": name, "server": "rtmp://127.0.0.1:1935/live"});
        if let Some(k) = key {
            req["key"] = json!(k);
        }
        self.ok("CreateTarget", req)["target"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a target with a new dedicated encoder config (video `kbps`, 128 audio); returns
    /// the target's and the config's ids.
    fn dedicated(&mut self, name: &str, kbps: u32) -> (String, String) {
        let v = self.ok(
            "CreateTarget",
            json!({"name": name, "server": "rtmp://h/a", "key": format!("sk_live_{name}"),
            "encoder": {"mode": "dedicated", "config": {"bitrateKbps": kbps, "audioBitrateKbps": 128}}}),
        );
        let id = v["target"]["id"].as_str().unwrap().to_owned();
        let cfg = v["target"]["encoder"]["configId"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, cfg)
    }

    /// Starts target `id` and has its output report that it started.
    fn live(&mut self, id: &str) {
        self.ok("StartTarget", json!({"id": id}));
        self.signal(id, OutputSignal::Started);
    }

    /// Fires a signal the way libobs would (through the sink the engine gave the output).
    fn signal(&mut self, id: &str, s: OutputSignal) {
        let sink = self.fake.0.lock().unwrap().sinks[id].clone();
        sink(s);
        let pending: Vec<_> = self.queue.lock().unwrap().drain(..).collect();
        for (id, g, s) in pending {
            self.engine.on_signal(&id, g, s);
        }
    }

    fn state(&mut self, id: &str) -> String {
        self.ok("GetTarget", json!({"id": id}))["target"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn states_emitted(&self, id: &str) -> Vec<String> {
        self.fake
            .0
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|(t, d)| t == "TargetStateChanged" && d["id"] == id)
            .map(|(_, d)| d["state"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn lifecycle_connecting_live_stopping_idle_with_events() {
    let mut r = Rig::new();
    let id = r.create("Twitch", Some("sk_live_1"));
    assert_eq!(r.state(&id), "idle");
    let v = r.ok("StartTarget", json!({"id": id}));
    assert_eq!(v["target"]["state"], "connecting");
    r.signal(&id, OutputSignal::Started);
    assert_eq!(r.state(&id), "live");
    r.ok("StopTarget", json!({"id": id}));
    assert_eq!(r.state(&id), "stopping");
    r.signal(
        &id,
        OutputSignal::Stopped {
            code: 0,
            last_error: None,
        },
    );
    assert_eq!(r.state(&id), "idle");
    assert_eq!(
        r.states_emitted(&id),
        ["connecting", "live", "stopping", "idle"]
    );
    // The output got the key; the name follows the deckcast:<id> convention.
    let spec = r.fake.0.lock().unwrap().specs[0].clone();
    assert_eq!(spec.output_name, format!("deckcast:{id}"));
    assert_eq!(spec.key.expose(), "sk_live_1");
}

#[test]
fn reconnect_episodes_are_counted_and_giving_up_ends_in_error() {
    let mut r = Rig::new();
    let id = r.create("YT", Some("sk_live_2"));
    r.ok("StartTarget", json!({"id": id}));
    r.signal(&id, OutputSignal::Started);
    // libobs signals "reconnect" for every attempt: one episode counts once.
    r.signal(&id, OutputSignal::Reconnecting);
    r.signal(&id, OutputSignal::Reconnecting);
    assert_eq!(r.state(&id), "reconnecting");
    r.signal(&id, OutputSignal::Reconnected);
    let h = r.ok("GetTargetHealth", json!({"id": id}));
    assert_eq!(
        (
            h["targets"][0]["state"].as_str(),
            h["targets"][0]["reconnects"].as_u64()
        ),
        (Some("live"), Some(1))
    );
    r.signal(&id, OutputSignal::Reconnecting);
    r.signal(
        &id,
        OutputSignal::Stopped {
            code: -5,
            last_error: Some("timed out".into()),
        },
    );
    let t = r.ok("GetTarget", json!({"id": id}));
    assert_eq!(t["target"]["state"], "error");
    let msg = t["target"]["lastError"].as_str().unwrap();
    assert!(
        msg.starts_with("Disconnected from the server: timed out"),
        "{msg}"
    );
    assert!(msg.contains("Gave up"), "{msg}");
    // A manual start works again and resets the count.
    r.ok("StartTarget", json!({"id": id}));
    r.signal(&id, OutputSignal::Started);
    let h = r.ok("GetTargetHealth", json!({"id": id}));
    assert_eq!(h["targets"][0]["reconnects"], 0);
    assert_eq!(h["targets"][0]["lastError"], Value::Null);
}

#[test]
fn connect_failures_map_to_sentences_and_other_targets_stay_live() {
    let mut r = Rig::new();
    let good = r.create("good", Some("sk_live_a"));
    let bad = r.create("bad", Some("sk_live_b"));
    r.ok("StartAllTargets", json!({}));
    r.signal(&good, OutputSignal::Started);
    r.signal(
        &bad,
        OutputSignal::Stopped {
            code: -2,
            last_error: None,
        },
    );
    assert_eq!(r.state(&good), "live");
    let t = r.ok("GetTarget", json!({"id": bad}));
    assert_eq!(t["target"]["state"], "error");
    assert!(
        t["target"]["lastError"]
            .as_str()
            .unwrap()
            .starts_with("Could not connect to the server")
    );
    assert_eq!(r.states_emitted(&good), ["connecting", "live"]);
}

#[test]
fn start_refusals_are_errors_with_reasons() {
    let mut r = Rig::new();
    let nokey = r.create("no key", None);
    assert_eq!(r.err("StartTarget", json!({"id": nokey})), "conflict");
    let id = r.create("x", Some("sk_live_3"));
    r.fake.0.lock().unwrap().fail_start = true;
    let v = r.call("StartTarget", json!({"id": id}));
    assert_eq!(v["error"]["code"], "internal");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("encoder init failed")
    );
    assert_eq!(r.state(&id), "error");
    // StartAll reports per-target failures instead of failing as a whole.
    let all = r.ok("StartAllTargets", json!({}));
    assert_eq!(all["failed"].as_array().unwrap().len(), 2, "{all}");
}

#[test]
fn signals_from_replaced_outputs_are_ignored() {
    let mut r = Rig::new();
    let id = r.create("x", Some("sk_live_4"));
    r.ok("StartTarget", json!({"id": id}));
    let old_sink = r.fake.0.lock().unwrap().sinks[&id].clone();
    r.signal(
        &id,
        OutputSignal::Stopped {
            code: -2,
            last_error: None,
        },
    );
    // A new key means a new output; the old output's late signal must not touch the new one.
    r.ok("SetStreamKey", json!({"id": id, "key": "sk_live_5"}));
    r.ok("StartTarget", json!({"id": id}));
    old_sink(OutputSignal::Started);
    let pending: Vec<_> = r.queue.lock().unwrap().drain(..).collect();
    for (i, g, s) in pending {
        r.engine.on_signal(&i, g, s);
    }
    assert_eq!(r.state(&id), "connecting");
}

#[test]
fn malformed_requests_get_errors_not_panics() {
    let mut r = Rig::new();
    let id = r.create("x", Some("sk_live_6"));
    let huge = "x".repeat(5_000_000);
    for (kind, data, code) in [
        ("GetTarget", json!({}), "invalid_request"),
        ("GetTarget", json!({"id": 5}), "invalid_request"),
        ("GetTarget", json!({"id": "nope"}), "not_found"),
        ("GetTarget", json!([1, 2]), "invalid_request"),
        ("GetTarget", json!("str"), "invalid_request"),
        (
            "CreateTarget",
            json!({"name": "", "server": "rtmp://h/a"}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": "n", "server": "http://h/a"}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": "n", "server": "rtmp://h/a", "key": ""}),
            "invalid_value",
        ),
        ("CreateTarget", json!({"name": "n"}), "invalid_value"),
        (
            "CreateTarget",
            json!({"name": "n", "platform": "myspace"}),
            "invalid_request",
        ),
        (
            "CreateTarget",
            json!({"name": "n", "server": "rtmp://h/a", "bogus": 1}),
            "invalid_request",
        ),
        (
            "CreateTarget",
            json!({"name": huge.clone(), "server": "rtmp://h/a"}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": "n", "server": format!("rtmp://h/{huge}")}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": "n", "server": "rtmp://h/a", "encoder": {"mode": "dedicated", "configId": "zz"}}),
            "not_found",
        ),
        (
            "CreateTarget",
            json!({"name": "n", "server": "rtmp://h/a", "encoder": {"mode": "turbo"}}),
            "invalid_request",
        ),
        (
            "CreateTarget",
            json!({"name": "n", "server": "rtmp://h/a", "reconnect": {"retryDelaySec": 0, "maxRetries": 3}}),
            "invalid_value",
        ),
        (
            "UpdateTarget",
            json!({"id": id, "server": "rtmp://"}),
            "invalid_value",
        ),
        (
            "UpdateTarget",
            json!({"id": "nope", "name": "n"}),
            "not_found",
        ),
        ("SetStreamKey", json!({"id": id}), "invalid_request"),
        (
            "SetStreamKey",
            json!({"id": id, "key": huge}),
            "invalid_value",
        ),
        (
            "SetStreamKey",
            json!({"id": "nope", "key": "k"}),
            "not_found",
        ),
        ("DeleteTarget", json!({"id": "nope"}), "not_found"),
        ("StartTarget", json!({"id": null}), "invalid_request"),
        ("GetTargetHealth", json!({"id": "nope"}), "not_found"),
        ("DeleteEncoderConfig", json!({"id": "nope"}), "not_found"),
        (
            "ImportTargets",
            json!({"data": {"format": "other", "version": 1, "targets": [], "encoders": []}}),
            "invalid_value",
        ),
    ] {
        assert_eq!(
            r.err(kind, data.clone()),
            code,
            "{kind} {}",
            &data.to_string()[..data.to_string().len().min(120)]
        );
    }
    // Nothing was changed by the failures.
    let list = r.ok("ListTargets", json!({}));
    assert_eq!(list["targets"].as_array().unwrap().len(), 1);
}

#[test]
fn keys_live_in_the_keystore_never_in_the_file_logs_or_events() {
    let mut r = Rig::new();
    let id = r.create("Twitch", Some("sk_live_secret_777"));
    assert_eq!(
        r.keys.get(&key_account(&id)).unwrap(),
        Secret::new("sk_live_secret_777")
    );
    r.ok("StartTarget", json!({"id": id}));
    r.signal(
        &id,
        OutputSignal::Stopped {
            code: -3,
            last_error: Some("publish sk_live_secret_777 rejected".into()),
        },
    );
    let file = std::fs::read_to_string(store::path_in(&r.dir)).unwrap();
    assert!(!file.contains("sk_live"), "{file}");
    let s = r.fake.0.lock().unwrap();
    assert!(
        s.logs.iter().all(|l| !l.contains("sk_live")),
        "{:?}",
        s.logs
    );
    assert!(
        s.events
            .iter()
            .all(|(_, e)| !e.to_string().contains("sk_live"))
    );
    drop(s);
    let t = r.ok("GetTarget", json!({"id": id}));
    assert!(
        t["target"]["lastError"].as_str().unwrap().contains("***"),
        "{t}"
    );
    // Deleting the target deletes its key.
    r.ok("DeleteTarget", json!({"id": id}));
    assert_eq!(r.keys.get(&key_account(&id)).unwrap(), None);
}

#[test]
fn targets_persist_and_reload_with_their_keys() {
    let mut r = Rig::new();
    let a = r.create("A", Some("sk_live_a1"));
    let b = r.ok("CreateTarget", json!({"name": "B", "platform": "twitch", "syncStart": true,
        "encoder": {"mode": "dedicated", "config": {"bitrateKbps": 1200, "width": 640, "height": 360}}}))["target"].clone();
    assert_eq!(b["server"], "rtmp://live.twitch.tv/app");
    assert_eq!(b["hasKey"], false);
    r.ok(
        "UpdateTarget",
        json!({"id": a, "name": "A2", "syncStop": true}),
    );
    // A fresh engine over the same directory and key store sees the same targets and keys.
    let before = r.ok("ListTargets", json!({}));
    let dir = r.dir.clone();
    let mut e2 = Engine::new(Fake::default(), r.keys.clone(), Arc::new(|_, _, _| {}));
    e2.load_profile(Some(dir));
    let after = super::command::handle_wire(&mut e2, "ListTargets", json!({}));
    assert_eq!(before, after);
    assert_eq!(after["targets"][0]["name"], "A2");
    assert_eq!(after["targets"][0]["hasKey"], true);
    assert_eq!(after["encoders"][0]["bitrateKbps"], 1200);
}

#[test]
fn export_and_import_carry_no_keys_and_remap_encoders() {
    let mut r = Rig::new();
    r.ok(
        "CreateTarget",
        json!({"name": "A", "server": "rtmp://h/a", "key": "sk_live_x",
        "encoder": {"mode": "dedicated", "config": {"bitrateKbps": 900}}}),
    );
    let export = r.ok("ExportTargets", json!({}));
    assert!(!export.to_string().contains("sk_live"));
    let mut other = Rig::new();
    let imported = other.ok("ImportTargets", json!({"data": export.clone()}));
    assert_eq!(imported["targets"].as_array().unwrap().len(), 1);
    let list = other.ok("ListTargets", json!({}));
    let cfg_id = list["encoders"][0]["id"].clone();
    assert_eq!(list["targets"][0]["encoder"]["configId"], cfg_id);
    assert_eq!(list["targets"][0]["hasKey"], false);
    // Importing the same document again adds a copy with a new id; replace swaps everything.
    other.ok("ImportTargets", json!({"data": export.clone()}));
    assert_eq!(
        other.ok("ListTargets", json!({}))["targets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    other.ok("ImportTargets", json!({"data": export, "replace": true}));
    assert_eq!(
        other.ok("ListTargets", json!({}))["targets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn sync_start_and_stop_follow_the_main_stream() {
    let mut r = Rig::new();
    let a = r.ok("CreateTarget", json!({"name": "A", "server": "rtmp://h/a", "key": "sk_live_k1", "syncStart": true, "syncStop": true}))["target"]["id"].as_str().unwrap().to_owned();
    let b = r.create("manual", Some("sk_live_k2"));
    let c = r.ok("CreateTarget", json!({"name": "C", "server": "rtmp://h/a", "key": "sk_live_k3", "syncStart": true, "enabled": false}))["target"]["id"].as_str().unwrap().to_owned();
    r.engine.on_frontend(FrontendEvent::MainStreamStarting);
    assert_eq!(r.state(&a), "connecting");
    assert_eq!(r.state(&b), "idle");
    assert_eq!(r.state(&c), "idle", "disabled targets do not sync-start");
    r.signal(&a, OutputSignal::Started);
    r.engine.on_frontend(FrontendEvent::MainStreamStopping);
    assert_eq!(r.state(&a), "stopping");
}

#[test]
fn health_has_rates_and_warnings() {
    let mut r = Rig::new();
    let id = r.create("x", Some("sk_live_h"));
    r.fake.0.lock().unwrap().dyn_bitrate = true;
    r.ok("StartTarget", json!({"id": id}));
    r.signal(&id, OutputSignal::Started);
    r.engine.tick();
    r.fake.0.lock().unwrap().stats = OutputStats {
        active: true,
        total_bytes: 250_000,
        total_frames: 30,
        dropped_frames: 2,
        ..Default::default()
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    r.engine.tick();
    let h = r.ok("GetTargetHealth", json!({}))["targets"][0].clone();
    assert!(
        r.fake
            .0
            .lock()
            .unwrap()
            .logs
            .iter()
            .any(|l| l.contains("dynamic bitrate")),
        "dynamic bitrate is logged"
    );
    assert!(h["kbps"].as_f64().unwrap() > 1000.0, "{h}");
    assert_eq!(h["droppedFrames"], 2);
    assert!(
        h["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "dynamic_bitrate"),
        "{h}"
    );
    let s = r.fake.0.lock().unwrap();
    assert!(s.events.iter().any(|(t, _)| t == "TargetHealth"));
}

#[test]
fn deleting_a_live_target_stops_it_and_encoder_configs_in_use_are_protected() {
    let mut r = Rig::new();
    let v = r.ok(
        "CreateTarget",
        json!({"name": "A", "server": "rtmp://h/a", "key": "sk_live_d",
        "encoder": {"mode": "dedicated", "config": {}}}),
    );
    let id = v["target"]["id"].as_str().unwrap().to_owned();
    let cfg = v["target"]["encoder"]["configId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.err("DeleteEncoderConfig", json!({"id": cfg})), "conflict");
    let u = r.ok(
        "UpdateEncoderConfig",
        json!({"id": cfg, "config": {"bitrateKbps": 3000}}),
    );
    assert_eq!(u["bitrateKbps"], 3000);
    r.ok("StartTarget", json!({"id": id}));
    r.ok("DeleteTarget", json!({"id": id}));
    assert_eq!(r.fake.0.lock().unwrap().stopped, [id]);
    r.ok("DeleteEncoderConfig", json!({"id": cfg}));
}

/// Settings changed while a target was live, or in the encoder config it uses, apply at its next
/// start: the idle output built from the old ones is replaced.
#[test]
fn a_restart_uses_the_settings_changed_since_the_output_was_built() {
    let mut r = Rig::new();
    let v = r.ok(
        "CreateTarget",
        json!({"name": "A", "server": "rtmp://h/a", "key": "sk_live_r",
        "encoder": {"mode": "dedicated", "config": {"bitrateKbps": 2500}}}),
    );
    let id = v["target"]["id"].as_str().unwrap().to_owned();
    let cfg = v["target"]["encoder"]["configId"]
        .as_str()
        .unwrap()
        .to_owned();
    let stop = |r: &mut Rig| {
        r.ok("StopTarget", json!({"id": id}));
        r.signal(
            &id,
            OutputSignal::Stopped {
                code: 0,
                last_error: None,
            },
        );
        assert_eq!(r.state(&id), "idle");
    };
    r.ok("StartTarget", json!({"id": id}));
    r.signal(&id, OutputSignal::Started);
    // Changed while live: the running output keeps what it has until it stops.
    r.ok(
        "UpdateEncoderConfig",
        json!({"id": cfg, "config": {"bitrateKbps": 1200}}),
    );
    r.ok("UpdateTarget", json!({"id": id, "server": "rtmp://h/b"}));
    stop(&mut r);
    r.ok("StartTarget", json!({"id": id}));
    let bitrate = |s: &crate::targets::host::OutputSpec| match &s.encoder {
        crate::targets::host::EncoderSpec::Dedicated(c) => c.bitrate_kbps,
        crate::targets::host::EncoderSpec::Shared => 0,
    };
    {
        let f = r.fake.0.lock().unwrap();
        assert_eq!(f.specs.len(), 2, "a fresh output");
        assert_eq!(
            (bitrate(&f.specs[0]), f.specs[0].server.as_str()),
            (2500, "rtmp://h/a")
        );
        assert_eq!(
            (bitrate(&f.specs[1]), f.specs[1].server.as_str()),
            (1200, "rtmp://h/b")
        );
    }
    r.signal(&id, OutputSignal::Started);
    stop(&mut r);
    // Unchanged settings reuse the idle output.
    r.ok("StartTarget", json!({"id": id}));
    assert_eq!(r.fake.0.lock().unwrap().specs.len(), 2);
}

#[test]
fn hotkeys_follow_the_target_list() {
    let mut r = Rig::new();
    let a = r.create("A", None);
    let b = r.create("B", None);
    assert_eq!(
        r.fake.0.lock().unwrap().hotkey_targets,
        [a.clone(), b.clone()]
    );
    r.ok("DeleteTarget", json!({"id": a}));
    assert_eq!(r.fake.0.lock().unwrap().hotkey_targets, [b]);
    // Edits keep the bindings OBS holds (only the rig's first load replaced them); loading a
    // profile replaces them with its own.
    assert_eq!(r.fake.0.lock().unwrap().hotkeys_restored, 1);
    r.engine.load_profile(Some(r.dir.clone()));
    assert_eq!(r.fake.0.lock().unwrap().hotkeys_restored, 2);
}

#[test]
fn a_profile_switch_without_changing_first_saves_the_profile_left() {
    // OBS 31+ creates a profile and switches to it with only ProfileChanged (no ProfileChanging).
    let mut r = Rig::new();
    let id = r.create("Bound", Some("sk_live_bound"));
    let name = format!("deckcast.target.{id}.start");
    let binding = json!([{"key": "OBS_KEY_F9"}]);
    r.fake.0.lock().unwrap().bindings =
        Some([(name.clone(), binding.clone())].into_iter().collect());
    let other = r.dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    r.engine
        .on_frontend(FrontendEvent::ProfileLoaded(Some(other.clone())));
    assert_eq!(r.engine.profile_dir(), Some(other.as_path()));
    let left = store::load(&r.dir).unwrap();
    assert_eq!(
        left.hotkeys.get(&name),
        Some(&binding),
        "{:?}",
        left.hotkeys
    );
}

#[test]
fn a_failed_replace_import_changes_nothing_and_reimporting_an_export_keeps_the_keys() {
    let mut r = Rig::new();
    let a = r.create("A", Some("sk_live_a"));
    let b = r.create("B", Some("sk_live_b"));
    let export = r.ok("ExportTargets", json!({}));
    // One bad server in an otherwise good document: refused, and nothing is gone.
    let mut bad = export.clone();
    bad["targets"][1]["server"] = json!("ftp://nope");
    assert_eq!(
        r.err("ImportTargets", json!({"data": bad, "replace": true})),
        "invalid_value"
    );
    // More targets than a profile holds: refused, nothing is gone.
    let mut many = export.clone();
    let one = many["targets"][0].clone();
    many["targets"] = json!((0..70).map(|_| one.clone()).collect::<Vec<_>>());
    assert_eq!(
        r.err("ImportTargets", json!({"data": many, "replace": true})),
        "conflict"
    );
    let list = r.ok("ListTargets", json!({}));
    assert_eq!(list["targets"].as_array().unwrap().len(), 2);
    for id in [&a, &b] {
        assert!(
            r.keys.get(&key_account(id)).unwrap().is_some(),
            "{id} lost its key"
        );
    }
    // Re-importing one's own export with replace keeps the ids, and so the keys.
    let reply = r.ok("ImportTargets", json!({"data": export, "replace": true}));
    let ids: Vec<&str> = reply["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    let list = r.ok("ListTargets", json!({}));
    assert!(
        list["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["hasKey"] == true),
        "{list}"
    );
    for id in [&a, &b] {
        assert!(
            r.keys.get(&key_account(id)).unwrap().is_some(),
            "{id} lost its key"
        );
    }
    // A replace that drops a target deletes only that target's key.
    let only_a = {
        let mut e = r.ok("ExportTargets", json!({}));
        let keep = e["targets"][0].clone();
        e["targets"] = json!([keep]);
        e
    };
    r.ok("ImportTargets", json!({"data": only_a, "replace": true}));
    assert!(r.keys.get(&key_account(&a)).unwrap().is_some());
    assert!(r.keys.get(&key_account(&b)).unwrap().is_none());
    assert_eq!(
        store::load(&r.dir).unwrap().targets.len(),
        1,
        "saved once, at the end"
    );
}

/// A keyring whose `set` waits until the test opens the gate (a prompt nobody answers).
#[derive(Debug, Default)]
struct Gate {
    open: std::sync::Mutex<bool>,
    changed: std::sync::Condvar,
    entered: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Gate {
    fn set_open(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.changed.notify_all();
    }
}

impl KeyStore for Gate {
    fn backend(&self) -> deckcast_secrets::Backend {
        deckcast_secrets::Backend::Keyring
    }
    fn set(&self, _: &str, _: &Secret) -> Result<(), deckcast_secrets::KeyError> {
        if let Some(tx) = self.entered.lock().unwrap().as_ref() {
            let _ = tx.send(());
        }
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
        Ok(())
    }
    fn get(&self, _: &str) -> Result<Option<Secret>, deckcast_secrets::KeyError> {
        Ok(None)
    }
    fn delete(&self, _: &str) -> Result<(), deckcast_secrets::KeyError> {
        Ok(())
    }
}

#[test]
fn a_stuck_worker_is_left_behind_at_exit_and_touches_nothing_when_it_wakes() {
    use super::worker::{Stopped, Worker};
    use deckcast_protocol::decode_request;
    use deckcast_protocol::targets::{CreateTarget, SetStreamKey, StartTarget};
    use std::time::Duration;

    let fake = Fake::default();
    let gate = Arc::new(Gate::default());
    gate.set_open(true);
    let (host, keys) = (fake.clone(), Arc::clone(&gate));
    let worker = Arc::new(Worker::spawn_with(
        move || host,
        move || (keys as Arc<dyn KeyStore>, None),
    ));
    let dir = std::env::temp_dir().join(format!("deckcast-worker-{}", super::model::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    worker.frontend(FrontendEvent::ProfileLoaded(Some(dir.clone())));
    let long = Duration::from_secs(30);
    let created = worker
        .call(
            decode_request::<CreateTarget>(
                json!({"name": "Live", "server": "rtmp://127.0.0.1:1935/live", "key": "k1"}),
            )
            .unwrap(),
            long,
        )
        .unwrap();
    let id = created.target.config.id.clone();
    worker
        .call(
            decode_request::<StartTarget>(json!({ "id": id })).unwrap(),
            long,
        )
        .unwrap();
    assert_eq!(fake.0.lock().unwrap().started, vec![id.clone()]);

    // The keyring hangs on the next key: the worker is stuck inside SetStreamKey.
    gate.set_open(false);
    let (entered_tx, entered) = std::sync::mpsc::channel();
    *gate.entered.lock().unwrap() = Some(entered_tx);
    let w = Arc::clone(&worker);
    let key_id = id.clone();
    let pending = std::thread::spawn(move || {
        w.call(
            decode_request::<SetStreamKey>(json!({"id": key_id, "key": "k2"})).unwrap(),
            Duration::from_millis(200),
        )
    });
    entered
        .recv_timeout(long)
        .expect("the worker reached the keyring");
    let err = pending.join().unwrap().unwrap_err();
    assert!(err.message.contains("did not answer in time"), "{err:?}");

    // OBS exits: shutdown gives up after its timeout instead of joining forever.
    let (done_tx, done) = std::sync::mpsc::channel();
    let w = Arc::clone(&worker);
    std::thread::spawn(move || {
        let _ = done_tx.send(w.shutdown(Duration::from_millis(200)));
    });
    let stopped = done
        .recv_timeout(long)
        .expect("shutdown returned although the worker is stuck");
    let Stopped::Abandoned(Some(thread)) = stopped else {
        panic!("expected an abandoned worker, got {stopped:?}");
    };

    // The prompt is answered after OBS tore libobs down: the worker ends without stopping,
    // saving or releasing anything.
    let saved = std::fs::read_to_string(dir.join(store::FILE_NAME)).ok();
    gate.set_open(true);
    thread.join().unwrap();
    assert!(fake.0.lock().unwrap().stopped.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.join(store::FILE_NAME)).ok(),
        saved
    );
    assert!(matches!(
        worker.shutdown(Duration::from_millis(10)),
        Stopped::Clean
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreadable_targets_file_is_left_alone_and_a_corrupt_one_is_kept_with_a_timestamp() {
    // Unreadable (here: a directory where the file should be; EACCES or EIO look the same to
    // the engine): nothing is moved, nothing changes, nothing is saved over it.
    let mut r = Rig::new();
    let dir = r.dir.clone();
    std::fs::create_dir(dir.join(store::FILE_NAME)).unwrap();
    r.engine.load_profile(Some(dir.clone()));
    let v = r.call(
        "CreateTarget",
        json!({"name": "A", "server": "rtmp://127.0.0.1:1935/live"}),
    );
    assert_eq!(v["error"]["code"], "conflict", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("leaves it untouched"),
        "{v}"
    );
    r.engine.on_frontend(FrontendEvent::Save);
    assert!(dir.join(store::FILE_NAME).is_dir(), "saved over it");
    let names = || -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(), [store::FILE_NAME]);
    // Readable again after a profile reload: works as before.
    std::fs::remove_dir(dir.join(store::FILE_NAME)).unwrap();
    r.engine.load_profile(Some(dir.clone()));
    r.create("A", None);
    // Invalid JSON twice: each copy is kept under its own name, and saving works.
    for _ in 0..2 {
        r.engine.load_profile(None); // another profile (this one saved on the way out)
        std::fs::write(dir.join(store::FILE_NAME), "{not json").unwrap();
        r.engine.load_profile(Some(dir.clone()));
        assert!(
            r.ok("ListTargets", json!({}))["targets"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    let kept: Vec<String> = names()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{}.corrupt-", store::FILE_NAME)))
        .collect();
    assert_eq!(kept.len(), 2, "{:?}", names());
    for k in &kept {
        assert_eq!(std::fs::read_to_string(dir.join(k)).unwrap(), "{not json");
    }
    r.create("B", None);
    assert!(
        store::load(&dir)
            .unwrap()
            .targets
            .iter()
            .any(|t| t.name == "B")
    );
}

#[test]
fn a_live_dedicated_encoder_runs_lowered_and_back_for_every_target_on_its_config() {
    let mut r = Rig::new();
    let (a, cfg) = r.dedicated("A", 2000);
    let b = r.ok(
        "CreateTarget",
        json!({"name": "B", "server": "rtmp://h/b", "key": "sk_live_b",
        "encoder": {"mode": "dedicated", "configId": cfg}}),
    )["target"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shared = r.create("S", Some("sk_live_s"));
    // Not live yet: refused, nothing applied.
    assert_eq!(
        r.err("SetTargetVideoBitrate", json!({"id": a, "kbps": 1500})),
        "conflict"
    );
    r.live(&a);
    let health =
        |r: &mut Rig, id: &str| r.ok("GetTargetHealth", json!({"id": id}))["targets"][0].clone();
    let h = health(&mut r, &a);
    assert_eq!(
        h["videoBitrate"],
        json!({"configuredKbps": 2000, "appliedKbps": 2000, "adjustable": true})
    );
    assert_eq!(
        (h["encoderUsers"].clone(), h["expectedKbps"].clone()),
        (json!(1), json!(2128))
    );
    // Out of range, unknown, shared encoder: clear errors.
    for (req, code) in [
        (json!({"id": a, "kbps": 99}), "invalid_value"),
        (json!({"id": a, "kbps": 2001}), "invalid_value"),
        (json!({"id": "nope", "kbps": 500}), "not_found"),
        (json!({"id": a, "kbps": "fast"}), "invalid_request"),
    ] {
        assert_eq!(r.err("SetTargetVideoBitrate", req.clone()), code, "{req}");
    }
    r.live(&shared);
    let e = r.call("SetTargetVideoBitrate", json!({"id": shared, "kbps": 500}));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("OBS's own encoder"),
        "{e}"
    );
    // Lowered: the host is told once, health shows it, B starting on the same config shares it.
    let v = r.ok("SetTargetVideoBitrate", json!({"id": a, "kbps": 1200}));
    assert_eq!(
        v,
        json!({"configuredKbps": 2000, "appliedKbps": 1200, "adjustable": true})
    );
    r.ok("SetTargetVideoBitrate", json!({"id": a, "kbps": 1200}));
    r.live(&b);
    let h = health(&mut r, &b);
    assert_eq!(h["videoBitrate"]["appliedKbps"], 1200);
    assert_eq!(
        (h["encoderUsers"].clone(), h["expectedKbps"].clone()),
        (json!(2), json!(1328))
    );
    // Back to the config's bitrate.
    let v = r.ok("SetTargetVideoBitrate", json!({"id": b}));
    assert_eq!(v["appliedKbps"], 2000);
    assert_eq!(
        r.fake.0.lock().unwrap().bitrate_calls,
        vec![(cfg.clone(), 1200), (cfg.clone(), 2000)]
    );
    // A lowered bitrate is forgotten once nothing streams from the encoder.
    r.ok("SetTargetVideoBitrate", json!({"id": a, "kbps": 800}));
    for id in [&a, &b] {
        r.ok("StopTarget", json!({"id": id}));
        r.signal(
            id,
            OutputSignal::Stopped {
                code: 0,
                last_error: None,
            },
        );
    }
    r.engine.tick();
    let h = health(&mut r, &a);
    assert_eq!(
        (
            h["videoBitrate"]["appliedKbps"].clone(),
            h["encoderUsers"].clone()
        ),
        (json!(2000), json!(0))
    );
    // ... and the encoder itself is put back (it keeps its settings for the next start).
    assert_eq!(
        r.fake.0.lock().unwrap().bitrate_calls.last(),
        Some(&(cfg.clone(), 2000))
    );
    r.engine.tick();
    assert_eq!(r.fake.0.lock().unwrap().bitrate_calls.len(), 4, "once");
    // Lowered, stopped and started again before any tick: it starts at the config's bitrate.
    r.live(&a);
    r.ok("SetTargetVideoBitrate", json!({"id": a, "kbps": 900}));
    r.ok("StopTarget", json!({"id": a}));
    r.signal(
        &a,
        OutputSignal::Stopped {
            code: 0,
            last_error: None,
        },
    );
    r.ok("StartTarget", json!({"id": a}));
    assert_eq!(
        r.fake.0.lock().unwrap().bitrate_calls.last(),
        Some(&(cfg.clone(), 2000))
    );
    r.signal(&a, OutputSignal::Started);
    assert_eq!(health(&mut r, &a)["videoBitrate"]["appliedKbps"], 2000);
    r.ok("StopTarget", json!({"id": a}));
    r.signal(
        &a,
        OutputSignal::Stopped {
            code: 0,
            last_error: None,
        },
    );
    // An encoder that cannot change while running is refused.
    r.fake
        .0
        .lock()
        .unwrap()
        .fixed_bitrate
        .push("obs_x264".into());
    r.live(&a);
    let e = r.call("SetTargetVideoBitrate", json!({"id": a, "kbps": 800}));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot change its bitrate"),
        "{e}"
    );
    assert_eq!(health(&mut r, &a)["videoBitrate"]["adjustable"], false);
    assert_eq!(r.fake.0.lock().unwrap().bitrate_calls.len(), 6);
}

#[test]
fn a_stop_sends_the_buffer_and_a_forced_or_second_stop_drops_it() {
    let mut r = Rig::new();
    let a = r.create("A", Some("sk_live_a"));
    let b = r.create("B", Some("sk_live_b"));
    for id in [&a, &b] {
        r.ok("StartTarget", json!({"id": id}));
        r.signal(id, OutputSignal::Started);
    }
    r.ok("StopTarget", json!({"id": a}));
    assert!(r.fake.0.lock().unwrap().forced.is_empty(), "a plain stop");
    // Still stopping (its link is stalled): stopping again forces it; so does `force`.
    assert_eq!(r.state(&a), "stopping");
    r.ok("StopTarget", json!({"id": a}));
    r.ok("StopTarget", json!({"id": b, "force": true}));
    let forced = r.fake.0.lock().unwrap().forced.clone();
    assert_eq!(forced.len(), 2, "{forced:?}");
    // Stop-all leaves a stop under way alone instead of forcing it.
    let c = r.create("C", Some("sk_live_c"));
    r.live(&c);
    r.ok("StopTarget", json!({"id": c}));
    let v = r.ok("StopAllTargets", json!({}));
    assert_eq!(v["targets"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(r.fake.0.lock().unwrap().forced.len(), 2);
    for id in [&a, &b, &c] {
        r.signal(
            id,
            OutputSignal::Stopped {
                code: 0,
                last_error: None,
            },
        );
        assert_eq!(r.state(id), "idle");
    }
    assert_eq!(
        r.err("StopTarget", json!({"id": a, "force": "yes"})),
        "invalid_request"
    );
}

#[test]
fn a_config_edited_while_live_does_not_change_what_the_running_encoder_reports() {
    let mut r = Rig::new();
    let (a, cfg) = r.dedicated("A", 2000);
    r.live(&a);
    r.ok("SetTargetVideoBitrate", json!({"id": a, "kbps": 1200}));
    r.ok(
        "UpdateEncoderConfig",
        json!({"id": cfg, "config": {"bitrateKbps": 1000}}),
    );
    let h = r.ok("GetTargetHealth", json!({"id": a}))["targets"][0].clone();
    assert_eq!(
        h["videoBitrate"],
        json!({"configuredKbps": 2000, "appliedKbps": 1200, "adjustable": true}),
        "the running encoder was built from 2000: {h}"
    );
    // Back to what it was built with, not the edited config's 1000.
    let v = r.ok("SetTargetVideoBitrate", json!({"id": a}));
    assert_eq!(v["appliedKbps"], 2000);
    assert_eq!(
        r.fake.0.lock().unwrap().bitrate_calls.last().map(|c| c.1),
        Some(2000)
    );
    // After a restart the edited config is what runs.
    r.ok("StopTarget", json!({"id": a}));
    r.signal(
        &a,
        OutputSignal::Stopped {
            code: 0,
            last_error: None,
        },
    );
    r.live(&a);
    let h = r.ok("GetTargetHealth", json!({"id": a}))["targets"][0].clone();
    assert_eq!(h["videoBitrate"]["configuredKbps"], 1000, "{h}");
    assert_eq!(h["expectedKbps"], 1128, "{h}");
}
