// The fleet page: a panel per station, a tile per channel, kept live by the feed.
"use strict";

const state = { stations: new Map(), tiles: new Map(), l0: new Map(), visible: new Set(),
                clockOffset: 0, source: null };

// Sparklines are drawn only for tiles on screen (a fleet is thousands of tiles): a tile drawn as
// it scrolls into view, and redrawn on updates while it is in view.
const onScreen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const key = e.target.closest(".tile").id;
    if (e.isIntersecting) {
      state.visible.add(key);
      drawSpark(key);
    } else state.visible.delete(key);
  }
});

function drawSpark(key) {
  const box = document.getElementById(key);
  if (box) AgeLab.sparkline(box.querySelector("canvas"), state.tiles.get(key) || [], state.l0.get(key));
}
const SILENT_AFTER_S = 30; // a heartbeat comes every 5 s; six missed is silence

function tileId(uid, name) { return `tile-${uid}-${name}`; }

function tileHtml(uid, t) {
  const marks = (t.milestones || []).join(" ");
  return `<a class="tile ${AgeLab.esc(t.status)}" id="${AgeLab.esc(tileId(uid, t.name))}"
      href="/run/${encodeURIComponent(uid)}?channel=${encodeURIComponent(t.name)}" data-channel="${AgeLab.esc(t.name)}">
    <div class="top"><span>${AgeLab.esc(t.name)}</span><span class="badge status">${AgeLab.esc(t.status)}</span></div>
    <div class="vals"><span class="lrel" title="L/L0">${t.l_rel == null ? "–" : (100 * t.l_rel).toFixed(1) + " %"}</span>
      <span class="v" title="voltage">${AgeLab.num(t.v_v)} V</span>
      <span class="t" title="stress time" data-t="${t.t_h ?? ""}">${AgeLab.hours(t.t_h)}</span></div>
    <div class="marks"><span class="ms">${AgeLab.esc(marks)}</span>
      <span class="faults ${t.faults ? "some" : ""}" title="faults">${t.faults ? "⚠ " + t.faults : ""}</span></div>
    <canvas width="150" height="26"></canvas></a>`;
}

function updateTile(uid, t) {
  const box = document.getElementById(tileId(uid, t.name));
  if (!box) return false;
  box.className = `tile ${t.status}`;
  box.querySelector(".status").textContent = t.status;
  box.querySelector(".lrel").textContent = t.l_rel == null ? "–" : (100 * t.l_rel).toFixed(1) + " %";
  box.querySelector(".v").textContent = AgeLab.num(t.v_v) + " V";
  const time = box.querySelector(".t");
  time.textContent = AgeLab.hours(t.t_h);
  time.dataset.t = t.t_h ?? "";
  box.querySelector(".ms").textContent = (t.milestones || []).join(" ");
  const faults = box.querySelector(".faults");
  faults.textContent = t.faults ? "⚠ " + t.faults : "";
  faults.classList.toggle("some", !!t.faults);
  const key = tileId(uid, t.name);
  const spark = state.tiles.get(key) || [];
  if (t.point) AgeLab.sparkAppend(spark, t.point);
  state.tiles.set(key, spark);
  if (t.l0) state.l0.set(key, t.l0);
  if (state.visible.has(key)) drawSpark(key);
  return true;
}

function stationHtml(s) {
  const runs = s.runs.map((r) => `<section class="run" data-run="${AgeLab.esc(r.uid)}">
      <div class="run-title"><h2><a href="/run/${encodeURIComponent(r.uid)}">${AgeLab.esc(r.study)}</a></h2>
        <span class="badge">${AgeLab.esc(r.status)}</span><span class="muted">${r.channels.length} channels</span></div>
      <div class="tiles">${r.channels.map((t) => tileHtml(r.uid, t)).join("")}</div></section>`).join("");
  return `<div class="station" id="station-${AgeLab.esc(s.name)}" data-station="${AgeLab.esc(s.name)}">
    <header><span class="dot"></span><h2>${AgeLab.esc(s.name)}</h2>
      <span class="heard muted"></span><span class="shipper muted"></span></header>${runs || '<p class="muted">no runs yet</p>'}</div>`;
}

function describeShipper(shipper) {
  if (!shipper || shipper.backlog_rows === undefined) return "";
  const lag = shipper.lag_s == null ? "" : `, lag ${shipper.lag_s.toFixed(1)} s`;
  return `· backlog ${shipper.backlog_rows} rows${lag}`;
}

function refreshHeard() {
  const now = Date.now() / 1000 + state.clockOffset;
  for (const [name, s] of state.stations) {
    const box = document.getElementById("station-" + name);
    if (!box) continue;
    const silent = s.last_heard == null ? null : now - s.last_heard;
    box.querySelector(".heard").textContent = "heard " + AgeLab.ago(silent);
    box.querySelector(".shipper").textContent = describeShipper(s.shipper);
    const dot = box.querySelector(".dot");
    const up = silent !== null && silent < SILENT_AFTER_S;
    dot.className = "dot " + (up ? "up" : "silent");
    dot.title = up ? "reachable" : "silent";
    box.dataset.reachable = up ? "1" : "0";
  }
}

async function loadFleet() {
  const data = await AgeLab.api("/fleet");
  performance.mark("fleet-fetched");
  state.clockOffset = data.now - Date.now() / 1000;
  state.stations = new Map(data.stations.map((s) => [s.name, s]));
  state.tiles.clear();
  state.visible.clear();
  onScreen.disconnect();
  const html = data.stations.map(stationHtml).join("");
  document.getElementById("stations").innerHTML = html || '<p class="muted">No station has shipped a run yet.</p>';
  performance.mark("fleet-built");
  for (const s of data.stations) for (const r of s.runs) for (const t of r.channels) {
    const key = tileId(r.uid, t.name);
    state.tiles.set(key, AgeLab.decodeSpark(t.spark));
    state.l0.set(key, t.l0);
    const box = document.getElementById(key);
    if (box) onScreen.observe(box.querySelector("canvas"));
  }
  refreshHeard();
  performance.mark("fleet-drawn");
  document.body.dataset.loaded = String(Date.now());
  return data.feed;
}

async function loadAlerts() {
  const alerts = await AgeLab.api("/alerts?limit=5");
  alerts.forEach(showAlert);
}

function showAlert(a) {
  const list = document.getElementById("alert-list");
  if (document.getElementById("alert-" + a.id)) return;
  const item = document.createElement("li");
  item.id = "alert-" + a.id;
  item.textContent = `${a.fired.slice(0, 19).replace("T", " ")} · ${a.title}${a.delivered ? "" : " (not delivered: " + (a.error || "?") + ")"}`;
  list.prepend(item);
  while (list.children.length > 5) list.lastChild.remove();
  document.getElementById("alerts").hidden = false;
}

function onMessage(m) {
  if (m.now) state.clockOffset = m.now - Date.now() / 1000;
  if (m.type === "station") {
    const s = state.stations.get(m.name);
    if (!s) return resync();
    s.last_heard = m.last_heard;
    s.shipper = m.shipper;
    refreshHeard();
  } else if (m.type === "run") {
    if (!document.querySelector(`[data-run="${CSS.escape(m.uid)}"]`)) return resync();
    for (const t of m.channels) if (!updateTile(m.uid, t)) return resync();
  } else if (m.type === "alert") {
    showAlert(m);
  } else if (m.type === "resync") {
    resync();
  }
}

let resyncing = null;
function resync() {
  resyncing = resyncing || loadFleet().catch((e) => AgeLab.showError(e.message)).finally(() => { resyncing = null; });
  return resyncing;
}

(async () => {
  try {
    await AgeLab.header("fleet");
    const feed = await loadFleet();
    await loadAlerts();
    state.source = AgeLab.live(feed, onMessage, resync);
    setInterval(refreshHeard, 1000);
  } catch (e) {
    AgeLab.showError(e.message);
  }
})();
