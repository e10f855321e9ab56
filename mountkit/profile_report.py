"""Plots of a lens profile (PNG) and a one-page HTML report with the plot embedded.

For each body (the 1-inch sensor and full frame by default) one row of three
plots from the centre to the frame corner: distortion in %, vignetting in EV
per aperture, lateral CA of red and blue in pixels (the numbers come from
:mod:`mountkit.profile_summary`).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import MountkitError
from .formats.safe_files import write_file_atomic
from .profile import Lens
from .profile_summary import DEFAULT_BODIES, Body, corner_figures, radial_curves


def render_png(lens: Lens, models: Mapping, *, bodies: Sequence[Body] = DEFAULT_BODIES,
               focal: float | None = None, dpi: int = 110) -> bytes:
    """The report figure as PNG bytes (matplotlib, Agg backend; no display needed)."""
    from matplotlib.figure import Figure

    height = 3.6 * len(bodies) + 0.6
    fig = Figure(figsize=(13, height), dpi=dpi)
    axes = fig.subplots(len(bodies), 3, squeeze=False)
    # a fixed layout: much faster than matplotlib's constrained layout, and the same every time
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.75 / height, top=1 - 1.0 / height, wspace=0.22,
                        hspace=1.6 / 3.6)
    fig.suptitle(f"{lens.name}" + (f"  (calibrated at crop {lens.profile.crop_factor:g})" if lens.profile else ""))
    for row, body in zip(axes, bodies, strict=True):
        curves = radial_curves(lens, body, models, focal=focal)
        x = curves.t * 100
        ax_d, ax_v, ax_t = row
        for f, pct in curves.distortion:
            ax_d.plot(x, pct, label=f"{f:g} mm")
        for _, n, ev in curves.vignetting:
            ax_v.plot(x, ev, label=f"f/{n:g}")
        for f, red, blue in curves.tca:
            ax_t.plot(x, red, color="tab:red", label=f"red {f:g} mm")
            ax_t.plot(x, blue, color="tab:blue", label=f"blue {f:g} mm", linestyle="--")
        titles = ("distortion (%)", "vignetting (EV)" + (f" at {curves.vignetting[0][0]:g} mm"
                                                           if curves.vignetting else ""), "lateral CA (px)")
        for ax, title, empty in zip(row, titles, (curves.distortion, curves.vignetting, curves.tca), strict=True):
            ax.set_title(f"{body.name}\n{title}", fontsize=9)
            ax.set_xlabel("% of the way to the frame corner")
            ax.axhline(0, color="0.7", linewidth=0.8)
            ax.set_xlim(0, 100)
            if empty:
                ax.legend(fontsize=7, loc="best")
            else:
                ax.text(0.5, 0.5, "no data" if lens.profile is None or _covers(lens, body)
                        else "not covered:\ncalibrated on a smaller sensor",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _covers(lens: Lens, body: Body) -> bool:
    from .profile_summary import covers

    return lens.profile is not None and covers(lens.profile, body)


def _fmt(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return "-inf" if v < 0 else "n/a"
    return f"{v:+.2f} {unit}"


def render_html(lens: Lens, models: Mapping, *, bodies: Sequence[Body] = DEFAULT_BODIES,
                focal: float | None = None) -> str:
    """A self-contained HTML page: identity, provenance, corner figures, and the PNG embedded (base64)."""
    png = base64.b64encode(render_png(lens, models, bodies=bodies, focal=focal)).decode("ascii")
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(lens.name)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}td,th{padding:2px 8px;"
             "text-align:right}th{text-align:left}</style></head><body>",
             f"<h1>{e(lens.name)}</h1>"]
    prof = lens.profile
    if prof is not None:
        p = prof.provenance
        rows = [("source", p.source), ("licence", p.licence), ("body", p.body), ("author", p.author),
                ("date", p.date), ("method", p.method), ("notes", p.notes),
                ("calibration crop factor", f"{prof.crop_factor:g}"), ("aspect ratio", f"{prof.aspect_ratio:.4g}"),
                ("file", lens.source)]
        parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td style='text-align:left'>{e(str(v))}</td></tr>"
                                         for k, v in rows if v) + "</table>")
    for body in bodies:
        cf = corner_figures(lens, body, models)
        parts.append(f"<h2>{e(body.name)} (crop {body.crop_factor:.3g})</h2>")
        if not cf.applicable:
            parts.append(f"<p>{e(cf.reason)}</p>")
            continue
        parts.append("<table><tr><th>at the corners</th><th>focal</th><th>value</th></tr>")
        for f, v in cf.distortion:
            parts.append(f"<tr><th>distortion</th><td>{f:g} mm</td><td>{_fmt(v, '%')}</td></tr>")
        for f, n, d, v in cf.vignetting:
            parts.append(f"<tr><th>vignetting f/{n:g} ({d:g} m)</th><td>{f:g} mm</td><td>{_fmt(v, 'EV')}</td></tr>")
        for f, r, b in cf.tca:
            parts.append(f"<tr><th>lateral CA red / blue</th><td>{f:g} mm</td>"
                         f"<td>{_fmt(r, 'px')} / {_fmt(b, 'px')}</td></tr>")
        parts.append("</table>")
    parts.append(f"<p><img alt='profile plots' style='max-width:100%' src='data:image/png;base64,{png}'></p>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(lens: Lens, path: str | os.PathLike, models: Mapping, *, force: bool = False,
                 focal: float | None = None, bodies: Sequence[Body] = DEFAULT_BODIES) -> Path:
    """Write ``report.png`` or ``report.html`` (by suffix), atomically."""
    path = Path(path)
    if path.exists() and not force:
        raise MountkitError(f"{path}: already exists; pass --force (force=True) to overwrite it")
    suffix = path.suffix.lower()
    if suffix == ".png":
        data: bytes | str = render_png(lens, models, bodies=bodies, focal=focal)
    elif suffix in (".html", ".htm"):
        data = render_html(lens, models, bodies=bodies, focal=focal)
    else:
        raise MountkitError(f"{path}: report file must end in .png or .html")
    return write_file_atomic(path, data, force=force)
