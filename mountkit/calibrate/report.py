"""Residual plots of a calibration (``--report report.png``), drawn with matplotlib's Agg backend.

One row of panels per calibration: distortion (residual vectors over the
frame, residual against radius, RMS per shot, the fitted displacement curve),
TCA (measured red/blue shift against radius with the fitted curves, RMS per
shot) and vignetting (binned flat-field values with the fitted falloff, and the
colour shading of the corners).  The file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import geometry as geo
from ..errors import MountkitError
from ..io.atomic import atomic_output
from .distortion_fit import DistortionFit
from .tca_fit import TCAFit
from .vignetting_fit import VignettingFit, falloff


def _distortion_row(axes, fit: DistortionFit, model) -> None:
    ax = axes[0]
    w, h = fit.size
    scale = 0.25 * min(w, h) / max(float(np.abs(fit.residuals).max()), 1e-9)
    ax.quiver(fit.points[:, 0], fit.points[:, 1], fit.residuals[:, 0] * scale, -fit.residuals[:, 1] * scale,
              np.hypot(fit.residuals[:, 0], fit.residuals[:, 1]), angles="xy", scale_units="xy", scale=1,
              cmap="viridis", width=0.003)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_title(f"distortion {fit.model}: residuals (x{scale:.0f})", fontsize=9)
    g = geo.FrameGeometry(w, h, crop_factor=fit.crop_factor, lens_crop_factor=fit.crop_factor,
                          aspect_ratio=fit.aspect_ratio)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    radius = np.hypot(fit.points[:, 0] - cx, fit.points[:, 1] - cy)
    ax = axes[1]
    ax.plot(radius, np.hypot(fit.residuals[:, 0], fit.residuals[:, 1]), ".", ms=2)
    ax.set_xlabel("radius (px)")
    ax.set_ylabel("residual (px)")
    ax.set_title(f"RMS {fit.rms_px:.3f} px, max {fit.max_px:.3f} px", fontsize=9)
    ax = axes[2]
    names = [s.name for s in fit.shots]
    ax.bar(range(len(names)), [s.rms_px for s in fit.shots])
    ax.set_xticks(range(len(names)), [Path(n).name for n in names], rotation=90, fontsize=6)
    ax.set_ylabel("RMS (px)")
    ax.set_title(f"per shot ({len(fit.rejected)} rejected)", fontsize=9)
    ax = axes[3]
    r = np.linspace(0.0, g.corner_radius, 300)
    s = np.asarray(model.radial_factor(r, dict(fit.params)))
    ax.plot(r * g.norm_unscale, (r * s - r) * g.norm_unscale, label="fitted")
    ax.axvline(fit.radius_covered * g.norm_unscale, color="grey", ls="--", lw=0.8, label="corners reach")
    ax.set_xlabel("corrected radius (px)")
    ax.set_ylabel("displacement (px)")
    ax.legend(fontsize=7)
    ax.set_title("captured - corrected radius", fontsize=9)


def _tca_row(axes, fit: TCAFit) -> None:
    g = geo.FrameGeometry(fit.size[0], fit.size[1], crop_factor=fit.crop_factor, lens_crop_factor=fit.crop_factor,
                          aspect_ratio=fit.aspect_ratio)
    rp = fit.radius * g.norm_unscale
    ax = axes[0]
    ax.plot(rp, fit.red_shift_px, ".", ms=2, color="tab:red", label="red")
    ax.plot(rp, fit.blue_shift_px, ".", ms=2, color="tab:blue", label="blue")
    r = np.linspace(0, g.corner_radius, 200)
    p = fit.params
    if fit.model == "linear":
        fr, fb = np.full_like(r, p["kr"]), np.full_like(r, p["kb"])
    else:
        fr = p["vr"] + p["cr"] * r + p["br"] * r * r
        fb = p["vb"] + p["cb"] * r + p["bb"] * r * r
    ax.plot(r * g.norm_unscale, (fr - 1) * r * g.norm_unscale, color="darkred")
    ax.plot(r * g.norm_unscale, (fb - 1) * r * g.norm_unscale, color="darkblue")
    ax.set_xlabel("radius (px)")
    ax.set_ylabel("shift from green (px)")
    ax.legend(fontsize=7)
    ax.set_title(f"TCA {fit.model}: RMS red {fit.red.rms_px:.3f}, blue {fit.blue.rms_px:.3f} px", fontsize=9)
    ax = axes[1]
    names = [n for n, _ in fit.red.per_shot]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [v for _, v in fit.red.per_shot], 0.4, color="tab:red")
    ax.bar(x + 0.2, [v for _, v in fit.blue.per_shot], 0.4, color="tab:blue")
    ax.set_xticks(x, [Path(n).name for n in names], rotation=90, fontsize=6)
    ax.set_ylabel("RMS (px)")
    ax.set_title("per shot", fontsize=9)
    for ax in axes[2:]:
        ax.axis("off")


def _vignetting_row(axes, fits: Sequence[VignettingFit]) -> None:
    ax = axes[0]
    for f in fits:
        line = ax.plot(f.bins_radius, f.bins_value, ".", ms=3)[0]
        r = np.linspace(0, f.corner_radius, 200)
        ax.plot(r, falloff(r, list(f.params.values())), color=line.get_color(),
                label=f"{f.focal:g} mm f/{f.aperture:g} {f.distance:g} m")
    ax.set_xlabel("radius (1 = calibration corner)")
    ax.set_ylabel("relative illumination")
    ax.legend(fontsize=6)
    ax.set_title("vignetting pa", fontsize=9)
    ax = axes[1]
    labels = [f"f/{f.aperture:g}" for f in fits]
    ax.bar(range(len(fits)), [100 * f.rms for f in fits])
    ax.set_xticks(range(len(fits)), labels, fontsize=7)
    ax.set_ylabel("RMS (%)")
    ax.set_title("fit residual", fontsize=9)
    ax = axes[2]
    shaded = [f for f in fits if f.shading is not None]
    if shaded:
        from .colour_shading import Poly4Shading

        m = Poly4Shading()
        f = shaded[0]
        g = geo.FrameGeometry(f.size[0], f.size[1], crop_factor=f.crop_factor, lens_crop_factor=f.crop_factor,
                              aspect_ratio=f.aspect_ratio)
        xs = np.linspace(0, f.size[0] - 1, 80)[None, :]
        ys = np.linspace(0, f.size[1] - 1, 60)[:, None]
        x, y = geo.pixel_to_normalized(g, xs, ys)
        s = m.shading(x / g.calibration_diagonal, y / g.calibration_diagonal, m.resolve_params(f.shading))
        im = ax.imshow(s[0] / s[2], cmap="coolwarm", extent=(0, f.size[0], f.size[1], 0))
        ax.figure.colorbar(im, ax=ax, fraction=0.046)
        ax.set_title(f"colour shading red/blue, {f.focal:g} mm f/{f.aperture:g}", fontsize=9)
    else:
        ax.axis("off")
    axes[3].axis("off")


def write_report(path: str | os.PathLike, *, distortion: tuple[DistortionFit, object] | None = None,
                 tca: TCAFit | None = None, vignetting: Sequence[VignettingFit] = ()) -> Path:
    """Draw the residual plots of the given fits into a PNG (or any format matplotlib writes).

    ``distortion`` is ``(fit, model)`` (the model evaluates the fitted curve).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows = [r for r in (distortion, tca, list(vignetting) or None) if r is not None]
    if not rows:
        raise MountkitError("nothing to plot: no calibration succeeded")
    fig = Figure(figsize=(16, 3.8 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 4, squeeze=False)
    i = 0
    if distortion is not None:
        _distortion_row(axes[i], *distortion)
        i += 1
    if tca is not None:
        _tca_row(axes[i], tca)
        i += 1
    if vignetting:
        _vignetting_row(axes[i], vignetting)
    dest = Path(path)
    fmt = dest.suffix.lstrip(".").lower() or "png"
    with atomic_output(dest, overwrite=True) as tmp:
        fig.savefig(tmp, format=fmt, dpi=110)
    return dest
