"use strict";
// Deckcast dashboard: renders the companion's live snapshot (Server-Sent Events from
// /api/v1/events) and calls the REST API. No framework, no external files.

const $ = (sel, root = document) => root.querySelector(sel);
const state = { snapshot: null, snapshots: 0, editing: null, historyKey: "", scheduleVersion: -1, alertsKey: null };
window.deckcast = state; // read by the end-to-end tests

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(`/api/v1${path}`, init);
  if (r.status === 401) {
    location.replace("/login");
    throw new Error("logged out");
  }
  if (!r.ok) {
    const err = await r.json().catch(() => ({}));
    throw new Error(err.detail || `${method} ${path}: HTTP ${r.status}`);
  }
  return r.status === 204 ? null : r.json();
}

function notice(text) {
  const n = $("#notice");
  n.textContent = text || "";
  n.hidden = !text;
}

function duration(sec) {
  sec = Math.max(0, Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

function time(ms) {
  return new Date(ms).toLocaleString();
}

function setField(root, name, text) {
  const el = root.querySelector(`[data-field="${name}"]`);
  if (el && el.textContent !== text) el.textContent = text;
}

function spark(svg, points) {
  const max = Math.max(1, ...points);
  const coords = points.map((v, i) => `${i + (60 - points.length)},${(24 - (v / max) * 22 - 1).toFixed(1)}`);
  svg.querySelector("polyline").setAttribute("points", coords.join(" "));
}

function renderTile(t) {
  let tile = document.getElementById(`tile-${t.id}`);
  if (!tile) {
    tile = $("#tile-template").content.firstElementChild.cloneNode(true);
    tile.id = `tile-${t.id}`;
    tile.dataset.targetId = t.id;
    tile.addEventListener("click", (ev) => onTileAction(t.id, ev));
    $("#tiles").appendChild(tile);
  }
  tile.dataset.state = t.state;
  setField(tile, "name", t.name);
  setField(tile, "platform", t.platform);
  setField(tile, "state", t.state);
  // Protection lowered its dedicated encoder's bitrate while the link could not carry it.
  const vb = t.videoBitrate;
  const lowered = vb && vb.appliedKbps < vb.configuredKbps;
  tile.dataset.lowered = lowered ? "yes" : "no";
  setField(tile, "kbps", t.kbps.toFixed(0) + (lowered ? ` · encoder lowered to ${vb.appliedKbps} of ${vb.configuredKbps}` : ""));
  setField(tile, "fps", t.fps.toFixed(1));
  const pct = t.totalFrames > 0 ? ` (${((100 * t.droppedFrames) / t.totalFrames).toFixed(1)} %)` : "";
  setField(tile, "dropped", `${t.droppedFrames}${pct}`);
  setField(tile, "uptime", duration(t.uptimeSec));
  setField(tile, "reconnects", String(t.reconnects));
  setField(tile, "key", t.hasKey ? "•••••• set" : "missing");
  const problems = [t.lastError, ...t.warnings.map((w) => w.message)].filter(Boolean);
  setField(tile, "error", problems.join(" · "));
  spark(tile.querySelector(".spark"), t.spark);
  const active = ["connecting", "live", "reconnecting", "stopping"].includes(t.state);
  tile.querySelector('[data-action="start"]').disabled = active;
  tile.querySelector('[data-action="stop"]').disabled = !active;
}

function dbfs(v) {
  return v <= -120 ? "silence" : `${v.toFixed(1)} dBFS`;
}

function alertItem(a, withAck) {
  const el = document.createElement(withAck ? "div" : "li");
  el.className = `alert ${a.severity}`;
  el.dataset.alertId = a.id;
  el.dataset.kind = a.kind;
  el.dataset.state = a.state;
  const head = document.createElement("strong");
  head.textContent = `${a.state === "cleared" ? "Cleared: " : ""}${a.title}${a.targetName ? ` · ${a.targetName}` : ""}`;
  const text = document.createElement("span");
  const ended = a.clearedMs ? ` → ${new Date(a.clearedMs).toLocaleTimeString()} (${a.clearedMessage || ""})` : "";
  const action = a.action ? ` · Deckcast ${a.action}` : "";
  text.textContent = ` ${a.message}${action} · since ${new Date(a.raisedMs).toLocaleTimeString()}${ended}`;
  el.append(head, text);
  if (withAck && a.state === "raised") {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "quiet small-button";
    b.dataset.action = "ack";
    b.textContent = "Acknowledge";
    b.addEventListener("click", () => api("POST", `/alerts/${a.id}/ack`).catch((e) => notice(e.message)));
    el.append(" ", b);
  } else if (a.state === "acknowledged") {
    el.append(" (acknowledged)");
  }
  return el;
}

function renderAlerts(snap) {
  const box = $("#alerts");
  const active = snap.alerts || [];
  box.hidden = active.length === 0;
  const key = active.map((a) => `${a.id}:${a.state}`).join("|");
  if (key !== state.alertsKey) {
    state.alertsKey = key;
    box.replaceChildren(...active.map((a) => alertItem(a, true)));
    loadAlerts();
    // Once more a little later: what was done about an alert (a scene switched back) is written
    // while the list changes.
    setTimeout(loadAlerts, 2000);
  }
  const au = snap.audio;
  const card = $("#audio");
  card.dataset.state = !au ? "off" : (au.silentSec >= 2 ? "silent" : "ok");
  setField(card, "level", !au ? "not measured" : (au.peakDbfs <= -120 ? "silence" : `${dbfs(au.peakDbfs)} peak`));
  setField(card, "detail", au ? `RMS ${dbfs(au.rmsDbfs)} · ${au.source || "program mix"}${au.attached ? "" : " (not found)"}${au.silentSec >= 2 ? ` · silent for ${au.silentSec.toFixed(0)} s` : ""}${au.clippedFrames ? ` · ${au.clippedFrames} clipped frames` : ""}` : "");
}

async function loadAlerts() {
  try {
    const list = await api("GET", "/alerts?limit=50");
    $("#alert-history").replaceChildren(...list.history.map((a) => alertItem(a, false)));
    $("#alerts-summary").textContent = list.active.length ? `${list.active.length} active` : "none active";
  } catch (e) {
    notice(`alerts: ${e.message}`);
  }
}

function render(snap) {
  state.snapshot = snap;
  state.snapshots += 1;
  renderAlerts(snap);
  const obs = $("#obs");
  obs.dataset.state = snap.obs.state;
  obs.textContent = `OBS: ${snap.obs.state.replace("_", " ")}`;
  obs.title = snap.obs.message || "";
  const ms = snap.mainStream;
  const main = $("#main-stream");
  main.dataset.state = ms.active ? "live" : "idle";
  setField(main, "state", ms.active ? (ms.reconnecting ? "reconnecting" : "live") : "offline");
  setField(main, "detail", ms.active ? `${duration(ms.durationMs / 1000)} · ${ms.skippedFrames} skipped frames` : "");
  const sync = $("#sync");
  sync.hidden = !snap.sync.configured;
  // Waiting events with a failure, or events given up on, show as a warning; the reason of a
  // dead letter is the tooltip.
  const waitingError = snap.sync.pending && snap.sync.lastError;
  const dead = snap.sync.dead ? ` · ${snap.sync.dead} given up (see the outbox)` : "";
  sync.dataset.state = waitingError || snap.sync.dead ? "reconnecting" : "live";
  sync.textContent = waitingError
    ? `site sync: ${snap.sync.pending} waiting (${snap.sync.lastError})${dead}`
    : `site sync: ${snap.sync.pending ? `${snap.sync.pending} sending` : "up to date"}${dead}`;
  sync.title = !waitingError && snap.sync.dead && snap.sync.lastError ? snap.sync.lastError : "";
  const np = snap.nowPlaying;
  const track = np.title ? `${np.artist} – ${np.title}` : "–";
  setField($("#now-playing"), "track", track);
  const bpm = np.bpm ? `${np.bpm.toFixed(1)} BPM live (${Math.round((np.confidence || 0) * 100)} %)` :
    np.libraryBpm ? `${np.libraryBpm.toFixed(1)} BPM (library)` : "";
  setField($("#now-playing"), "bpm", bpm);
  const st = snap.stats;
  setField($("#obs-stats"), "stats", st ?
    `CPU ${st.cpuPercent.toFixed(1)} % · ${st.activeFps.toFixed(1)} fps · render skipped ${st.renderSkippedFrames} · encoder skipped ${st.outputSkippedFrames}` : "–");
  const v = snap.obs.versions;
  setField($("#obs-stats"), "versions", v ? `OBS ${v.obsStudio} · plugin ${snap.obs.pluginVersion || "?"} · keys in ${snap.obs.keyStorage || "?"}` : "");
  const ids = new Set(snap.targets.map((t) => t.id));
  for (const tile of [...$("#tiles").children]) {
    if (!ids.has(tile.dataset.targetId)) tile.remove();
  }
  snap.targets.forEach(renderTile);
  // Keep the plugin's order.
  snap.targets.forEach((t) => $("#tiles").appendChild(document.getElementById(`tile-${t.id}`)));
  $("#no-targets").hidden = snap.targets.length > 0;
  if (snap.scheduleVersion !== state.scheduleVersion) {
    state.scheduleVersion = snap.scheduleVersion;
    loadSchedule();
  }
  const key = [snap.obs.state, ms.active, ...snap.targets.map((t) => `${t.id}:${t.state}`)].join("|");
  if (key !== state.historyKey) {
    state.historyKey = key;
    loadHistory();
  }
}

async function loadSchedule() {
  try {
    const [sched, feeds] = await Promise.all([api("GET", "/schedule?past=20"), api("GET", "/feeds")]);
    const now = Date.now();
    const item = (e) => {
      const li = document.createElement("li");
      if (e.state === "planned" || e.state === "running") {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "quiet small-button";
        b.textContent = e.state === "running" ? "Stop" : "Cancel";
        b.addEventListener("click", async () => {
          if (!confirm(`${b.textContent} '${e.title}'?`)) return;
          await api("DELETE", `/schedule/${e.id}`).catch((err) => notice(err.message));
        });
        li.append(b, " ");
      }
      li.dataset.state = e.state;
      li.dataset.entryId = e.id;
      const when = `${time(e.startMs)} – ${new Date(e.endMs).toLocaleTimeString()}`;
      const outs = e.targets.length + (e.startMain ? 1 : 0);
      li.append(`${when} · ${e.title} · ${e.state}${e.note ? ` (${e.note})` : ""} · ${outs} output(s)${e.record ? " · recorded" : ""}${e.reair ? ` · re-air of #${e.reair.recordingId}${e.reair.loop ? ", looping" : ""}` : ""}${e.origin !== "local" ? ` · ${e.origin}` : ""}`);
      return li;
    };
    $("#upcoming").replaceChildren(...sched.entries.filter((e) => e.endMs > now && ["planned", "running"].includes(e.state)).map(item));
    $("#past-sets").replaceChildren(...sched.entries.filter((e) => !(e.endMs > now && ["planned", "running"].includes(e.state))).reverse().map(item));
    const c = $("#conflicts");
    c.textContent = sched.conflicts.map((x) => x.message).join(" · ");
    c.hidden = sched.conflicts.length === 0;
    $("#feed-list").replaceChildren(...feeds.feeds.map((fd) => {
      const li = document.createElement("li");
      li.dataset.feedId = fd.id;
      const fetched = fd.lastFetchMs ? `fetched ${time(fd.lastFetchMs)}` : "not fetched yet";
      li.append(`${fd.url} · ${fetched}${fd.lastError ? ` · failing: ${fd.lastError}` : ""}`);
      if (fd.problems.length) {
        const ul = document.createElement("ul");
        ul.replaceChildren(...fd.problems.map((p) => {
          const x = document.createElement("li");
          x.className = "feed-problem";
          x.textContent = p;
          return x;
        }));
        li.append(ul);
      }
      return li;
    }));
    const broken = feeds.feeds.filter((f) => f.lastError);
    $("#feeds-summary").textContent = feeds.feeds.length
      ? `${feeds.feeds.length} calendar(s)${broken.length ? ` · ${broken.length} failing: ${broken[0].lastError}` : ""}`
      : "";
  } catch (e) {
    notice(`schedule: ${e.message}`);
  }
}

function bytes(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
}

// A recording's upload to the streamer's site: its progress bar and state, and the button that
// starts it again or cancels it.
function uploadControls(r, u) {
  const span = document.createElement("span");
  span.className = "upload";
  const pending = u && ["queued", "uploading", "waiting"].includes(u.state);
  if (u) {
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = u.percent;
    const retry = u.nextAttemptMs ? `, goes on at ${time(u.nextAttemptMs)}` : "";
    const why = u.lastError && u.state !== "complete" ? ` (${u.lastError})` : "";
    span.append(" upload ", bar, ` ${u.percent.toFixed(1)} % ${u.state}${retry}${why} `);
  }
  const b = document.createElement("button");
  b.type = "button";
  b.className = "quiet small-button";
  b.textContent = pending ? "Cancel upload" : u ? "Upload again" : "Upload to site";
  b.addEventListener("click", async () => {
    b.disabled = true;
    await api(pending ? "DELETE" : "POST", `/recordings/${r.id}/upload`).catch((e) => notice(e.message));
    loadRecordings();
  });
  span.append(b);
  return span;
}

// A checkbox per target (value: its id), for the set and re-air editors.
function targetChecks() {
  return (state.snapshot ? state.snapshot.targets : []).map((t) => {
    const l = document.createElement("label");
    l.className = "check";
    const i = document.createElement("input");
    i.type = "checkbox";
    i.name = "target";
    i.value = t.id;
    l.append(i, ` ${t.name}`);
    return l;
  });
}

// What is re-airing (or why the last re-air ended), and the button that stops it.
function showReair(r) {
  const playing = r && r.state === "playing";
  let text = "";
  if (playing) {
    const at = r.positionMs != null ? ` · ${duration(r.positionMs / 1000)}${r.durationMs ? ` of ${duration(r.durationMs / 1000)}` : ""}` : "";
    const loop = r.loop ? ` · loop ${r.loops + 1}` : "";
    const track = r.track ? ` · on air: ${r.track.artist} – ${r.track.title}` : "";
    text = `re-airing #${r.recordingId} in '${r.scene}'${at}${loop}${track}`;
  } else if (r && r.ended) {
    text = `last re-air (#${r.recordingId}) ended: ${r.ended}`;
  }
  $("#reair-now").textContent = text;
  $("#reair-stop").hidden = !playing;
}

function openReairEditor(r) {
  state.reairing = r.id;
  const f = $("#reair-form");
  f.reset();
  setField(f, "title", `Re-air recording #${r.id}`);
  $("#reair-targets").replaceChildren(...targetChecks());
  $("#reair-error").textContent = "";
  $("#reair-editor").showModal();
}

$("#reair-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const body = {
    recordingId: state.reairing,
    targets: [...document.querySelectorAll("#reair-targets input:checked")].map((i) => i.value),
    loop: f.loop.checked,
  };
  if (f.scene.value.trim()) body.scene = f.scene.value.trim();
  try {
    showReair(await api("POST", "/reair", body));
    $("#reair-editor").close();
  } catch (e) {
    $("#reair-error").textContent = e.message;
  }
});
$("#reair-cancel").addEventListener("click", () => $("#reair-editor").close());
$("#reair-stop").addEventListener("click", async () => {
  $("#reair-stop").disabled = true;
  await api("POST", "/reair/stop").then(showReair).catch((e) => notice(e.message));
  $("#reair-stop").disabled = false;
});

// The recording library: each entry with its download (range requests), tracklist exports,
// upload to the site, re-air and delete (asks first; the file only of a recording Deckcast
// started).
async function loadRecordings() {
  try {
    const [now, list, uploads, reair] = await Promise.all([
      api("GET", "/recording").catch(() => null),
      api("GET", "/recordings?limit=30"),
      api("GET", "/uploads?limit=100").catch(() => ({ uploads: [] })),
      api("GET", "/reair").catch(() => null),
    ]);
    showReair(reair);
    const uploadOf = new Map(uploads.uploads.map((u) => [u.recordingId, u]));
    const live = now && now.active && now.recording;
    $("#recording-now").textContent = live
      ? `recording now: #${live.id}${now.paused ? " (paused)" : ""}, ${duration(live.durationMs / 1000)}`
      : "";
    $("#record-start").disabled = !!(now && now.active);
    $("#record-stop").disabled = !(now && now.active);
    $("#no-recordings").hidden = list.recordings.length > 0;
    $("#recording-list").replaceChildren(...list.recordings.map((r) => {
      const li = document.createElement("li");
      li.dataset.recordingId = r.id;
      const name = r.file ? r.file.split(/[\\/]/).pop() : "(no file named)";
      const ending = r.ending === "disk_space" ? "stopped: disk full" : r.ending || "recording";
      const set = r.setId ? ` · set ${r.setId}` : "";
      li.append(`${time(r.startedMs)} · ${name} · ${duration(r.durationMs / 1000)} · ${bytes(r.bytes)} · ${ending} · ${r.tracks.length} track(s)${set} · `);
      if (r.endedMs) {
        const a = document.createElement("a");
        a.href = `/api/v1/recordings/${r.id}/file`;
        a.textContent = "Download";
        a.setAttribute("download", name);
        li.append(a, " · ");
      }
      for (const f of ["cue", "youtube", "mixcloud", "text"]) {
        const a = document.createElement("a");
        a.href = `/api/v1/recordings/${r.id}/tracklist?format=${f}&download=true`;
        a.textContent = f;
        li.append(a, " ");
      }
      if (r.endedMs) {
        const audio = document.createElement("button");
        audio.type = "button";
        audio.className = "quiet small-button";
        audio.textContent = "Audio only";
        audio.title = "The audio track copied out (not re-encoded), for Mixcloud or SoundCloud";
        audio.addEventListener("click", async () => {
          audio.disabled = true;
          try {
            await api("POST", `/recordings/${r.id}/audio`);
            location.assign(`/api/v1/recordings/${r.id}/audio`);
          } catch (e) {
            notice(e.message);
          }
          audio.disabled = false;
        });
        const again = document.createElement("button");
        again.type = "button";
        again.className = "quiet small-button";
        again.textContent = "Re-air";
        again.title = "Play it again in OBS, streamed to targets, Now Playing from its tracklist";
        again.addEventListener("click", () => openReairEditor(r));
        li.append(" ", audio, " ", uploadControls(r, uploadOf.get(r.id)), " ", again);
        const b = document.createElement("button");
        b.type = "button";
        b.className = "quiet small-button";
        b.textContent = "Delete";
        const ours = r.startedBy !== "obs";
        b.addEventListener("click", async () => {
          const what = ours ? `recording #${r.id} and its file ${name}` : `recording #${r.id} from the library (OBS started it: the file stays)`;
          if (!confirm(`Delete ${what}?`)) return;
          await api("DELETE", `/recordings/${r.id}?deleteFile=${ours}`).catch((e) => notice(e.message));
          loadRecordings();
        });
        li.append(" ", b);
      }
      return li;
    }));
  } catch (e) {
    notice(e.message);
  }
}

$("#record-start").addEventListener("click", async () => {
  await api("POST", "/recording/start").catch((e) => notice(e.message));
  loadRecordings();
});
$("#record-stop").addEventListener("click", async () => {
  $("#record-stop").disabled = true;
  await api("POST", "/recording/stop").catch((e) => notice(e.message));
  loadRecordings();
});

async function loadHistory() {
  try {
    const h = await api("GET", "/history?limit=30");
    const sessions = $("#sessions");
    sessions.replaceChildren(...h.sessions.map((s) => {
      const li = document.createElement("li");
      li.dataset.sessionId = s.id;
      li.title = "Show this session's report and chart";
      li.addEventListener("click", () => showSession(s.id));
      const end = s.endedMs ? `${duration((s.endedMs - s.startedMs) / 1000)}, ${s.endReason}` : "live now";
      li.textContent = `${time(s.startedMs)} · ${end} · ${s.targets.length} output(s)`;
      return li;
    }));
    const events = $("#history");
    events.replaceChildren(...h.events.map((e) => {
      const li = document.createElement("li");
      li.dataset.kind = e.kind;
      li.textContent = `${time(e.tsMs)} · ${e.message}`;
      return li;
    }));
  } catch (e) {
    notice(`history: ${e.message}`);
  }
}

// Now playing from DJ software: the configured readers, added and removed here.
const NP_KINDS = {
  virtualdj: "VirtualDJ", serato: "Serato DJ 3", serato4: "Serato DJ 4",
  icecast: "Icecast receiver", mpris: "MPRIS players", file: "File",
};
state.npSources = [];

function sourceText(src) {
  const where = src.kind === "icecast" ? `port ${src.port} on 127.0.0.1`
    : src.kind === "mpris" ? (src.player ? `players named “${src.player}”` : "every player")
    : src.kind === "file" ? `${src.path} as “${src.format}”` : src.path;
  return `${NP_KINDS[src.kind] || src.kind}: ${where}`;
}

async function loadSources() {
  try {
    const r = await api("GET", "/nowplaying/sources");
    state.npSources = r.sources;
    $("#np-none").hidden = r.sources.length > 0;
    $("#np-list").replaceChildren(...r.sources.map((src, i) => {
      const li = document.createElement("li");
      li.dataset.kind = src.kind;
      li.append(`${sourceText(src)} `);
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "quiet small-button danger";
      rm.dataset.action = "remove-source";
      rm.textContent = "Remove";
      rm.addEventListener("click", () => saveSources(state.npSources.filter((_, j) => j !== i)));
      li.append(rm);
      return li;
    }));
    $("#np-error").textContent = "";
  } catch (e) {
    $("#np-error").textContent = `DJ software: ${e.message}`;
  }
}

async function saveSources(sources) {
  try {
    await api("PUT", "/nowplaying/sources", { sources });
  } catch (e) {
    $("#np-error").textContent = e.message;
    throw e;
  } finally {
    loadSources();
  }
}

function showSourceFields() {
  const kind = $("#np-form").elements.kind.value;
  for (const l of $("#np-form").querySelectorAll("[data-for]")) l.hidden = !l.dataset.for.split(" ").includes(kind);
}

$("#np-add").addEventListener("click", () => {
  $("#np-form").reset();
  showSourceFields();
  $("#np-form-error").textContent = "";
  $("#np-editor").showModal();
});
$("#np-form").elements.kind.addEventListener("change", showSourceFields);
$("#np-cancel").addEventListener("click", () => { $("#np-form").elements.password.value = ""; $("#np-editor").close(); });
$("#np-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const src = { kind: f.kind.value };
  if (["virtualdj", "serato", "serato4", "file"].includes(src.kind)) src.path = f.path.value.trim();
  if (src.kind === "file") src.format = f.format.value;
  if (src.kind === "icecast") {
    src.port = Number(f.port.value);
    if (f.password.value) src.password = f.password.value;
  }
  if (src.kind === "mpris" && f.player.value.trim()) src.player = f.player.value.trim();
  try {
    await api("PUT", "/nowplaying/sources", { sources: [...state.npSources, src] });
    f.password.value = "";
    $("#np-editor").close();
  } catch (e) {
    $("#np-form-error").textContent = e.message;
  }
  loadSources();
});

// Your site: webhooks, pulls, uploads and their state, with the dead letters listed.
state.site = null;

async function loadSite() {
  try {
    const p = await api("GET", "/platform");
    state.site = p;
    const root = $("#site");
    setField(root, "webhook", p.webhookUrl ? `${p.webhookUrl} · every ${p.healthIntervalS} s` : "off");
    setField(root, "delivered", p.lastDeliveredMs ? `${time(p.lastDeliveredMs)} · ${p.pending} waiting` : `${p.pending} waiting`);
    setField(root, "base", p.baseUrl ? `${p.baseUrl} · every ${p.pullIntervalS} s` : "off");
    setField(root, "pull", p.lastPullError ? `failed: ${p.lastPullError}` : (p.lastPullMs ? `${time(p.lastPullMs)} · ok` : "never"));
    setField(root, "token", p.tokenInKeyring ? "•••••• in the keyring" : "not set");
    setField(root, "secret", p.secretInKeyring ? "in the keyring (deckcast platform secret show)" : "none yet");
    setField(root, "uploads", p.uploadRecordings ? "every finished recording" : "on request");
    setField(root, "dead", p.dead ? `${p.dead} event(s), newest ${time(p.lastDeadMs)}` : "none");
    root.dataset.pull = p.lastPullError ? "failed" : (p.lastPullMs ? "ok" : "never");
    $("#site-summary").textContent = p.lastError ? `webhooks failing: ${p.lastError}` : "";
    $("#site-pull").disabled = !p.baseUrl;
    const dead = p.dead ? (await api("GET", "/platform/outbox?limit=200")).events.filter((e) => e.deadMs) : [];
    $("#site-dead").replaceChildren(...dead.slice(0, 20).map((e) => {
      const li = document.createElement("li");
      li.dataset.kind = e.kind;
      li.textContent = `${time(e.deadMs)} · ${e.kind} · ${e.attempts} attempt(s) · ${e.lastError || "refused"}`;
      return li;
    }));
    $("#site-error").textContent = "";
  } catch (e) {
    $("#site-error").textContent = `site: ${e.message}`;
  }
}

$("#site-edit").addEventListener("click", () => {
  const p = state.site || {};
  const f = $("#site-form").elements;
  // The webhook URL is shown shortened (it may hold a key): type it again to change it.
  f.webhookUrl.value = "";
  f.webhookUrl.placeholder = p.webhookUrl ? `now ${p.webhookUrl} (empty: keep)` : "https://example.com/deckcast";
  f.healthIntervalS.value = p.healthIntervalS || 60;
  f.baseUrl.value = p.baseUrl || "";
  f.pullIntervalS.value = p.pullIntervalS || 300;
  f.token.value = "";
  f.uploadRecordings.checked = !!p.uploadRecordings;
  f.webhooksOff.checked = false;
  $("#site-form-error").textContent = "";
  $("#site-editor").showModal();
});
$("#site-cancel").addEventListener("click", () => { $("#site-form").elements.token.value = ""; $("#site-editor").close(); });
$("#site-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const body = {
    healthIntervalS: Number(f.healthIntervalS.value),
    baseUrl: f.baseUrl.value.trim() || null,
    pullIntervalS: Number(f.pullIntervalS.value),
    uploadRecordings: f.uploadRecordings.checked,
  };
  if (f.webhooksOff.checked) body.webhookUrl = null;
  else if (f.webhookUrl.value.trim()) body.webhookUrl = f.webhookUrl.value.trim();
  if (f.token.value) body.token = f.token.value;
  try {
    await api("PUT", "/platform", body);
    f.token.value = "";
    $("#site-editor").close();
  } catch (e) {
    $("#site-form-error").textContent = e.message;
  }
  loadSite();
});
$("#site-pull").addEventListener("click", async () => {
  $("#site-pull").disabled = true;
  try {
    const r = await api("POST", "/platform/pull");
    $("#site-report").textContent = `pulled: ${r.targetsCreated} new and ${r.targetsUpdated} changed target(s), sets +${r.sets[0]} ~${r.sets[1]} −${r.sets[2]}${r.problems.length ? ` · ${r.problems.join("; ")}` : ""}`;
  } catch (e) {
    $("#site-report").textContent = e.message;
  }
  loadSite();
});

// Pairing a phone (serve --lan): a one-time code in a QR code.
$("#pair-phone").addEventListener("click", async () => {
  const img = $("#pair-qr");
  img.hidden = true;
  $("#pair-url").textContent = "";
  $("#pair-fingerprint").textContent = "";
  $("#pair-error").textContent = "";
  $("#pair-dialog").showModal();
  try {
    const p = await api("POST", "/pairing");
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(p.svg)}`;
    img.hidden = false;
    $("#pair-url").textContent = `or open ${p.url} (until ${time(p.expiresMs)})`;
    $("#pair-fingerprint").textContent = `The phone's browser will warn about the certificate: accept it if its SHA-256 fingerprint is ${p.fingerprint}.`;
  } catch (e) {
    $("#pair-error").textContent = e.message;
  }
});

async function onTileAction(id, ev) {
  const action = ev.target.dataset && ev.target.dataset.action;
  if (!action) return;
  const t = state.snapshot.targets.find((x) => x.id === id);
  try {
    if (action === "start") await api("POST", `/targets/${encodeURIComponent(id)}/start`);
    if (action === "stop") await api("POST", `/targets/${encodeURIComponent(id)}/stop`);
    if (action === "edit") openEditor(t);
    if (action === "delete" && confirm(`Delete ${t.name}? Its stream key is removed from the keyring.`)) {
      await api("DELETE", `/targets/${encodeURIComponent(id)}`);
    }
    notice("");
  } catch (e) {
    notice(e.message);
  }
}

function openEditor(t) {
  state.editing = t ? t.id : null;
  const f = $("#target-form");
  f.reset();
  setField(f, "title", t ? `Edit ${t.name}` : "Add target");
  if (t) {
    f.elements.name.value = t.name;
    f.elements.platform.value = t.platform;
    f.elements.server.value = t.server;
    f.elements.enabled.checked = t.enabled;
  }
  f.elements.key.placeholder = t && t.hasKey ? "unchanged (set in the keyring)" : "";
  setField(f, "key-hint", "Keys go to the OS keyring and are never shown again.");
  $("#form-error").textContent = "";
  $("#editor").showModal();
}

$("#target-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const body = { name: f.name.value.trim(), platform: f.platform.value, enabled: f.enabled.checked };
  if (f.server.value.trim()) body.server = f.server.value.trim();
  if (f.key.value) body.key = f.key.value;
  try {
    if (state.editing) {
      await api("PATCH", `/targets/${encodeURIComponent(state.editing)}`, body);
    } else {
      await api("POST", "/targets", body);
    }
    f.key.value = "";
    $("#editor").close();
  } catch (e) {
    $("#form-error").textContent = e.message;
  }
});

$("#cancel").addEventListener("click", () => { $("#target-form").elements.key.value = ""; $("#editor").close(); });
$("#add").addEventListener("click", () => openEditor(null));
$("#start-all").addEventListener("click", () => api("POST", "/actions/start-all").catch((e) => notice(e.message)));
$("#stop-all").addEventListener("click", () => api("POST", "/actions/stop-all").catch((e) => notice(e.message)));
$("#logout").addEventListener("click", async () => {
  await api("POST", "/logout").catch(() => {});
  location.replace("/login");
});

function openSetEditor(kind) {
  state.setKind = kind;
  const f = $("#set-form");
  f.reset();
  setField(f, "title", kind === "feed" ? "Subscribe to a calendar" : "Schedule a set");
  f.querySelectorAll("[data-only]").forEach((el) => { el.hidden = el.dataset.only !== kind; });
  state.previewed = null;
  $("#feed-preview").hidden = true;
  $("#set-submit").textContent = kind === "feed" ? "Preview" : "Save";
  const box = $("#set-targets");
  box.replaceChildren(...targetChecks());
  $("#set-error").textContent = "";
  $("#set-editor").showModal();
}

$("#set-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const targets = [...document.querySelectorAll("#set-targets input:checked")].map((i) => i.value);
  const common = { targets, startMain: f.startMain.checked, record: f.record.checked };
  if (f.scene.value.trim()) common.scene = f.scene.value.trim();
  if (state.setKind !== "feed" && f.reair.value) {
    common.reair = { recordingId: Number(f.reair.value), loop: f.reairLoop.checked };
  }
  try {
    if (state.setKind === "feed") {
      const defaultLengthMinutes = Number(f.defaultLength.value || 0);
      const wanted = `${f.url.value.trim()} ${defaultLengthMinutes}`;
      if (state.previewed !== wanted) {
        // The preview first: what the calendar schedules, and what it skips and why.
        showPreview(await api("POST", "/feeds/preview", { url: f.url.value.trim(), defaultLengthMinutes }));
        state.previewed = wanted;
        $("#set-submit").textContent = "Subscribe";
        return;
      }
      const r = await api("POST", "/feeds", { url: f.url.value.trim(), defaultLengthMinutes, ...common });
      if (r.fetchError) notice(`calendar saved, but the first fetch failed: ${r.fetchError}`);
    } else {
      const ms = (v) => (v ? new Date(v).getTime() : NaN);
      if (Number.isNaN(ms(f.start.value)) || Number.isNaN(ms(f.end.value))) {
        throw new Error("a set needs a start and an end");
      }
      await api("POST", "/schedule", { title: f.title.value.trim(), start: ms(f.start.value), end: ms(f.end.value), ...common });
    }
    $("#set-editor").close();
    loadSchedule();
  } catch (e) {
    $("#set-error").textContent = e.message;
  }
});
$("#set-cancel").addEventListener("click", () => $("#set-editor").close());
$("#set-form").elements.reair.addEventListener("input", (ev) => {
  if (ev.target.value) ev.target.form.elements.record.checked = false;
});

function showPreview(p) {
  const sets = p.instances.map((i) => {
    const li = document.createElement("li");
    li.textContent = `${time(i.startMs)} – ${new Date(i.endMs).toLocaleTimeString()} · ${i.title}${i.lengthFromCalendar ? "" : " (default length)"}`;
    return li;
  });
  if (!sets.length) {
    const li = document.createElement("li");
    li.textContent = "No sets in the next 90 days.";
    sets.push(li);
  }
  $("#feed-preview-sets").replaceChildren(...sets);
  const skipped = p.skipped.map((s) => {
    const li = document.createElement("li");
    li.className = "feed-problem";
    const when = s.startMs ? ` on ${time(s.startMs)}` : "";
    li.textContent = `${s.title || "Untitled"}${when}: not scheduled: ${s.reason === "allDay" ? "all-day" : s.reason} — ${s.detail}`;
    return li;
  });
  if (p.moreSkipped) {
    const li = document.createElement("li");
    li.textContent = `… and ${p.moreSkipped} more not scheduled`;
    skipped.push(li);
  }
  for (const n of p.notes) {
    const li = document.createElement("li");
    li.className = "feed-note";
    li.textContent = n;
    skipped.push(li);
  }
  $("#feed-preview-skipped").replaceChildren(...skipped);
  $("#feed-preview").hidden = false;
}
$("#add-set").addEventListener("click", () => openSetEditor("set"));
$("#add-feed").addEventListener("click", () => openSetEditor("feed"));

// Reports and charts: plain SVG over /api/v1/chart; the report of a session over
// /api/v1/sessions/{id}/report. What is drawn is kept in state.chart (read by the e2e tests).
const COLORS = ["#2ecc71", "#4aa3ff", "#f1c40f", "#e67e22", "#9b59b6", "#1abc9c", "#e84393", "#95a5a6"];
const SVG = "http://www.w3.org/2000/svg";
const CHART = { w: 1000, h: 320, top: 10, bottom: 250, dropTop: 260, dropBottom: 310 };

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) {
    const t = document.createElementNS(SVG, "title");
    t.textContent = text;
    el.append(t);
  }
  return el;
}

async function loadChart(fromMs, toMs) {
  // Only the newest request draws (an older, slower answer must not replace it).
  const req = (state.chartReq = (state.chartReq || 0) + 1);
  try {
    const c = await api("GET", `/chart?from=${Math.floor(fromMs)}&to=${Math.ceil(toMs)}&points=300`);
    if (req === state.chartReq) drawChart(c);
  } catch (e) {
    notice(`chart: ${e.message}`);
  }
}

function drawChart(c) {
  const el = $("#chart");
  const span = Math.max(1, c.toMs - c.fromMs);
  const x = (ms) => ((ms - c.fromMs) / span) * CHART.w;
  const maxKbps = Math.max(100, ...c.points.map((p) => p.kbps));
  const maxDrops = Math.max(1, ...c.points.map((p) => p.droppedFrames));
  const y = (kbps) => CHART.bottom - (kbps / maxKbps) * (CHART.bottom - CHART.top);
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const gy = CHART.top + ((CHART.bottom - CHART.top) * i) / 4;
    parts.push(svg("line", { class: "grid", x1: 0, x2: CHART.w, y1: gy, y2: gy }));
  }
  parts.push(svg("text", { x: 4, y: CHART.top + 14 }));
  parts[parts.length - 1].textContent = `${Math.round(maxKbps)} kbps`;
  const ids = Object.keys(c.names);
  const plotted = [];
  const legend = [];
  ids.forEach((id, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = c.points.filter((p) => p.targetId === id);
    const coords = pts.map((p) => {
      const px = x(p.tsS * 1000), py = y(p.kbps);
      plotted.push({ targetId: id, tsS: p.tsS, kbps: p.kbps, droppedFrames: p.droppedFrames, x: px, y: py });
      return `${px.toFixed(1)},${py.toFixed(1)}`;
    });
    parts.push(svg("polyline", { points: coords.join(" "), stroke: color, "data-target-id": id }));
    const bw = Math.max(1, (c.bucketSec * 1000 / span) * CHART.w);
    for (const p of pts.filter((p) => p.droppedFrames > 0)) {
      const hgt = (p.droppedFrames / maxDrops) * (CHART.dropBottom - CHART.dropTop);
      parts.push(svg("rect", { class: "drops", x: x(p.tsS * 1000), y: CHART.dropBottom - hgt, width: bw, height: hgt, "data-target-id": id },
        `${c.names[id]}: ${p.droppedFrames} dropped at ${new Date(p.tsS * 1000).toLocaleTimeString()}`));
    }
    const item = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = color;
    item.append(sw, c.names[id]);
    legend.push(item);
  });
  for (const a of c.alerts) {
    parts.push(svg("line", { class: "alert-mark", x1: x(a.raisedMs), x2: x(a.raisedMs), y1: 0, y2: CHART.h, "data-alert-id": a.id },
      `${a.title}${a.targetName ? ` · ${a.targetName}` : ""}: ${a.message}`));
  }
  for (const t of c.tracks) {
    parts.push(svg("line", { class: "track-mark", x1: x(t.tsMs), x2: x(t.tsMs), y1: 0, y2: CHART.bottom }, t.text));
  }
  el.replaceChildren(...parts);
  $("#chart-legend").replaceChildren(...legend);
  $("#chart-range").textContent = `${time(c.fromMs)} – ${time(c.toMs)} · ${c.bucketSec} s per point · ${c.alerts.length} alert(s), ${c.tracks.length} track(s) · drag across the chart to zoom in`;
  state.chart = { fromMs: c.fromMs, toMs: c.toMs, bucketSec: c.bucketSec, maxKbps, plotted, alerts: c.alerts.map((a) => a.id) };
}

// Drag across the chart to zoom into that stretch.
(() => {
  const el = $("#chart");
  let start = null, sel = null;
  const at = (ev) => {
    const r = el.getBoundingClientRect();
    return Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
  };
  el.addEventListener("pointerdown", (ev) => {
    start = at(ev);
    sel = svg("rect", { class: "selection", x: start * CHART.w, y: 0, width: 0, height: CHART.h });
    el.append(sel);
    el.setPointerCapture(ev.pointerId);
  });
  el.addEventListener("pointermove", (ev) => {
    if (start === null) return;
    const now = at(ev);
    sel.setAttribute("x", Math.min(start, now) * CHART.w);
    sel.setAttribute("width", Math.abs(now - start) * CHART.w);
  });
  el.addEventListener("pointerup", (ev) => {
    if (start === null || !state.chart) return;
    const a = Math.min(start, at(ev)), b = Math.max(start, at(ev));
    start = null;
    if (sel) sel.remove();
    if (b - a < 0.01) return;
    const span = state.chart.toMs - state.chart.fromMs;
    loadChart(state.chart.fromMs + a * span, state.chart.fromMs + b * span);
  });
})();

async function showSession(id) {
  try {
    const r = await api("GET", id === undefined ? "/report" : `/sessions/${id}/report`);
    state.report = r;
    const box = $("#report");
    box.hidden = false;
    box.dataset.sessionId = r.session.id;
    const end = r.session.endedMs ? ` · ended: ${r.session.endReason || "?"}` : " · live now";
    setField(box, "title", `Session ${r.session.id}: ${time(r.session.startedMs)} · ${duration(r.durationSec)}${end}`);
    box.querySelector("tbody").replaceChildren(...r.targets.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.targetId = t.targetId;
      for (const v of [t.name, duration(t.liveSec), `${Math.round(t.uptimeShare * 100)} %`, t.avgKbps.toFixed(0), t.minKbps.toFixed(0), String(t.droppedFrames), String(t.reconnects)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    }));
    box.querySelector('[data-field="alerts"]').replaceChildren(...r.alerts.map((a) => alertItem(a, false)));
    box.querySelector('[data-field="tracks"]').replaceChildren(...r.tracks.map((t) => {
      const li = document.createElement("li");
      li.textContent = `${new Date(t.tsMs).toLocaleTimeString()} · ${t.text}`;
      return li;
    }));
    await loadChart(r.session.startedMs, r.session.endedMs || Date.now());
  } catch (e) {
    notice(`report: ${e.message}`);
  }
}

for (const b of document.querySelectorAll("#reports [data-range]")) {
  b.addEventListener("click", () => {
    if (b.dataset.range === "session") return showSession();
    const now = Date.now();
    loadChart(now - Number(b.dataset.range) * 1000, now);
  });
}

function connect() {
  const feed = $("#feed");
  const es = new EventSource("/api/v1/events");
  es.addEventListener("open", () => { feed.dataset.state = "live"; feed.textContent = "updates: live"; });
  es.addEventListener("snapshot", (e) => render(JSON.parse(e.data)));
  es.addEventListener("error", async () => {
    feed.dataset.state = "reconnecting";
    feed.textContent = "updates: reconnecting";
    // EventSource retries by itself; if the session expired, go to the login page.
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      const r = await fetch("/api/v1/status", { credentials: "same-origin" }).catch(() => null);
      if (r && r.status === 401) location.replace("/login");
      setTimeout(connect, 2000);
    }
  });
}
connect();
loadChart(Date.now() - 3600 * 1000, Date.now());
setInterval(loadHistory, 15000);
loadRecordings();
setInterval(loadRecordings, 5000);
loadSources();
loadSite();
setInterval(loadSite, 10000);
setInterval(loadSchedule, 30000);
