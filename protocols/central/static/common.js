// AgeLab dashboard: what every page shares (API calls, the live feed, formatting, plots).
"use strict";

const AgeLab = (() => {
  const API = "/api/v1";

  // A call to Central's API with the session cookie; a write carries the header that proves it
  // comes from this page's own script. 401 sends the user to the login page.
  async function api(path, options = {}) {
    const init = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
    if (init.method && init.method !== "GET") init.headers["X-AgeLab-CSRF"] = "1";
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    const reply = await fetch(API + path, init);
    if (reply.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("not logged in");
    }
    if (!reply.ok) {
      let detail = reply.statusText;
      try { detail = (await reply.json()).detail || detail; } catch (_) { /* not JSON */ }
      const error = new Error(`${reply.status}: ${detail}`);
      error.status = reply.status;
      throw error;
    }
    return reply.json();
  }

  // The live feed: calls onMessage(message) for each change, onResync() when the page must
  // fetch its data again (it missed messages, or Central restarted). EventSource reconnects by
  // itself and sends the last id it saw, so nothing is missed across a dropped connection.
  function live(after, onMessage, onResync) {
    const source = new EventSource(API + "/stream" + (after ? "?after=" + encodeURIComponent(after) : ""));
    source.onmessage = (e) => onMessage(JSON.parse(e.data));
    source.addEventListener("resync", () => onResync());
    source.onerror = () => setStatus("reconnecting to Central…", true);
    source.onopen = () => setStatus("live", false);
    return source;
  }

  function setStatus(text, bad) {
    const box = document.getElementById("live-status");
    if (box) { box.textContent = text; box.classList.toggle("bad", bad); }
  }

  function showError(text) {
    const box = document.getElementById("error");
    if (box) { box.textContent = text; box.hidden = !text; }
  }

  function esc(text) {
    return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function num(value, digits = 3) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    return Number(value).toPrecision(digits);
  }

  function hours(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    if (Math.abs(value) < 0.005) value = 0; // t = 0 is a ramp's midpoint: a hair either side
    return value < 10 ? value.toFixed(2) + " h" : value < 1000 ? value.toFixed(1) + " h" : Math.round(value) + " h";
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "never";
    if (seconds < 90) return Math.round(seconds) + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    return (seconds / 3600).toFixed(1) + " h ago";
  }

  // The header every page shows: where you are, who you are, the feed's state.
  async function header(active) {
    const me = await api("/whoami");
    const nav = document.getElementById("nav");
    nav.innerHTML = `<a href="/" class="${active === "fleet" ? "on" : ""}">Fleet</a>
      <a href="/compare" class="${active === "compare" ? "on" : ""}">Compare</a>
      <span class="grow"></span><span id="live-status">…</span>
      <span class="who" id="who" data-role="${esc(me.role)}">${esc(me.name)} (${esc(me.role)})</span>
      <form method="post" action="/logout"><button type="submit">Log out</button></form>`;
    return me;
  }

  // A colour from blue (young) to red (old), for families of sweeps coloured by age.
  function ageColour(fraction) {
    const f = Math.min(Math.max(fraction, 0), 1);
    return `hsl(${Math.round(230 - 230 * f)}, 70%, 45%)`;
  }

  // A sparkline on a canvas: [t, L] points on a log time axis, drawn as L/L0 from 0.5 (or
  // lower, past T50) to 1.05; before the engine has set L0, relative to the first point.
  function sparkline(canvas, points, l0) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const good = points.filter((p) => p[0] > 0 && p[1] !== null && isFinite(p[1]));
    const ref = l0 || (good.length ? good[0][1] : 1) || 1;
    canvas.dataset.points = String(good.length);
    if (good.length < 2) return;
    const lx = good.map((p) => Math.log10(p[0]));
    const lo = Math.min(0.5, ...good.map((p) => p[1] / ref)), top = 1.05;
    const x0 = Math.min(...lx), x1 = Math.max(...lx), span = Math.max(x1 - x0, 1e-9);
    ctx.strokeStyle = "#1565c0";
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    good.forEach((p, k) => {
      const x = ((lx[k] - x0) / span) * (w - 2) + 1;
      const y = h - 1 - (Math.min(p[1] / ref, top) - lo) / (top - lo) * (h - 2);
      k ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
  }

  // A sparkline as Central sends it: base64 of float32, every t then every L.
  function decodeSpark(text) {
    if (!text) return [];
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const values = new Float32Array(bytes.buffer);
    const n = values.length / 2, points = [];
    for (let k = 0; k < n; k++) points.push([values[k], values[n + k]]);
    return points;
  }

  // Keep a sparkline's points few: a new point within 1/40 of a decade of the last replaces it.
  function sparkAppend(points, point) {
    const last = points[points.length - 1];
    if (last && point[0] <= last[0]) return points;
    if (last && last[0] > 0 && Math.log10(point[0] / last[0]) < 0.025) points[points.length - 1] = point;
    else points.push(point);
    return points;
  }

  // A uPlot chart in `box`, as wide as the box: it draws at most one point per pixel column.
  // `right`: a second y scale "z" on the right ({label, log}), for series with scale "z".
  function chart(box, title, series, data, { logX = false, logY = false, xLabel = "", yLabel = "", height = 260, hooks = {}, right = null } = {}) {
    box.innerHTML = "";
    const width = Math.max(box.clientWidth || 480, 240);
    const scales = { x: { time: false, distr: logX ? 3 : 1 }, y: { distr: logY ? 3 : 1 } };
    const axes = [{ label: xLabel }, { label: yLabel, size: 60 }];
    if (right) {
      scales.z = { distr: right.log ? 3 : 1 };
      axes.push({ scale: "z", side: 1, label: right.label, size: 60, grid: { show: false } });
    }
    const opts = {
      title, width, height, hooks, scales, axes,
      series: [{ label: xLabel }, ...series],
      legend: { live: false },
    };
    const plot = new uPlot(opts, data, box);
    box.dataset.points = String(data.length > 1 ? data[1].length : 0);
    box.dataset.drawn = "1";
    return plot;
  }

  return { api, live, esc, num, hours, ago, header, showError, ageColour, sparkline, sparkAppend, decodeSpark, chart, setStatus };
})();

// A page's script error is shown on the page, not only in the console.
window.addEventListener("error", (e) => AgeLab.showError("error: " + e.message));
window.addEventListener("unhandledrejection", (e) => AgeLab.showError("error: " + (e.reason && e.reason.message || e.reason)));
