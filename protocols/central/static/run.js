// A run's page: its channels, and the selected channel's plots, the same set as the Qt window.
"use strict";

const uid = decodeURIComponent(location.pathname.split("/").pop());
const page = { me: null, run: null, channel: new URLSearchParams(location.search).get("channel"),
               plots: {}, curve: null, l0: null, lastDetail: 0, commands: [] };

function levelOf(name) {
  const m = /^T(\d+)/.exec(name);
  return m ? Number(m[1]) / 100 : null;
}

function renderTiles(channels) {
  const box = document.getElementById("channels");
  box.innerHTML = channels.map((t) => `<a class="tile ${AgeLab.esc(t.status)}" href="?channel=${encodeURIComponent(t.name)}"
      data-channel="${AgeLab.esc(t.name)}" id="tile-${AgeLab.esc(t.name)}">
      <div class="top"><span>${AgeLab.esc(t.name)}</span><span class="badge status">${AgeLab.esc(t.status)}</span></div>
      <div class="vals"><span>${t.l_rel == null ? "–" : (100 * t.l_rel).toFixed(1) + " %"}</span><span>${AgeLab.num(t.v_v)} V</span>
      <span>${AgeLab.hours(t.t_h)}</span></div>
      <div class="marks">${AgeLab.esc((t.milestones || []).join(" "))} ${t.faults ? "⚠ " + t.faults : ""}</div></a>`).join("");
  for (const a of box.querySelectorAll("a.tile")) {
    a.addEventListener("click", (e) => { e.preventDefault(); select(a.dataset.channel); });
  }
}

async function loadRun() {
  const run = await AgeLab.api(`/runs/${encodeURIComponent(uid)}`);
  page.run = run;
  document.title = `AgeLab Central · ${run.study}`;
  document.getElementById("title").textContent = run.study;
  document.getElementById("run-status").textContent = run.status;
  document.getElementById("run-station").textContent = `station ${run.station} · ${run.channels.length} channels · ${run.samples} samples`;
  renderTiles(run.channels);
  showCommands(run.commands);
  if (!page.channel && run.channels.length) page.channel = run.channels[0].name;
  const tile = run.channels.find((c) => c.name === page.channel);
  if (tile) {
    page.l0 = tile.l0;
    document.getElementById("channel-status").textContent = tile.status;
    const stop = document.getElementById("stop-channel");
    if (stop) stop.disabled = !["running", "paused", "pending"].includes(tile.status);
  }
  return run;
}

function showCommands(commands) {
  const mine = commands.filter((c) => c.channel === page.channel || c.channel === null);
  const last = mine[mine.length - 1];
  document.getElementById("command-state").textContent = !last ? "" :
    `stop by ${last.by}: ${last.done ? "carried out" : last.delivered ? "handed to the station" : "queued for the station"}`;
}

// L/L0 and V against stress time, from Central's min/max buckets: never more points than pixels.
async function loadCurve() {
  const box = document.getElementById("plot-l");
  const width = Math.max(box.clientWidth, 300);
  const curve = await AgeLab.api(`/runs/${encodeURIComponent(uid)}/channels/${encodeURIComponent(page.channel)}/curve?points=${Math.max(10, Math.floor(width))}`);
  page.curve = curve;
  document.getElementById("curve-note").textContent = curve.decimated
    ? `${curve.t_h.length} points (min/max of ${curve.bucket_minutes}-min buckets)` : `${curve.t_h.length} samples`;
  drawCurves();
}

function drawCurves() {
  const c = page.curve;
  if (!c) return;
  const logX = document.getElementById("log-time").checked;
  const keep = c.t_h.map((t) => !logX || t > 0);
  const t = c.t_h.filter((_, k) => keep[k]);
  const l0 = page.l0 || Math.max(...c.l_cd_m2.filter((v) => v != null).slice(0, 20), 1e-12);
  const lrel = c.l_cd_m2.filter((_, k) => keep[k]).map((v) => (v == null ? null : v / l0));
  const v = c.v_v.filter((_, k) => keep[k]);
  const milestones = Object.entries(page.detail ? page.detail.milestones : {});
  const marks = { draw: [(u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "#6a1b9a";
    ctx.font = `${11 * devicePixelRatio}px sans-serif`;
    for (const [name, tc] of milestones) {
      const level = levelOf(name);
      if (level === null || !(tc > 0 || !logX)) continue;
      const x = u.valToPos(tc, "x", true), y = u.valToPos(level, "y", true);
      const s = 5 * devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(x, y - s); ctx.lineTo(x + s, y); ctx.lineTo(x, y + s); ctx.lineTo(x - s, y); ctx.closePath(); ctx.fill();
      ctx.fillText(name, x + 2 * s, y - s);
    }
    ctx.restore();
  }] };
  page.plots.l = AgeLab.chart(document.getElementById("plot-l"), `L/L0 · ${page.channel}`,
    [{ label: "L/L0", stroke: "#1565c0", width: 1.2 }], [t, lrel], { logX, xLabel: "stress time (h)", yLabel: "L/L0", hooks: marks });
  page.plots.v = AgeLab.chart(document.getElementById("plot-v"), `V · ${page.channel}`,
    [{ label: "V", stroke: "#c62828", width: 1.2 }], [t, v], { logX, xLabel: "stress time (h)", yLabel: "V" });
}

// Families on one x grid (their voltages, merged), coloured from blue (young) to red (old).
function family(sweeps, yOf, zOf) {
  const xs = [...new Set(sweeps.flatMap((s) => s.x.filter((x) => x !== null)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, k) => [x, k]));
  const ages = sweeps.map((s) => s.t_h);
  const t0 = Math.min(...ages), span = Math.max(Math.max(...ages) - t0, 1e-9);
  const data = [xs], series = [];
  for (const s of sweeps) {
    const colour = AgeLab.ageColour((s.t_h - t0) / span);
    for (const [of, dash, scale] of [[yOf, undefined, "y"], [zOf, [4, 3], "z"]]) {
      if (!of) continue;
      const ys = new Array(xs.length).fill(null);
      s.x.forEach((x, k) => { if (x !== null) ys[index.get(x)] = of(s, k); });
      data.push(ys);
      series.push({ label: `${AgeLab.hours(s.t_h)}${scale === "z" ? " L" : ""}`, stroke: colour, width: 1, dash, scale, spanGaps: true });
    }
  }
  return { data, series };
}

function drawFamilies(d) {
  const positive = (v) => (v !== null && v > 0 ? v : null);
  const jv = family(d.jv, (s, k) => positive(s.y[k] === null ? null : Math.abs(s.y[k])), (s, k) => positive(s.z[k]));
  const box = document.getElementById("plot-jv");
  if (d.jv.length) {
    page.plots.jv = AgeLab.chart(box, `J–V–L · ${page.channel} (${d.jv.length}, by age)`, jv.series, jv.data,
      { xLabel: "V", yLabel: "|J| (mA/cm²), solid", logY: true, right: { label: "L (cd/m²), dashed", log: true } });
  } else box.innerHTML = '<p class="muted">no J–V sweeps yet</p>';
  const cvBox = document.getElementById("plot-cv");
  const cv = family(d.cv, (s, k) => (s.y[k] === null ? null : s.y[k] * 1e9), null);
  if (d.cv.length) AgeLab.chart(cvBox, `C–V · ${page.channel} (${d.cv.length}, by age)`, cv.series, cv.data, { xLabel: "V", yLabel: "C (nF)" });
  else cvBox.innerHTML = '<p class="muted">no C–V sweeps yet</p>';
  const elBox = document.getElementById("plot-el");
  if (d.el) AgeLab.chart(elBox, `EL · ${page.channel} · ${AgeLab.hours(d.el.t_h)}`, [{ label: "counts/s", stroke: "#c62828" }],
    [d.el.wavelength_nm, d.el.rate], { xLabel: "wavelength (nm)", yLabel: "counts/s" });
  else elBox.innerHTML = '<p class="muted">no EL spectra yet</p>';
  drawHeat(d.heat);
  const trend = d.el_pl.filter((p) => p.t_h > 0);
  const elpl = document.getElementById("plot-elpl");
  if (trend.length) AgeLab.chart(elpl, "EL, PL and EL/(J·PL), relative", [
      { label: "EL", stroke: "#c62828", points: { show: true } },
      { label: "PL", stroke: "#1565c0", points: { show: true } },
      { label: "EL/(J·PL)", stroke: "#2e7d32", points: { show: true } }],
    [trend.map((p) => p.t_h), trend.map((p) => p.el), trend.map((p) => p.pl), trend.map((p) => p.ege)],
    { logX: true, xLabel: "stress time (h)", yLabel: "relative" });
  else elpl.innerHTML = '<p class="muted">no EL/PL checkpoints yet</p>';
}

function drawHeat(heat) {
  const canvas = document.getElementById("heat");
  const ctx = canvas.getContext("2d");
  if (!heat || !heat.rate.length) {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    document.getElementById("heat-title").textContent = "EL heat map: no EL spectra yet";
    return;
  }
  const rows = heat.rate.length, cols = heat.wavelength_nm.length;
  canvas.width = cols; canvas.height = rows;
  const image = ctx.createImageData(cols, rows);
  heat.rate.forEach((row, r) => row.forEach((v, c) => {
    const k = 4 * ((rows - 1 - r) * cols + c), f = Math.max(0, Math.min(1, v));
    image.data[k] = Math.round(255 * Math.min(1, 2 * f));
    image.data[k + 1] = Math.round(255 * Math.max(0, 2 * f - 1));
    image.data[k + 2] = Math.round(120 * (1 - f));
    image.data[k + 3] = 255;
  }));
  ctx.putImageData(image, 0, 0);
  document.getElementById("heat-title").textContent =
    `EL heat map · ${Math.round(heat.wavelength_nm[0])}–${Math.round(heat.wavelength_nm[cols - 1])} nm · ${AgeLab.hours(heat.t_h[0])} (bottom) to ${AgeLab.hours(heat.t_h[rows - 1])}`;
}

function drawEvents(events) {
  const body = document.querySelector("#events tbody");
  body.innerHTML = events.map((e) => `<tr class="${e.fault ? "fault" : e.kind === "operator" ? "operator" : ""}">
      <td>${AgeLab.hours(e.t_h)}</td><td>${AgeLab.esc(e.channel || "run")}</td><td>${AgeLab.esc(e.kind)}</td>
      <td>${AgeLab.esc(JSON.stringify(e.detail)).slice(0, 240)}</td></tr>`).join("");
}

async function loadDetail() {
  const d = await AgeLab.api(`/runs/${encodeURIComponent(uid)}/channels/${encodeURIComponent(page.channel)}`);
  page.detail = d;
  page.lastDetail = Date.now();
  drawFamilies(d);
  drawEvents(d.events);
  drawCurves();
}

async function select(name) {
  page.channel = name;
  history.replaceState(null, "", `?channel=${encodeURIComponent(name)}`);
  document.getElementById("channel").hidden = false;
  document.getElementById("channel-title").textContent = name;
  const tile = page.run.channels.find((c) => c.name === name);
  page.l0 = tile ? tile.l0 : null;
  showCommands(page.run.commands);
  await Promise.all([loadCurve(), loadDetail()]);
  document.body.dataset.channelLoaded = name;
}

// Two clicks stop: the first arms the button, the second sends.
function armed(button, label, send) {
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "1") {
      button.dataset.armed = "1";
      button.textContent = "Confirm: " + label;
      setTimeout(() => { button.dataset.armed = ""; button.textContent = label; }, 5000);
      return;
    }
    button.dataset.armed = "";
    button.textContent = label;
    button.disabled = true;
    try {
      const reply = await send();
      document.getElementById("command-state").textContent = `stop queued (command ${reply.command})`;
    } catch (e) {
      AgeLab.showError(e.message);
      button.disabled = false;
    }
  });
}

function onMessage(m) {
  if (m.type === "run" && m.uid === uid) {
    page.run.status = m.status;
    document.getElementById("run-status").textContent = m.status;
    page.run.channels = page.run.channels.map((c) => m.channels.find((n) => n.name === c.name) || c);
    renderTiles(page.run.channels);
    const t = m.channels.find((c) => c.name === page.channel);
    if (t) {
      document.getElementById("channel-status").textContent = t.status;
      if (t.l0) page.l0 = t.l0;
      if (page.curve && t.t_h != null && t.l_rel != null && t.t_h > page.curve.t_h[page.curve.t_h.length - 1]) {
        page.curve.t_h.push(t.t_h);
        page.curve.l_cd_m2.push(t.l_rel * (page.l0 || 1));
        page.curve.v_v.push(t.v_v);
        const logX = document.getElementById("log-time").checked;
        if (page.plots.l && (!logX || t.t_h > 0)) {
          const [x, y] = page.plots.l.data, [, v] = page.plots.v.data;
          page.plots.l.setData([[...x, t.t_h], [...y, t.l_rel]]);
          page.plots.v.setData([[...x, t.t_h], [...v, t.v_v]]);
        }
      }
    }
    if (Date.now() - page.lastDetail > 10000) {
      loadDetail().catch((e) => AgeLab.showError(e.message));
      AgeLab.api(`/runs/${encodeURIComponent(uid)}`).then((r) => { page.run.commands = r.commands; showCommands(r.commands); });
    }
  } else if (m.type === "resync") {
    resync();
  }
}

async function resync() {
  await loadRun();
  if (page.channel) await select(page.channel);
}

(async () => {
  try {
    page.me = await AgeLab.header("run");
    const base = `/api/v1/runs/${encodeURIComponent(uid)}`;
    document.getElementById("dl-report").href = base + "/report";
    document.getElementById("dl-csv").href = base + "/export?format=csv";
    document.getElementById("dl-hdf5").href = base + "/export?format=hdf5";
    const run = await loadRun();
    if (page.me.role === "operator") {
      const stopRun = document.getElementById("stop-run"), stopChannel = document.getElementById("stop-channel");
      stopRun.hidden = stopChannel.hidden = false;
      stopRun.disabled = run.status !== "running";
      armed(stopRun, "Stop run", () => AgeLab.api(`/runs/${encodeURIComponent(uid)}/stop`, { method: "POST", body: {} }));
      armed(stopChannel, "Stop channel", () => AgeLab.api(`/runs/${encodeURIComponent(uid)}/stop`, { method: "POST", body: { channel: page.channel } }));
    } else {
      document.getElementById("stop-run").remove();
      document.getElementById("stop-channel").remove();
    }
    document.getElementById("log-time").addEventListener("change", drawCurves);
    if (page.channel) await select(page.channel);
    AgeLab.live(null, onMessage, resync);
    setInterval(() => {
      if (!page.run) return;
      AgeLab.api(`/runs/${encodeURIComponent(uid)}`).then((r) => { page.run.commands = r.commands; showCommands(r.commands); })
        .catch(() => {});
    }, 3000);
  } catch (e) {
    AgeLab.showError(e.message);
  }
})();
