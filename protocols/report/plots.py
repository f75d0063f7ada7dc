"""One matplotlib figure per result, drawn for a slide: labelled axes with units, age as colour.

Every function takes the analysis and returns a Figure, or None when the run has nothing to draw
(the report then says what is missing). Traces are decimated to at most ``MAX_POINTS`` a line, so
a 1000-hour, 1-s history draws as fast as a short one and looks the same.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cm, colors
from matplotlib.figure import Figure

from agelab.protocols.analysis.study import ChannelAnalysis, StudyAnalysis

MAX_POINTS = 4000
STYLE = {
    "figure.dpi": 110, "savefig.dpi": 150, "font.size": 10, "axes.titlesize": 11,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "legend.frameon": False, "figure.constrained_layout.use": True,
}
AGE_MAP = "viridis"


def _figure(ncols: int = 1, width: float = 6.4) -> tuple[Figure, list]:
    with plt.rc_context(STYLE):
        fig = Figure(figsize=(width, 4.2))
        axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _decimate(*arrays: np.ndarray) -> list[np.ndarray]:
    n = len(arrays[0])
    step = max(1, int(np.ceil(n / MAX_POINTS)))
    return [a[::step] for a in arrays]


def _colour(i: int):
    return cm.tab10(i % 10)


def _age_colours(times: list[float]):
    t_max = max(max(times), 1e-9) if times else 1.0
    norm = colors.Normalize(0.0, t_max)
    mapper = cm.ScalarMappable(norm=norm, cmap=AGE_MAP)
    return mapper, [mapper.to_rgba(t) for t in times]


def _age_bar(fig: Figure, mapper, ax) -> None:
    fig.colorbar(mapper, ax=ax, label="stress time (h)")


def lifetime(study: StudyAnalysis) -> Figure | None:
    chans = [c for c in study.channels if c.lifetimes is not None and c.samples.shape[0] > 1]
    if not chans:
        return None
    fig, (ax,) = _figure(width=7.2)
    for i, ch in enumerate(chans):
        t, lum = ch.samples[:, 0], ch.samples[:, 3]
        keep = (t > 0) & np.isfinite(lum)
        t, rel = _decimate(t[keep], lum[keep] / ch.lifetimes.l0)
        ax.plot(t, rel, color=_colour(i), lw=1.2, label=f"{ch.name} ({ch.j_ma_cm2:g} mA/cm²)")
        lt = ch.lifetimes
        elevated = lt.l_max / lt.l0 > 1.05
        marks = [(f, False) for f in (0.9, 0.5)] + ([(0.95, True)] if elevated else [])
        for f, from_max in marks:
            tx = (lt.from_max if from_max else lt.from_l0).get(f)
            if tx is None or tx <= 0:
                continue
            level = f * (lt.l_max if from_max else lt.l0) / lt.l0
            ax.plot(tx, level, "o", ms=6, mfc="white", mec=_colour(i), mew=1.5)
            name = f"T{round(f * 100)}" + (" from Lmax" if from_max else "")
            ax.annotate(name, (tx, level), textcoords="offset points", xytext=(4, 5),
                        fontsize=8, color=_colour(i))
    ax.set_xscale("log")
    ax.set_xlabel("stress time (h)")
    ax.set_ylabel("L / L0")
    ax.set_title("Luminance under constant current")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def voltage(study: StudyAnalysis) -> Figure | None:
    chans = [c for c in study.channels if c.samples.shape[0] > 1]
    if not chans:
        return None
    fig, (ax,) = _figure(width=7.2)
    for i, ch in enumerate(chans):
        t, v = _decimate(ch.samples[:, 0], ch.samples[:, 2])
        ax.plot(t, v, color=_colour(i), lw=1.2, label=f"{ch.name} ({ch.j_ma_cm2:g} mA/cm²)")
    ax.set_xlabel("stress time (h)")
    ax.set_ylabel("drive voltage (V)")
    ax.set_title("Voltage under constant current")
    ax.legend(fontsize=8)
    return fig


def jvl(ch: ChannelAnalysis) -> Figure | None:
    if not ch.jv_sweeps:
        return None
    fig, (ax_j, ax_l) = _figure(ncols=2, width=10.0)
    mapper, cols = _age_colours([s["t_h"] for s in ch.jv_sweeps])
    for s, c in zip(ch.jv_sweeps, cols, strict=True):
        v, j, lum = s["x"], s["y"], s["z"]
        ok = j > 0
        ax_j.plot(v[ok], j[ok], color=c, lw=1.2)
        lit = np.isfinite(lum) & (lum > 0.1)
        if np.any(lit):
            ax_l.plot(v[lit], lum[lit], color=c, lw=1.2)
    ax_j.set_yscale("log")
    ax_j.set_xlabel("voltage (V)")
    ax_j.set_ylabel("current density (mA/cm²)")
    ax_j.set_title(f"{ch.name}: J–V")
    ax_l.set_yscale("log")
    ax_l.set_xlabel("voltage (V)")
    ax_l.set_ylabel("luminance (cd/m²)")
    ax_l.set_title(f"{ch.name}: L–V")
    _age_bar(fig, mapper, ax_l)
    return fig


def _trend(study: StudyAnalysis, title: str, ylabel: str, series) -> Figure | None:
    """One line per channel of (t, value) points; None when no channel has two or more."""
    lines = [(ch, [(t, v) for t, v in series(ch) if v is not None]) for ch in study.channels]
    lines = [(ch, pts) for ch, pts in lines if pts]
    if not lines:
        return None
    fig, (ax,) = _figure()
    for ch, pts in lines:
        t, v = zip(*pts, strict=True)
        ax.plot(t, v, "o-", color=_colour(study.channels.index(ch)), ms=4, lw=1.2, label=ch.name)
    ax.set_xlabel("stress time (h)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def ideality(study: StudyAnalysis) -> Figure | None:
    return _trend(study, "Minimum ideality factor of the J–V", "η_min",
                  lambda ch: [(f.t_h, f.ideality_min) for f in ch.jv])


def cv_onset(study: StudyAnalysis) -> Figure | None:
    return _trend(study, "C–V capacitance-rise onset", "onset voltage (V)",
                  lambda ch: [(f.t_h, f.onset_v) for f in ch.cv])


def cv(ch: ChannelAnalysis) -> Figure | None:
    if not ch.cv_sweeps:
        return None
    fig, (ax,) = _figure()
    mapper, cols = _age_colours([s["t_h"] for s in ch.cv_sweeps])
    for s, f, c in zip(ch.cv_sweeps, ch.cv, cols, strict=True):
        ax.plot(s["x"], s["y"] * 1e9, color=c, lw=1.2)
        if f.onset_v is not None:
            ax.axvline(f.onset_v, color=c, lw=0.6, ls=":")
    ax.set_xlabel("DC bias (V)")
    ax.set_ylabel("capacitance (nF)")
    ax.set_title(f"{ch.name}: C–V (dotted: onset)")
    _age_bar(fig, mapper, ax)
    return fig


def el_spectra(ch: ChannelAnalysis) -> Figure | None:
    if not ch.el_spectra:
        return None
    fig, (ax,) = _figure()
    mapper, cols = _age_colours([s["t_h"] for s in ch.el_spectra])
    peaks = [f.peak_nm for f in ch.el if f.peak_nm is not None]
    for s, c in zip(ch.el_spectra, cols, strict=True):
        y = s["counts"]
        top = np.max(y) if np.max(y) > 0 else 1.0
        ax.plot(s["wavelength_nm"], y / top, color=c, lw=1.0)
    if peaks:
        centre = float(np.median(peaks))
        ax.set_xlim(max(380.0, centre - 130), min(800.0, centre + 130))
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("EL (normalised)")
    ax.set_title(f"{ch.name}: EL spectra")
    _age_bar(fig, mapper, ax)
    return fig


def el_peak_fwhm(study: StudyAnalysis) -> Figure | None:
    chans = [c for c in study.channels if any(f.peak_nm is not None for f in c.el)]
    if not chans:
        return None
    fig, (ax_p, ax_w) = _figure(ncols=2, width=10.0)
    for ch in chans:
        col = _colour(study.channels.index(ch))
        pts = [(f.t_h, f.peak_nm, f.fwhm_nm) for f in ch.el if f.peak_nm is not None]
        t, p, w = zip(*pts, strict=True)
        ax_p.plot(t, np.array(p) - p[0], "o-", color=col, ms=4, label=f"{ch.name} ({p[0]:.1f} nm)")
        ax_w.plot(t, w, "o-", color=col, ms=4, label=ch.name)
    ax_p.set_xlabel("stress time (h)")
    ax_p.set_ylabel("EL peak shift from first (nm)")
    ax_p.set_title("EL peak")
    ax_p.legend(fontsize=8)
    ax_w.set_xlabel("stress time (h)")
    ax_w.set_ylabel("FWHM (nm)")
    ax_w.set_title("EL width")
    return fig


def el_pl(ch: ChannelAnalysis) -> Figure | None:
    pts = [p for p in ch.el_pl if p.el_rel is not None]
    if len(pts) < 2:
        return None
    fig, (ax,) = _figure()
    t = [p.t_h for p in pts]
    ax.plot(t, [p.el_rel for p in pts], "o-", ms=4, label="EL (integrated spectrum)")
    if any(p.pl_rel is not None for p in pts):
        tp = [p.t_h for p in pts if p.pl_rel is not None]
        ax.plot(tp, [p.pl_rel for p in pts if p.pl_rel is not None], "s-", ms=4,
                label="PL (lock-in)")
        ax.plot(tp, [p.ege_rel for p in pts if p.ege_rel is not None], "^-", ms=4,
                label="exciton generation, EL / (J·PL)")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xlabel("stress time (h)")
    ax.set_ylabel("relative to first checkpoint")
    ax.set_title(f"{ch.name}: EL, PL and exciton-generation efficiency")
    ax.legend(fontsize=8)
    return fig


def acceleration(study: StudyAnalysis) -> Figure | None:
    if not study.fits and not study.fixed:
        return None
    fig, (ax,) = _figure(width=7.2)
    targets = study.options.extrapolate_to
    for i, metric in enumerate(("T50", "T90", "T95")):
        fit = study.fits.get(metric) or study.fixed.get(metric)
        if fit is None:
            continue
        col = _colour(i)
        l0 = np.array([p.l0_cd_m2 for p in fit.points])
        ts = np.array([p.t_h for p in fit.points])
        done = np.array([getattr(p, "reached", True) for p in fit.points])
        ax.plot(l0[done], ts[done], "o", color=col, ms=6)
        # Stopped before the level: T > t_end, drawn as an arrow up from t_end.
        ax.plot(l0[~done], ts[~done], "^", color=col, ms=7, mfc="none")
        lo = min(min(targets), l0.min()) / 1.3
        x = np.geomspace(lo, l0.max() * 1.3, 200)
        if metric in study.fits:
            f = study.fits[metric]
            ci = f"[{f.n_ci[0]:.2f}, {f.n_ci[1]:.2f}]" if f.n_ci else "n/a"
            censored = sum(not getattr(p, "reached", True) for p in f.points)
            ax.plot(x, [f.t_at(v) for v in x], color=col, lw=1.4,
                    label=f"{metric}: n = {f.n:.2f}, 95 % CI {ci}"
                    + (f" ({censored} censored, ▲ T > t_end)" if censored else ""))
            band = [f.t_ci_at(v) for v in x]
            if all(b is not None for b in band):
                ax.fill_between(x, [b[0] for b in band], [b[1] for b in band], color=col,
                                alpha=0.12, lw=0)
        if metric in study.fixed:
            f = study.fixed[metric]
            ax.plot(x, [f.t_at(v) for v in x], color=col, lw=1.0, ls="--",
                    label=f"{metric}: fixed n = {f.n:g}")
        if metric == "T50":
            best = study.fits.get(metric) or study.fixed[metric]
            for target in targets:
                ty = best.t_at(target)
                ax.plot(target, ty, "*", color=col, ms=11)
                ax.annotate(f"{ty:,.0f} h at {target:g} cd/m²", (target, ty),
                            textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("initial luminance L0 (cd/m²)")
    ax.set_ylabel("lifetime (h)")
    group = f" ({study.group})" if study.group else ""
    ax.set_title(f"Acceleration: L0^n · T = const{group}")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def arrhenius(study: StudyAnalysis) -> Figure | None:
    """The joint fit's temperature axis: ln(T·L0^n) against 1000/T, one point a channel, the
    slope Ea/k."""
    fit = study.joint.get("T50") or study.joint.get("T90") or study.joint.get("T95")
    if fit is None:
        return None
    fig, (ax,) = _figure(width=6.4)
    inv_t = np.array([1000.0 / (p.temperature_c + 273.15) for p in fit.points])
    y = np.array([p.t_h * p.l0_cd_m2 ** fit.n for p in fit.points])
    ax.plot(inv_t, y, "o", color=_colour(0), ms=6)
    for p, xi, yi in zip(fit.points, inv_t, y, strict=True):
        ax.annotate(p.channel, (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7)
    x = np.linspace(inv_t.min() * 0.98, max(inv_t.max(), 1000 / 298.15) * 1.01, 100)
    line = np.exp(fit.ln_c + fit.ea_ev / (8.617333262e-5 * 1000.0) * x)
    ci = f"[{fit.ea_ci[0]:.3f}, {fit.ea_ci[1]:.3f}]" if fit.ea_ci else "n/a"
    ax.plot(x, line, color=_colour(1), lw=1.4,
            label=f"{fit.metric}: Ea = {fit.ea_ev:.3f} eV, 95 % CI {ci}; n = {fit.n:.2f}")
    ax.axvline(1000 / 298.15, color="0.6", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel(f"{fit.metric} · L0^n (h · (cd/m²)^n)")
    ax.set_title("Arrhenius: T = C · L0^(−n) · exp(Ea / kT)")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def temperature(study: StudyAnalysis) -> Figure | None:
    """Each channel's stage temperature over its stress, from its set point: the self-heating
    at each change of drive shows as a transient the controller pulls back."""
    chans = [c for c in study.channels if len(c.temperatures)]
    if not chans:
        return None
    fig, (ax,) = _figure(width=7.2)
    for i, ch in enumerate(chans):
        t, celsius, setpoint = ch.temperatures.T
        ax.plot(np.maximum(t, 1e-4), celsius - setpoint, color=_colour(i), lw=1.0,
                label=f"{ch.name} ({ch.j_ma_cm2:g} mA/cm² at {setpoint[0]:g} °C)")
    ax.set_xscale("log")
    ax.set_xlabel("stress time (h)")
    ax.set_ylabel("temperature − set point (K)")
    ax.set_title("Temperature at each sample")
    ax.legend(fontsize=7, ncol=2)
    return fig


STUDY_FIGURES = {
    "lifetime": ("L/L0 against stress time, milestones marked", lifetime),
    "voltage": ("Drive voltage against stress time", voltage),
    "ideality": ("Minimum ideality factor against stress time", ideality),
    "cv_onset": ("C–V onset against stress time", cv_onset),
    "el_peak_fwhm": ("EL peak and FWHM against stress time", el_peak_fwhm),
    "acceleration": ("Acceleration fit and extrapolation", acceleration),
    "arrhenius": ("Acceleration with temperature: the joint fit's Arrhenius plot", arrhenius),
    "temperature": ("Stage temperature at each sample", temperature),
}
CHANNEL_FIGURES = {
    "jvl": ("J–V–L family, coloured by age", jvl),
    "cv": ("C–V family, coloured by age", cv),
    "el_spectra": ("EL spectra, coloured by age", el_spectra),
    "el_pl": ("EL, PL and exciton-generation efficiency", el_pl),
}
