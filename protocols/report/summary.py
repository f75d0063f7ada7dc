"""summary.json: the numbers of a run, one flat record per channel and one for the study.

A value that was not reached or not measured is null (JSON), never a number; ``censored`` lists
the T-values not reached by ``t_end_h``, so a reader can print "> t_end".
"""

from __future__ import annotations

import math
from typing import Any

from agelab.protocols.analysis.lifetime import DEFAULT_FRACTIONS, key
from agelab.protocols.analysis.study import ChannelAnalysis, StudyAnalysis


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _first_last(items: list, attr: str) -> tuple[float | None, float | None]:
    values = [getattr(i, attr) for i in items if getattr(i, attr) is not None]
    if not values:
        return None, None
    return _num(values[0]), _num(values[-1])


def channel_summary(ch: ChannelAnalysis) -> dict[str, Any]:
    lt = ch.lifetimes
    out: dict[str, Any] = {"name": ch.name, "device": ch.device, "j_ma_cm2": _num(ch.j_ma_cm2),
                           "status": ch.status, "stop_reason": ch.stop_reason}
    out["L0_cd_m2"] = _num(lt.l0) if lt else None
    fit = lt.l0_fit if lt else None
    out["L0_read_back_to_h"] = _num(fit.due_h) if fit else None  # None: L0 is the first reading
    out["L0_sigma_cd_m2"] = _num(fit.sigma) if fit else None
    out["Lmax_cd_m2"] = _num(lt.l_max) if lt else None
    out["Lmax_over_L0"] = _num(lt.l_max / lt.l0) if lt and lt.l0 else None
    out["t_peak_h"] = _num(lt.t_peak_h) if lt else None
    out["t_end_h"] = _num(lt.t_end_h) if lt else None
    censored = []
    for from_max in (False, True):
        for f in DEFAULT_FRACTIONS:
            k = key(f, from_max)
            value = ch.t_value(f, from_max)
            out[f"{k}_h"] = _num(value)
            if lt is not None and value is None:
                censored.append(f"{k}_h")
    out["censored"] = censored
    out["from_live_detection"] = sorted(f"{k}_h" for k in lt.live) if lt else []
    for attr, name in (("ideality_min", "ideality_min"), ("turn_on_v", "turn_on_V"),
                       ("leakage_ma_cm2", "leakage_mA_cm2"), ("v_at_j", "V_at_ref_J_V"),
                       ("eqe_max", "eqe_max"), ("cd_a_max", "cd_A_max"), ("lm_w_max", "lm_W_max")):
        out[f"{name}_first"], out[f"{name}_last"] = _first_last(ch.jv, attr)
    out["cv_onset_first_V"], out["cv_onset_last_V"] = _first_last(ch.cv, "onset_v")
    out["cv_peak_first_V"], out["cv_peak_last_V"] = _first_last(ch.cv, "peak_v")
    out["cv_geometric_first_F"], out["cv_geometric_last_F"] = _first_last(ch.cv, "geometric_f")
    out["el_peak_first_nm"], out["el_peak_last_nm"] = _first_last(ch.el, "peak_nm")
    out["el_fwhm_first_nm"], out["el_fwhm_last_nm"] = _first_last(ch.el, "fwhm_nm")
    out["el_centroid_first_nm"], out["el_centroid_last_nm"] = _first_last(ch.el, "centroid_nm")
    out["cie_x_last"], out["cie_y_last"] = (_first_last(ch.el, "cie_x")[1],
                                            _first_last(ch.el, "cie_y")[1])
    out["band_fraction_first"], out["band_fraction_last"] = _first_last(ch.el, "band_fraction")
    out["el_rel_last"] = _first_last(ch.el_pl, "el_rel")[1]
    out["pl_rel_last"] = _first_last(ch.el_pl, "pl_rel")[1]
    out["ege_rel_last"] = _first_last(ch.el_pl, "ege_rel")[1]
    out["stress_duty_cycle"] = _num(ch.duty_cycle)
    out["temperature_c"] = _num(ch.temperature_c)
    out["missing"] = list(ch.missing)
    out["notes"] = list(ch.notes)
    return out


def study_summary(study: StudyAnalysis) -> dict[str, Any]:
    fit = study.fits.get("T50")
    out: dict[str, Any] = {
        "study": study.study, "status": study.status, "acceleration_group": study.group,
        "acceleration_n": _num(fit.n) if fit else None,
        "acceleration_n_ci": [_num(v) for v in fit.n_ci] if fit and fit.n_ci else None,
        "acceleration_channels": [p.channel for p in fit.points] if fit else [],
        "acceleration_censored": [p.channel for p in fit.points
                                  if not getattr(p, "reached", True)] if fit else [],
        "fixed_n": study.options.fixed_n,
    }
    for target in study.options.extrapolate_to:
        tag = f"{target:g}_cd_m2_h"
        for metric in ("T50", "T95", "T90"):
            f = study.fits.get(metric)
            out[f"{metric}_at_{tag}"] = _num(f.t_at(target)) if f else None
            ci = f.t_ci_at(target) if f else None
            out[f"{metric}_at_{tag}_ci"] = [_num(v) for v in ci] if ci else None
            g = study.fixed.get(metric)
            out[f"{metric}_at_{tag}_fixed_n"] = _num(g.t_at(target)) if g else None
    out["temperature_fits"] = {metric: _joint(fit) for metric, fit in study.joint.items()}
    out["missing"] = list(study.missing)
    return out


def _joint(fit) -> dict[str, Any]:
    """A joint fit of n and Ea: the coefficients, their intervals, and the lifetime at 100 and
    1000 cd/m² at 25 °C with its band."""
    out: dict[str, Any] = {
        "n": _num(fit.n), "n_ci": [_num(v) for v in fit.n_ci] if fit.n_ci else None,
        "ea_ev": _num(fit.ea_ev),
        "ea_ci": [_num(v) for v in fit.ea_ci] if fit.ea_ci else None,
        "channels": [p.channel for p in fit.points]}
    for target in (100.0, 1000.0):
        ci = fit.t_ci_at(target, 25.0)
        out[f"at_{target:g}_cd_m2_25C_h"] = _num(fit.t_at(target, 25.0))
        out[f"at_{target:g}_cd_m2_25C_h_ci"] = [_num(v) for v in ci] if ci else None
    return out


def summary(study: StudyAnalysis) -> dict[str, Any]:
    return {"study": study_summary(study), "channels": [channel_summary(c)
                                                        for c in study.channels]}
