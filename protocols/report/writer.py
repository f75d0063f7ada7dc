"""``write_report(run, out)``: summary.json, one PNG per figure, and report.html with the PNGs
embedded (one file to mail or archive). Works on any run file: finished, killed, or still being
written (then the page says so), and lists what it could not compute."""

from __future__ import annotations

import base64
import html
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agelab.protocols.analysis.study import Options, StudyAnalysis, analyse
from agelab.protocols.report import plots
from agelab.protocols.report.summary import summary
from agelab.protocols.store import RunFile, engine_is_writing


@dataclass(frozen=True)
class Report:
    directory: Path
    html: Path
    summary_json: Path
    figures: list[Path]
    summary: dict[str, Any]
    live: bool


def default_report_dir(run_path: Path) -> Path:
    return run_path.with_name(run_path.stem + "-report")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_report(run_path: Path | str, out: Path | str | None = None,
                 options: Options | None = None) -> Report:
    run_path = Path(run_path)
    out = Path(out) if out is not None else default_report_dir(run_path)
    with RunFile(run_path) as run:
        study = analyse(run, options)
    out.mkdir(parents=True, exist_ok=True)
    live = engine_is_writing(study.meta)
    figures: list[tuple[str, str, bytes]] = []  # (file name, caption, png)
    absent: list[str] = []
    for name, (caption, draw) in plots.STUDY_FIGURES.items():
        fig = draw(study)
        if fig is None:
            absent.append(caption)
        else:
            figures.append((f"{name}.png", caption, _png(fig)))
    for ch in study.channels:
        for name, (caption, draw) in plots.CHANNEL_FIGURES.items():
            fig = draw(ch)
            if fig is None:
                absent.append(f"{ch.name}: {caption}")
            else:
                figures.append((f"{name}_{ch.name}.png", f"{ch.name}: {caption}", _png(fig)))
    paths = []
    for file_name, _, png in figures:
        path = out / file_name
        path.write_bytes(png)
        paths.append(path)
    data = summary(study)
    data["report"] = {"run_file": run_path.name, "live": live, "figures_not_drawn": absent,
                      "written": time.strftime("%Y-%m-%d %H:%M:%S")}
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    html_path = out / "report.html"
    html_path.write_text(_html(study, data, figures, absent, live, run_path))
    return Report(out, html_path, summary_path, paths, data, live)


# ---------------------------------------------------------------------------- HTML
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#1d2430;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.1em}h2{margin-top:1.8em;border-bottom:1px solid #dde;
padding-bottom:.2em}.sub{color:#5a6473}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border-bottom:1px solid #e3e6ea;padding:.3em .7em;text-align:right}th{background:#f4f6f8}
td:first-child,th:first-child{text-align:left}.cens{color:#8a5a00}.na{color:#9aa3ad}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:.5em .9em;margin:1em 0}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eef}
figcaption{color:#5a6473;font-size:.9em}ul.missing li{color:#5a6473}
"""


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return '<span class="na">—</span>'
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _t_cell(ch: dict[str, Any], k: str) -> str:
    value = ch.get(k)
    if value is None and k in ch.get("censored", []) and ch.get("t_end_h") is not None:
        return f'<span class="cens">&gt; {ch["t_end_h"]:.4g}</span>'
    mark = "*" if k in ch.get("from_live_detection", []) else ""
    return _fmt(value) + mark


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(study: StudyAnalysis, data: dict, figures, absent: list[str], live: bool,
          run_path: Path) -> str:
    meta = study.meta
    chans = data["channels"]
    st = data["study"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>AgeLab report: "
             f"{html.escape(study.study)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(study.study)}</h1>",
             f"<div class='sub'>run file {html.escape(run_path.name)} · status "
             f"{html.escape(study.status)} · {html.escape(str(meta.get('software', '')))} · "
             f"created {html.escape(str(meta.get('created', '')))}</div>"]
    if live:
        parts.append("<div class='note'>This run is still being written: the figures are those "
                     "of the data committed so far.</div>")
    elif study.status not in ("finished",):
        parts.append(f"<div class='note'>This run did not finish (status "
                     f"{html.escape(study.status)}): the report shows what was recorded.</div>")
    parts.append("<h2>Lifetimes</h2><p class='sub'>Hours under stress (interruptions excluded). "
                 "&gt; t: not reached by the end of the data (censored). *: the run's own live "
                 "crossing (it stopped there).</p>")
    keys = ["T95_h", "T90_h", "T50_h", "T95_from_max_h", "T90_from_max_h", "T50_from_max_h"]
    rows = [[html.escape(c["name"]), _fmt(c["j_ma_cm2"]), _fmt(c["L0_cd_m2"], 5),
             _fmt(c["Lmax_over_L0"], 3), _fmt(c["t_peak_h"], 3)]
            + [_t_cell(c, k) for k in keys] + [_fmt(c["stress_duty_cycle"], 4)] for c in chans]
    parts.append(_table(["channel", "J (mA/cm²)", "L0 (cd/m²)", "Lmax/L0", "t_peak (h)", "T95",
                         "T90", "T50", "T95 from Lmax", "T90 from Lmax", "T50 from Lmax",
                         "duty cycle"], rows))
    parts.append("<h2>Acceleration</h2>")
    if st["acceleration_n"] is not None:
        ci = st["acceleration_n_ci"]
        ci_text = f"{ci[0]:.3g} to {ci[1]:.3g}" if ci else "not available (two channels)"
        parts.append(f"<p>Fit of L0<sup>n</sup>·T50 = const over {len(st['acceleration_channels'])}"
                     f" channels ({html.escape(str(st['acceleration_group']))}): "
                     f"<b>n = {st['acceleration_n']:.3g}</b>, 95 % CI {ci_text}.</p>")
    rows = []
    for metric in ("T50", "T90", "T95"):
        for target in study.options.extrapolate_to:
            tag = f"{metric}_at_{target:g}_cd_m2_h"
            ci = st.get(f"{tag}_ci")
            rows.append([f"{metric} at {target:g} cd/m²", _fmt(st.get(tag), 5),
                         f"{ci[0]:.4g} – {ci[1]:.4g}" if ci else _fmt(None),
                         _fmt(st.get(f"{tag}_fixed_n"), 5)])
    parts.append(_table(["extrapolation", "fitted n (h)", "95 % band (h)",
                         f"n = {study.options.fixed_n:g} (h)"], rows))
    parts += _temperature_section(study, st)
    parts.append("<h2>In-situ characterisation</h2>")
    rows = [[html.escape(c["name"]), _fmt(c["ideality_min_first"], 3),
             _fmt(c["ideality_min_last"], 3), _fmt(c["turn_on_V_first"], 3),
             _fmt(c["turn_on_V_last"], 3), _fmt(c["leakage_mA_cm2_first"], 3),
             _fmt(c["leakage_mA_cm2_last"], 3), _fmt(c["cv_onset_first_V"], 3),
             _fmt(c["cv_onset_last_V"], 3), _fmt(c["eqe_max_first"], 3)] for c in chans]
    parts.append(_table(["channel", "η_min first", "η_min last", "turn-on first (V)",
                         "turn-on last (V)", "J(1 V) first", "J(1 V) last", "C–V onset first (V)",
                         "C–V onset last (V)", "EQE max first"], rows))
    rows = [[html.escape(c["name"]), _fmt(c["el_peak_first_nm"], 4), _fmt(c["el_peak_last_nm"], 4),
             _fmt(c["el_fwhm_first_nm"], 3), _fmt(c["el_fwhm_last_nm"], 3),
             _fmt(c["cie_x_last"], 3), _fmt(c["cie_y_last"], 3), _fmt(c["band_fraction_first"], 3),
             _fmt(c["band_fraction_last"], 3), _fmt(c["el_rel_last"], 3),
             _fmt(c["pl_rel_last"], 3), _fmt(c["ege_rel_last"], 3)] for c in chans]
    parts.append(_table(["channel", "EL peak first (nm)", "last", "FWHM first (nm)", "last",
                         "CIE x", "CIE y", "TFB band first", "last", "EL rel.", "PL rel.",
                         "EL/(J·PL) rel."], rows))
    parts.append("<h2>Figures</h2>")
    for file_name, caption, png in figures:
        b64 = base64.b64encode(png).decode()
        parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,"
                     f"{b64}'><figcaption>{html.escape(caption)} ({file_name})</figcaption>"
                     "</figure>")
    notes = [f"{c['name']}: {m}" for c in chans for m in c.get("notes", [])]
    if notes:
        parts.append("<h2>Notes</h2><ul>"
                     + "".join(f"<li>{html.escape(m)}</li>" for m in notes) + "</ul>")
    missing = list(st["missing"]) + [f"{c['name']}: {m}" for c in chans for m in c["missing"]]
    missing += [f"figure not drawn: {a}" for a in absent]
    if missing:
        parts.append("<h2>Not in this run</h2><ul class='missing'>"
                     + "".join(f"<li>{html.escape(m)}</li>" for m in missing) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _temperature_section(study, st: dict) -> list[str]:
    """The joint fit of n and Ea, and each channel's lifetime by temperature and current."""
    fits = st.get("temperature_fits") or {}
    if not fits:
        return []
    parts = ["<h2>Acceleration with temperature</h2>"]
    for metric, f in fits.items():
        n_ci = f"{f['n_ci'][0]:.3g} to {f['n_ci'][1]:.3g}" if f["n_ci"] else "n/a"
        ea_ci = f"{f['ea_ci'][0]:.3g} to {f['ea_ci'][1]:.3g}" if f["ea_ci"] else "n/a"
        band = f["at_100_cd_m2_25C_h_ci"]
        parts.append(
            f"<p>{metric}: T = C·L0<sup>−n</sup>·exp(Ea/kT) over {len(f['channels'])} channels: "
            f"<b>n = {f['n']:.3g}</b> (95 % CI {n_ci}), <b>Ea = {f['ea_ev']:.3g} eV</b> "
            f"(95 % CI {ea_ci}); at 100 cd/m² and 25 °C, {f['at_100_cd_m2_25C_h']:,.4g} h"
            + (f" ({band[0]:,.4g} – {band[1]:,.4g} h)" if band else "") + ".</p>")
    chans = [c for c in study.channels if c.temperature_c is not None]
    temps = sorted({round(c.temperature_c) for c in chans})
    currents = sorted({c.j_ma_cm2 for c in chans})
    metric = next(iter(fits))
    fraction = int(metric[1:]) / 100
    rows = []
    for t in temps:
        row = [f"{t:g} °C"]
        for j in currents:
            match = [c.t_value(fraction) for c in chans
                     if round(c.temperature_c) == t and c.j_ma_cm2 == j]
            row.append(_fmt(match[0], 4) if match and match[0] is not None else _fmt(None))
        rows.append(row)
    parts.append(_table([f"{metric} (h)", *[f"{j:g} mA/cm²" for j in currents]], rows))
    return parts
