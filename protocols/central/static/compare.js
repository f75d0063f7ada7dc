// The compare page: lifetimes grouped by batch (or any sample field) and current density, the
// pooled acceleration fit with censored channels, and the curves overlaid. The selection lives in
// the URL, so a link to this page is a permalink to the result.
"use strict";

const OVERLAY_MAX = 16;
const COLOURS = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457"];

function selection() {
  const q = new URLSearchParams(location.search);
  return { by: q.get("by") || "batch", level: q.get("level") || "T50", device: q.get("device") || "",
           batch: q.getAll("batch"), run: q.getAll("run"), where: q.getAll("where") };
}

function query(sel, withBy = true) {
  const q = new URLSearchParams();
  if (withBy) q.set("by", sel.by);
  q.set("level", sel.level);
  if (sel.device) q.set("device", sel.device);
  sel.batch.forEach((b) => q.append("batch", b));
  sel.run.forEach((r) => q.append("run", r));
  sel.where.forEach((w) => q.append("where", w));
  return q;
}

function fromForm() {
  const tag = document.getElementById("tag").value.trim();
  return {
    by: tag ? "tag:" + tag : document.getElementById("by").value,
    level: document.getElementById("level").value,
    device: document.getElementById("device").value,
    batch: [...document.querySelectorAll("#batches input:checked")].map((i) => i.value),
    run: [...document.querySelectorAll("#runs input:checked")].map((i) => i.value),
    where: document.getElementById("where").value.split(",").map((w) => w.trim()).filter(Boolean),
  };
}

function toForm(sel, everything) {
  if (sel.by.startsWith("tag:")) document.getElementById("tag").value = sel.by.slice(4);
  else document.getElementById("by").value = sel.by;
  document.getElementById("level").value = sel.level;
  const devices = [...new Set(everything.map((r) => r.device).filter(Boolean))].sort();
  document.getElementById("device").innerHTML = '<option value="">any</option>' +
    devices.map((d) => `<option ${d === sel.device ? "selected" : ""}>${AgeLab.esc(d)}</option>`).join("");
  document.getElementById("where").value = sel.where.join(", ");
  const batches = [...new Set(everything.map((r) => r.batch).filter(Boolean))].sort();
  document.getElementById("batches").innerHTML = batches.map((b) => `<label><input type="checkbox" value="${AgeLab.esc(b)}"
      ${sel.batch.includes(b) ? "checked" : ""}> ${AgeLab.esc(b)}</label>`).join(" ") || "no batches recorded";
  const runs = new Map();
  everything.forEach((r) => runs.set(r.run, `${r.station}`));
  document.getElementById("runs").innerHTML = [...runs].map(([uid, station]) => `<label><input type="checkbox" value="${AgeLab.esc(uid)}"
      ${sel.run.includes(uid) ? "checked" : ""}> ${AgeLab.esc(station)} · ${AgeLab.esc(uid.slice(0, 8))}</label>`).join("<br>") || "no finished runs yet";
}

function drawTable(rows, by) {
  document.querySelector("#lifetimes tbody").innerHTML = rows.map((r) => `<tr data-group="${AgeLab.esc(r[by])}">
      <td>${AgeLab.esc(r[by])}</td><td>${AgeLab.num(r.j_ma_cm2)}</td><td>${r.channels}</td><td>${r.reached}</td>
      <td>${r.median_h == null ? "–" : AgeLab.num(r.median_h) + (r.median_is_bound ? " (bound)" : "")}</td>
      <td>${r.min_h == null ? "–" : AgeLab.num(r.min_h) + " – " + AgeLab.num(r.max_h)}</td>
      <td>${r.censored ? r.censored + " (> " + AgeLab.num(r.censored_beyond_h) + " h)" : "0"}</td></tr>`).join("")
    || '<tr><td colspan="7" class="muted">no channels in this selection</td></tr>';
}

// log T against log L0: reached channels as dots, censored ones as arrows up from t_end (their T
// is longer), the fitted line out to 100 cd/m².
function drawFit(fit) {
  const box = document.getElementById("plot-fit");
  const pts = fit.points.filter((p) => p.l0_cd_m2 > 0 && p.t_h > 0);
  const extra = fit.extrapolated.map((e) => e.l0_cd_m2);
  const xs = [...new Set([...pts.map((p) => p.l0_cd_m2), ...extra])].sort((a, b) => a - b);
  const reached = xs.map((x) => { const p = pts.find((q) => q.l0_cd_m2 === x && q.reached); return p ? p.t_h : null; });
  const censored = xs.map((x) => { const p = pts.find((q) => q.l0_cd_m2 === x && !q.reached); return p ? p.t_h : null; });
  const line = xs.map((x) => Math.exp(fit.ln_c - fit.n * Math.log(x)));
  const arrows = { draw: [(u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = ctx.fillStyle = "#ef6c00";
    ctx.lineWidth = 1.5 * devicePixelRatio;
    censored.forEach((t, k) => {
      if (t === null) return;
      const x = u.valToPos(xs[k], "x", true), y = u.valToPos(t, "y", true), s = 6 * devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x, y - 3 * s); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(x - s / 1.5, y - 2.2 * s); ctx.lineTo(x, y - 3.4 * s); ctx.lineTo(x + s / 1.5, y - 2.2 * s); ctx.fill();
    });
    ctx.restore();
  }] };
  const plot = AgeLab.chart(box, `${fit.metric}: n = ${fit.n.toFixed(2)}`, [
    { label: "reached", stroke: "#1565c0", width: 0, points: { show: true, size: 7, fill: "#1565c0" }, paths: () => null },
    { label: "censored (T > t_end)", stroke: "#ef6c00", width: 0, points: { show: true, size: 5, fill: "#fff" }, paths: () => null },
    { label: "fit", stroke: "#37474f", width: 1, dash: [5, 4], spanGaps: true }],
    [xs, reached, censored, line], { logX: true, logY: true, xLabel: "L0 (cd/m²)", yLabel: `${fit.metric} (h)`, hooks: arrows });
  box.dataset.censored = String(fit.censored);
  return plot;
}

async function drawOverlay(rows) {
  const box = document.getElementById("plot-overlay");
  const chosen = rows.slice(0, OVERLAY_MAX);
  if (!chosen.length) { box.innerHTML = '<p class="muted">no channels</p>'; return; }
  const width = Math.max(box.clientWidth, 300);
  const curves = await Promise.all(chosen.map((r) => AgeLab.api(
    `/runs/${encodeURIComponent(r.run)}/channels/${encodeURIComponent(r.channel)}/curve?points=${Math.floor(width)}`)));
  const xs = [...new Set(curves.flatMap((c) => c.t_h.filter((t) => t > 0)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, k) => [x, k]));
  const data = [xs], series = [];
  curves.forEach((c, k) => {
    const l0 = chosen[k].l0 || 1;
    const ys = new Array(xs.length).fill(null);
    c.t_h.forEach((t, j) => { if (t > 0 && c.l_cd_m2[j] != null) ys[index.get(t)] = c.l_cd_m2[j] / l0; });
    data.push(ys);
    const by = selection().by, group = by.startsWith("tag:") ? (chosen[k].tags || {})[by.slice(4)] : chosen[k][by];
    series.push({ label: `${chosen[k].station}/${chosen[k].channel} (${group ?? "–"})`,
                  stroke: COLOURS[k % COLOURS.length], width: 1, spanGaps: true });
  });
  AgeLab.chart(box, `${chosen.length} of ${rows.length} channels`, series, data, { logX: true, xLabel: "stress time (h)", yLabel: "L/L0" });
}

async function show(sel) {
  AgeLab.showError("");
  const q = query(sel);
  const [groups, rows] = await Promise.all([AgeLab.api("/compare?" + q), AgeLab.api("/summaries?" + query(sel, false))]);
  drawTable(groups, sel.by);
  try {
    const fit = await AgeLab.api("/fit?" + query(sel, false));
    const at100 = fit.extrapolated.find((e) => e.l0_cd_m2 === 100);
    document.getElementById("fit-text").textContent =
      `n = ${fit.n.toFixed(2)} (95 %: ${fit.n_ci[0].toFixed(2)}–${fit.n_ci[1].toFixed(2)}) over ${fit.channels} channels, ` +
      `${fit.censored} censored · ${fit.metric} at 100 cd/m² = ${AgeLab.num(at100.t_h)} h (${AgeLab.num(at100.ci[0])}–${AgeLab.num(at100.ci[1])})`;
    drawFit(fit);
  } catch (e) {
    document.getElementById("fit-text").textContent = "no fit: " + e.message;
    document.getElementById("plot-fit").innerHTML = "";
  }
  await drawOverlay(rows);
  const link = document.getElementById("permalink");
  link.href = location.pathname + "?" + q;
  document.body.dataset.compared = String(groups.length);
}

(async () => {
  try {
    await AgeLab.header("compare");
    const everything = await AgeLab.api("/summaries");
    const sel = selection();
    toForm(sel, everything);
    document.getElementById("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      const chosen = fromForm();
      history.replaceState(null, "", location.pathname + "?" + query(chosen));
      show(chosen).catch((err) => AgeLab.showError(err.message));
    });
    AgeLab.setStatus("", false);
    await show(sel);
  } catch (e) {
    AgeLab.showError(e.message);
  }
})();
