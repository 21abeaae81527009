"""The theory report as plain lines for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optiscope.tables import num
from optiscope.theory.formatting import _fmt_point


def theory_text(report: Mapping[str, Any]) -> list[str]:
    """Plain lines for the terminal, every number taken from ``report``."""
    g = num
    lines = [
        f"{report['function']}: local quadratic model at {_fmt_point(report['point'])} "
        f"({report['source']}; {'exact: the function is quadratic' if report['quadratic'] else 'valid near that point'})",
        f"Hessian eigenvalues mu = {g(report['mu'])}, L = {g(report['L'])}; "
        f"condition number kappa = {g(report['kappa'])}",
    ]
    angle = report["valley_angle_deg"]
    if angle is None:
        lines.append("round bowl: no valley direction")
    else:
        aligned = (
            "axis-aligned"
            if report["axis_aligned"]
            else (f"{g(report['misalignment_deg'])} deg from the nearest axis")
        )
        lines.append(f"flat valley axis at {g(angle)} deg from the w1 axis ({aligned})")
    gd, hb, ng = report["gd"], report["momentum"], report["nesterov"]
    lines += [
        f"GD: stable for lr < {g(gd['stable_lr_max'])} (2/L); best lr {g(gd['optimal_lr'])} "
        f"(2/(L+mu)) gives rate {g(gd['rate'])} per step ((kappa-1)/(kappa+1))",
        f"heavy ball: best lr {g(hb['optimal_lr'])}, momentum {g(hb['optimal_momentum'])} "
        f"give rate {g(hb['rate'])} ((sqrt(kappa)-1)/(sqrt(kappa)+1); critically damped, "
        "error ~ k*rate^k); stable iff lr*lambda < 2 + 2*momentum",
        f"Nesterov: tuned lr {g(ng['optimal_lr'])}, momentum {g(ng['optimal_momentum'])} "
        f"give rate {g(ng['rate'])} (1 - 2/sqrt(3*kappa+1)); stable iff "
        "lr*lambda < (2 + 2*momentum)/(1 + 2*momentum)",
        f"adaptive methods: {report['adaptive_note']}",
    ]
    for run in report["runs"]:
        lines.append(_run_text(run, report["tol"]))
        lines += [f"  note: {n}" for n in run["notes"] if n != report["adaptive_note"]]
    return lines


def _run_text(run: Mapping[str, Any], tol: float) -> str:
    g = num
    head = f"{run['spec']} -> {run['method'].replace('_', ' ')}"
    if run["predicted_rate"] is None:  # adaptive, L-BFGS, a schedule: the reason says why
        return f"{head}: {run['reason']}"
    lr_max = run["stable_lr_max"]
    bound = "" if lr_max is None else f" (stability limit lr < {g(lr_max)})"
    if not run["stable"]:
        reason = str(run["reason"])
        if not reason.startswith("unstable"):  # dampening 1: no growth, but no convergence
            return f"{head}: {reason}"
        return f"{head}: UNSTABLE{bound}: largest root modulus {g(run['predicted_rate'])} >= 1"
    parts = [f"{head}: stable{bound}, rate {g(run['predicted_rate'])} per step"]
    for d in run["per_direction"]:
        where = f"along lambda = {g(d['eigenvalue'])}"
        if d["oscillates"]:
            parts.append(
                f"oscillates {where} (complex roots, |s| = {g(d['rate'])}, period "
                f"{g(d['period'])} steps)"
            )
        elif d["zigzag"]:
            parts.append(f"zig-zags {where} (factor {g(-d['rate'])})")
        if d["repeated"]:
            parts.append(f"critically damped {where}")
    steps = run["predicted_steps_to_tol"]
    parts.append(
        f"loss gap <= {g(tol)} after {steps} steps" if steps is not None else str(run["reason"])
    )
    return "; ".join(parts)
