"""Applying the corrections a DNG carries, alone or together with a lens profile.

Policy (``mountkit correct --corrections embedded|profile|both|none``, default ``auto``):

``auto``
    the file's own opcode corrections when it carries any and no lens profile
    was chosen explicitly (``--lens`` or a sidecar's ``lens``); otherwise the
    profile.  Never both silently: when a profile is chosen for a file that
    carries corrections, they are ignored and a note says so.
``embedded``
    only the file's opcode lists;
``profile``
    only the lens profile (opcode lists ignored, with a note);
``both``
    the opcode lists first (as a DNG reader applies them), then the profile
    on the result -- in one resampling pass;
``none``
    neither: the frame is only decoded (and written).

Stages, as the DNG specification orders them:

* OpcodeList2 GainMaps act on the CFA mosaic before demosaicing: they are
  multiplied into the raw values (black level subtracted, clipped to the
  white level as the SDK clips) through the raw reader's ``prepare_cfa``
  callback (:func:`gain_map_cfa_hook`);
* OpcodeList3 becomes a lens profile of mountkit opcode models
  (:func:`mountkit.dng.models.embedded_lens`) applied by the engine; GainMaps
  in list 3 multiply the frame before resampling; with ``both``,
  :class:`StackedCorrector` composes the embedded warp with the profile's
  maps so that every pixel is resampled once.

OpcodeList1 (raw data before linearisation) holds no lens corrections; a list
1 is reported and left alone.  Opcodes act on the raw grid as stored (before
the Orientation tag), which is the grid mountkit's raw reader returns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CorrectionError, FrameError
from .gain import apply_gain_map, gain_map_area, gain_map_values
from .opcodes import FixVignetteRadial, GainMap, Opcode, WarpFisheye, WarpRectilinear, WarpRectilinear2
from .tags import DngOpcodes, read_opcode_lists

POLICIES = ("auto", "embedded", "profile", "both", "none")
#: Opcode ids applied at each stage.
STAGE2_SUPPORTED = {GainMap.opcode_id}
STAGE3_SUPPORTED = {WarpRectilinear.opcode_id, WarpRectilinear2.opcode_id, WarpFisheye.opcode_id,
                    FixVignetteRadial.opcode_id, GainMap.opcode_id}
#: Shooting parameters the embedded calibrations are filed under (they do not depend on them).
EMBEDDED_FOCAL, EMBEDDED_APERTURE, EMBEDDED_DISTANCE = 50.0, 8.0, 1000.0
#: Output pixels mapped per block (bounds the memory of the maps).
BLOCK_PIXELS = 1 << 20


def _kinds_of(op: Opcode) -> set[str]:
    if isinstance(op, (FixVignetteRadial, GainMap)):
        return {"vignetting"}
    if isinstance(op, (WarpRectilinear, WarpRectilinear2, WarpFisheye)):
        return {"distortion", "tca"}
    return set()


@dataclass(frozen=True)
class EmbeddedPlan:
    """What one file carries and what of it will be applied (picklable, for worker processes).

    ``use_embedded``/``use_profile`` are the decision; ``stage2`` and
    ``stage3`` the opcodes to apply; ``notes`` say what is ignored or skipped
    and why.
    """

    path: str
    policy: str
    use_embedded: bool
    use_profile: bool
    reason: str
    carries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    stage2: tuple[Opcode, ...] = ()
    stage3: tuple[Opcode, ...] = ()
    size: tuple[int, int] | None = None  # (width, height) the stage-2/3 opcodes apply to
    notes: tuple[str, ...] = ()

    @property
    def applies_opcodes(self) -> bool:
        return self.use_embedded and bool(self.stage2 or self.stage3)

    def describe(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "decision": ("both" if self.use_embedded and self.use_profile else
                         "embedded" if self.use_embedded else "profile" if self.use_profile else "none"),
            "reason": self.reason,
            "carries": {k: list(v) for k, v in self.carries.items()},
            "applied": ([f"OpcodeList2 {op.label}" for op in self.stage2] + [f"OpcodeList3 {op.label}"
                                                                             for op in self.stage3])
            if self.use_embedded else [],
            "notes": list(self.notes),
        }

    def dry_run_lines(self) -> list[str]:
        """Human-readable lines for ``mountkit correct --dry-run``."""
        d = self.describe()
        carried = "; ".join(f"{k}: {', '.join(v)}" for k, v in d["carries"].items()) or "nothing"
        lines = [f"embedded corrections: {carried}",
                 f"  policy {self.policy} -> {d['decision']} ({self.reason})"]
        if d["applied"]:
            lines.append("  applying: " + ", ".join(d["applied"]))
        lines.extend(f"  note: {n}" for n in self.notes)
        return lines

    # -- hooks for the reader and the corrector ----------------------------------

    def read_options(self) -> dict[str, Any]:
        """Extra options for the raw reader: the stage-2 GainMaps as a ``prepare_cfa`` callback."""
        if not (self.use_embedded and self.stage2):
            return {}
        return {"prepare_cfa": gain_map_cfa_hook(self.stage2, self.size, self.path)}

    def corrector_for(self, kit, size: tuple[int, int], make_base: Callable[[], Any], *,
                      interpolation: str = "bicubic"):
        """The corrector for a frame of ``size``, and notes.

        ``make_base()`` returns ``(corrector, notes)`` for the profile (the
        batch's own corrector); it is called only when the profile is used.
        With embedded corrections the result stacks them with it
        (:class:`StackedCorrector`); with neither it is the identity.
        """
        if self.use_embedded and (self.stage2 or self.stage3):
            self.check_size(size)
        base, notes = make_base() if self.use_profile else (None, ())
        stage3 = self.stage3 if self.use_embedded else ()
        warps = [op for op in stage3 if not isinstance(op, GainMap)]
        gain_maps = tuple(op for op in stage3 if isinstance(op, GainMap))
        if base is not None and not stage3:
            return base, tuple(notes)
        resampler = base.resampler if base is not None else None
        emb = embedded_corrector(kit, warps, size, interpolation=interpolation, resampler=resampler,
                                 source=self.path) if warps else None
        return StackedCorrector(base, emb, gain_maps, self, size=size, kit=kit, interpolation=interpolation), \
            tuple(notes)

    def check_size(self, size: tuple[int, int]) -> None:
        if self.size is not None and tuple(size) != tuple(self.size):
            raise FrameError(f"{self.path}: the decoded frame is {size[0]} x {size[1]} but its opcode lists apply "
                             f"to the {self.size[0]} x {self.size[1]} active area; cannot apply them (use "
                             "--corrections profile or none)")


def _carried(dng: DngOpcodes) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in dng.embedded_kinds().items()}


def plan_embedded(path: str | os.PathLike, policy: str = "auto", *, explicit_profile: bool = False,
                  kinds: Sequence[str] = ("distortion", "tca", "vignetting"),
                  dng: DngOpcodes | None = None) -> EmbeddedPlan:
    """Decide, for one file, whether its opcode lists and/or a profile are applied, and which opcodes.

    Parameters
    ----------
    path : path-like
    policy : str
        One of :data:`POLICIES`.
    explicit_profile : bool
        True when the user chose a lens profile for this file (flag or sidecar).
    kinds : sequence of str
        The correction kinds requested; embedded opcodes of other kinds are left out.
    dng : DngOpcodes, optional
        The file's lists, when already read.

    Raises
    ------
    OpcodeError
        When the embedded corrections are to be applied but a list cannot be
        (malformed, or a required opcode mountkit does not support).
    """
    if policy not in POLICIES:
        raise CorrectionError(f"unknown corrections policy {policy!r}; use one of {', '.join(POLICIES)}")
    spath = os.fspath(path)
    if dng is None:
        try:
            dng = read_opcode_lists(spath)
        except FrameError:
            dng = None  # not a TIFF-based file: nothing embedded
    carries = _carried(dng) if dng is not None else {}
    notes: list[str] = []
    if dng is not None:
        notes.extend(f"OpcodeList{n} is malformed: {e.reason}" for n, e in sorted(dng.errors.items()))
    has = bool(carries) or bool(dng is not None and (dng.errors.keys() & {2, 3}))
    has_lists = has or bool(dng is not None and any(len(dng.lists.get(n, ())) for n in (2, 3)))
    if policy == "auto":
        if has and not explicit_profile:
            use_e, use_p, why = True, False, "the file carries corrections and no profile was chosen"
        elif has:
            use_e, use_p, why = False, True, "a profile was chosen explicitly"
            notes.append("the file's own corrections (" + ", ".join(carries) + ") are ignored; "
                         "--corrections both applies them before the profile")
        else:
            use_e, use_p, why = False, True, "the file carries no corrections"
    else:
        use_e, use_p = policy in ("embedded", "both"), policy in ("profile", "both")
        why = f"--corrections {policy}"
        if policy == "profile" and has:
            notes.append("the file's own corrections (" + ", ".join(carries) + ") are ignored")
        if use_e and not has_lists:
            notes.append("the file carries no opcode corrections")
    stage2: tuple[Opcode, ...] = ()
    stage3: tuple[Opcode, ...] = ()
    size = None
    if use_e and dng is not None and has_lists:
        wanted = set(kinds)
        size = dng.ifd.stage_size(3) if dng.ifd is not None else None
        for n, supported in ((2, STAGE2_SUPPORTED), (3, STAGE3_SUPPORTED)):
            if n not in dng.lists and n not in dng.errors:
                continue
            run, skipped = dng.stage(n).applicable(supported)
            notes.extend(f"OpcodeList{n} #{s.index + 1} {s.opcode.label} skipped: {s.reason}" for s in skipped)
            keep = tuple(op for op in run if _kinds_of(op) & wanted)
            for op in run:
                if op not in keep:
                    notes.append(f"OpcodeList{n} {op.label} left out: not among the requested corrections")
            if n == 2:
                stage2 = keep
            else:
                stage3 = keep
        if 1 in dng.lists and len(dng.lists[1]):
            notes.append("OpcodeList1 (raw data before linearisation) is not applied by mountkit")
    return EmbeddedPlan(path=spath, policy=policy, use_embedded=use_e, use_profile=use_p, reason=why,
                        carries=carries, stage2=stage2, stage3=stage3, size=size, notes=tuple(notes))


# -- stage 2: GainMaps on the CFA --------------------------------------------------------


def gain_map_cfa_hook(gain_maps: Sequence[GainMap], size: tuple[int, int] | None,
                      source: str = "") -> Callable[[np.ndarray, Mapping[str, Any]], None]:
    """A callback that multiplies OpcodeList2 GainMaps into a raw mosaic, in place.

    The callback receives the visible raw mosaic (uint16, a view LibRaw
    demosaics afterwards) and a mapping with ``black`` (a per-pixel or
    scalar black level) and ``white`` (the white level).  The gain applies to
    the linearised value: ``black + (v - black) * gain``, clipped to
    [black, white] (the SDK clips at its white level), rounded.
    """
    maps = tuple(gain_maps)

    def hook(cfa: np.ndarray, levels: Mapping[str, Any]) -> None:
        h, w = cfa.shape[:2]
        if size is not None and (w, h) != tuple(size):
            raise FrameError(f"{source}: the raw mosaic is {w} x {h} but OpcodeList2 applies to the "
                             f"{size[0]} x {size[1]} active area; cannot apply its GainMaps")
        black = np.broadcast_to(np.asarray(levels.get("black", 0.0), dtype=np.float32), cfa.shape)
        white = float(levels.get("white", np.iinfo(cfa.dtype).max if cfa.dtype.kind == "u" else 1.0))
        lin = cfa.astype(np.float32) - black
        for op in maps:
            lin = apply_gain_map(lin, op)
        out = np.clip(lin + black, black, white)
        if cfa.dtype.kind in "ui":
            np.rint(out, out=out)
        cfa[...] = out.astype(cfa.dtype)

    return hook


# -- stage 3 --------------------------------------------------------------------------


def embedded_corrector(kit, opcodes: Sequence[Opcode], size: tuple[int, int], *, interpolation: str = "bicubic",
                       resampler=None, source: str = ""):
    """An engine :class:`~mountkit.Corrector` applying list-3 warp and vignette opcodes on frames of ``size``."""
    from .models import embedded_lens

    lens = embedded_lens(opcodes, size, crop_factor=1.0, focal=EMBEDDED_FOCAL, aperture=EMBEDDED_APERTURE,
                         distance=EMBEDDED_DISTANCE, source=source)
    return kit.corrector(lens, crop_factor=1.0, size=size, focal=EMBEDDED_FOCAL, aperture=EMBEDDED_APERTURE,
                         distance=EMBEDDED_DISTANCE, interpolation=interpolation, scale=1.0, resampler=resampler)


def embedded_settings(plan: EmbeddedPlan) -> dict[str, Any]:
    """Lens and shooting parameters that make the batch apply only a file's list-3 opcodes."""
    from ..profile import Lens, LensProfile
    from .models import embedded_lens

    ops = [op for op in plan.stage3 if not isinstance(op, GainMap)] if plan.use_embedded else []
    name = os.path.basename(plan.path)
    if ops and plan.size is not None:
        lens = embedded_lens(ops, plan.size, crop_factor=1.0, focal=EMBEDDED_FOCAL, aperture=EMBEDDED_APERTURE,
                             distance=EMBEDDED_DISTANCE, name=f"embedded opcodes of {name}", source=plan.path)
    else:  # nothing geometric or vignetting in list 3 (GainMaps only, or no corrections at all)
        what = "embedded GainMaps" if plan.applies_opcodes else "no corrections"
        lens = Lens("DNG", f"{what} of {name}", focal_min=EMBEDDED_FOCAL, profile=LensProfile(crop_factor=1.0),
                    source=plan.path)
    unused = "not used by the file's own corrections"
    why = (("lens", f"embedded corrections: {plan.reason}"),) + tuple(
        (k, unused) for k in ("crop_factor", "focal", "aperture", "distance"))
    return {"lens": lens, "crop_factor": 1.0, "focal": EMBEDDED_FOCAL, "aperture": EMBEDDED_APERTURE,
            "distance": EMBEDDED_DISTANCE, "scale": 1.0, "why": why}


class StackedCorrector:
    """The embedded list-3 corrections, then a profile's, in one resampling pass.

    For an output pixel p and channel c the source position is
    ``E_c(P_c(p))``: P the profile's map (the profile corrects the image the
    DNG reader produced), E the embedded warp.  The frame is multiplied by
    the embedded gains (vignette, list-3 GainMaps) on the captured grid before
    resampling, and the output by the profile's vignetting gain at P(p).
    ``profile`` may be None (embedded corrections only, with list-3 GainMaps).
    """

    def __init__(self, profile, embedded, gain_maps: Sequence[GainMap] = (), plan: EmbeddedPlan | None = None, *,
                 size: tuple[int, int] | None = None, kit=None, interpolation: str = "bicubic"):
        self.profile = profile
        self.embedded = embedded
        self.gain_maps = tuple(gain_maps)
        self.plan = plan
        main = profile if profile is not None else embedded
        if main is not None:
            self.width, self.height = main.size
            self.resampler = main.resampler
            self.interpolation = main.interpolation
        else:
            if size is None:
                raise CorrectionError("a StackedCorrector without correctors needs size=")
            self.width, self.height = size
            self.resampler = (kit.resampler() if kit is not None else None)
            self.interpolation = interpolation

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def active(self) -> tuple[str, ...]:
        kinds: set[str] = set()
        for c in (self.profile, self.embedded):
            if c is not None:
                kinds |= set(c.active)
        if self.gain_maps:
            kinds.add("vignetting")
        return tuple(k for k in ("vignetting", "tca", "distortion") if k in kinds)

    @property
    def moves_pixels(self) -> bool:
        return any(c is not None and c.moves_pixels for c in (self.profile, self.embedded))

    @property
    def scale(self) -> float:
        return self.profile.scale if self.profile is not None else 1.0

    def describe(self) -> dict[str, Any]:
        main = self.profile if self.profile is not None else self.embedded
        if main is not None:
            base = dict(main.describe())
        else:
            base = {"lens": None, "crop_factor": 1.0, "size": list(self.size), "scale": 1.0,
                    "interpolation": self.interpolation, "corrections": {}}
        corr = dict(base.get("corrections", {}))
        if self.profile is not None and self.embedded is not None:
            corr = {f"profile {k}": v for k, v in corr.items()}
            corr.update({f"embedded {k}": v for k, v in self.embedded.describe()["corrections"].items()})
        elif self.profile is None and self.embedded is not None:
            corr = {f"embedded {k}": v for k, v in corr.items()}
        if self.gain_maps:
            corr["embedded vignetting (GainMap)"] = {"model": "GainMap", "params": {}, "calibrated": True,
                                                     "how": f"{len(self.gain_maps)} list-3 GainMap(s)"}
        base["corrections"] = corr
        if self.plan is not None:
            base["embedded"] = self.plan.describe()
        return base

    def channel_points(self, x, y, channel: int):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.profile is not None:
            x, y = self.profile.channel_points(x, y, channel)
        if self.embedded is not None:
            x, y = self.embedded.channel_points(x, y, channel)
        return np.broadcast_arrays(x, y)

    def source_points(self, x, y) -> np.ndarray:
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        out = np.empty(x.shape + (3, 2))
        for c in range(3):
            out[..., c, 0], out[..., c, 1] = self.channel_points(x, y, c)
        return out

    def _source_plane(self, planes: np.ndarray, c: int, vignette: np.ndarray | None) -> np.ndarray:
        """Channel c of the captured frame times the embedded gains (vignette, list-3 GainMaps), float32."""
        h, w = planes.shape[:2]
        src = planes[..., c].astype(np.float32)
        if vignette is not None:
            src *= vignette
        for op in self.gain_maps:
            if op.plane <= c < op.plane + op.planes:
                rs, cs = gain_map_area(op, h, w)
                rows, cols = np.arange(h)[rs], np.arange(w)[cs]
                if rows.size and cols.size:
                    src[rs, cs] *= gain_map_values(op, rows, cols, h, w, c).astype(np.float32)
        return src

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Correct a linear frame (H, W) or (H, W, 3); floats keep their values, integers are rounded and clipped."""
        frame = np.asarray(frame)
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            raise FrameError(f"frame is {w}x{h} but this corrector was made for {self.width}x{self.height}")
        planes = frame.reshape(h, w, -1)
        n = planes.shape[2]
        vignette = (self.embedded.vignetting_gain() if self.embedded is not None
                    and "vignetting" in self.embedded.active else None)
        out = np.empty((h, w, n), np.float32)
        per = max(1, BLOCK_PIXELS // w)
        xs = np.arange(w, dtype=np.float64)[None, :]
        profile_gain = self.profile is not None and "vignetting" in self.profile.active
        for c in range(n):
            channel = 1 if n == 1 else c
            src = self._source_plane(planes, c, vignette)
            plane = np.empty((h, w), np.float32)
            for a in range(0, h, per):
                b = min(a + per, h)
                ys = np.arange(a, b, dtype=np.float64)[:, None]
                if self.moves_pixels:
                    mx, my = self.channel_points(xs, ys, channel)
                    self.resampler.remap(src, mx.astype(np.float32), my.astype(np.float32), self.interpolation,
                                         0.0, plane[a:b])
                else:
                    plane[a:b] = src[a:b]
                if profile_gain:
                    px, py = self.profile.channel_points(xs, ys, channel)
                    plane[a:b] *= self.profile.gain_points(px, py).astype(np.float32)
            out[..., c] = plane
        if frame.dtype.kind in "ui":
            info = np.iinfo(frame.dtype)
            np.rint(out, out=out)
            np.clip(out, info.min, info.max, out=out)
        return out.reshape(frame.shape).astype(frame.dtype, copy=False)
