"""The correction engine: a lens profile, a frame geometry and shooting parameters -> corrected frames.

:class:`Corrector` resolves everything once (lens, camera, crop factor,
interpolated calibration, automatic scale, resampler) and then answers for
any frame of its size.  The mathematics lives in :mod:`mountkit.geometry`
(coordinate systems and maps), :mod:`mountkit.interpolate` (calibration
interpolation) and the models; this class wires them together with the
fast paths: maps and gains evaluated exactly on a coarse grid and
interpolated (:mod:`mountkit.maps`), kept across frames in a map cache
(:mod:`mountkit.cache`), and frames corrected strip by strip on every core
(:mod:`mountkit.strips`).

Pipeline, in lensfun's order:

1. vignetting: the captured frame is multiplied by the gain (at captured
   positions, on linear data);
2. TCA and distortion, composed into one map per channel: every output pixel
   is resampled once from the vignetting-corrected frame.

With ``reverse=True`` the same profile *adds* the defects to a perfect frame:
resampling through the exact inverse map, then multiplying by the falloff.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import geometry as geo
from . import kernels, strips
from . import maps as fastmaps
from .cache import MapCache, default_cache
from .errors import CorrectionError, CorrectionWarning, FrameError
from .hardware import Camera
from .interpolate import Interpolated, first_model, interpolate_focal, interpolate_vignetting
from .profile import Lens
from .resample import INTERPOLATIONS, Resampler

if TYPE_CHECKING:
    from .kit import Kit

#: Corrections the engine applies, in pipeline order ("colour_shading": a per-channel gain, applied with
#: vignetting, from a model with ``shading(u, v, params)``, see :mod:`mountkit.calibrate.colour_shading`).
KINDS = ("vignetting", "colour_shading", "tca", "distortion")
#: Focus distance assumed when none is given (m): lensfunpy's default.
DEFAULT_DISTANCE = 1000.0
#: Points evaluated per block when whole maps are computed.
BLOCK_PIXELS = 1 << 16
#: Frames of at most this many pixels have their maps evaluated exactly at every pixel (``fast_maps=None``).
EXACT_MAPS_MAX_PIXELS = 1 << 20
#: Interpolation error allowed in the fast (grid) maps, in pixels (the tests check <= 0.005 px over whole frames).
MAP_TOLERANCE_PX = 1e-3
#: Interpolation error allowed in the fast gains, relative to the largest gain.
GAIN_TOLERANCE = 1e-6
#: A fast field with more than this share of its cells evaluated exactly (strong distortion on a small frame)
#: is evaluated at every pixel and stored instead, when the frame has at most DENSE_MAX_PIXELS pixels.
DENSE_SHARE = 0.25
DENSE_MAX_PIXELS = 1 << 22
#: Maps and gains are also kept at full resolution (warm frames skip their interpolation: about a quarter
#: faster) when that takes at most this many bytes and half the map cache: video and small stills, not
#: 50-megapixel frames, whose strips interpolate them from the grid.
DENSE_MAPS_MAX_BYTES = 256 << 20


# -- the exact per-pixel functions (module level: the plan's fields hold them, not the corrector) -------------


def pixel_map(x, y, *, g: geo.FrameGeometry, channel: int, reverse: bool, tol: float, scale: float,
              distortion: geo.ModelTerms | None, tca: geo.ModelTerms | None) -> tuple[np.ndarray, np.ndarray]:
    """Where channel ``channel`` of output pixels (x, y) is sampled: (columns, rows) float64."""
    xn, yn = geo.pixel_to_normalized(g, x, y)
    xn, yn = np.broadcast_arrays(xn, yn)
    mx, my = geo.channel_map(xn, yn, channel, reverse=reverse, tol=tol, scale=scale, distortion=distortion, tca=tca)
    return geo.normalized_to_pixel(g, mx, my)


def pixel_shading(x, y, *, g: geo.FrameGeometry, terms: geo.ModelTerms | None, channel: int,
                  reverse: bool) -> np.ndarray:
    """The colour-shading factor of one channel at pixels (x, y): 1/s_c (s_c with ``reverse``), 0 where s_c <= 0."""
    xn, yn = geo.pixel_to_normalized(g, x, y)
    if terms is None:
        return np.ones(np.broadcast(xn, yn).shape)
    s = np.asarray(terms.model.shading(xn / g.calibration_diagonal, yn / g.calibration_diagonal, terms.params),
                   dtype=np.float64)[channel]
    s = np.broadcast_to(s, np.broadcast(xn, yn).shape)
    pos = s > 0
    return np.where(pos, s if reverse else 1.0 / np.where(pos, s, 1.0), 0.0)


def pixel_gain(x, y, *, g: geo.FrameGeometry, vignetting: geo.ModelTerms | None, strength: float, reverse: bool,
               shading: geo.ModelTerms | None, channel: int) -> np.ndarray:
    """Vignetting gain times colour-shading factor of one channel at pixels (x, y), float64."""
    xn, yn = geo.pixel_to_normalized(g, x, y)
    gain = geo.vignetting_gain(g, xn, yn, vignetting, strength=strength, reverse=reverse)
    if shading is not None:
        gain = gain * pixel_shading(x, y, g=g, terms=shading, channel=channel, reverse=reverse)
    return gain


def _stacked_map(x, y, **kw):
    mx, my = pixel_map(x, y, **kw)
    mx, my = np.broadcast_arrays(mx, my)
    return np.stack([mx, my], axis=-1)


def _column_gain(x, y, **kw):
    return np.asarray(pixel_gain(x, y, **kw), dtype=np.float64)[..., None]


def _positive(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CorrectionError(f"{what} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise CorrectionError(f"{what} must be a positive finite number, got {value!r}")
    return v


class Corrector:
    """Corrections of one lens on one frame geometry at fixed shooting parameters.

    Usually made with :meth:`mountkit.Kit.corrector`.

    Parameters
    ----------
    kit : Kit or None
        Registry to resolve names, models and resamplers with (a new
        ``Kit()`` when None).
    lens : Lens or str
        The lens, or a name looked up with ``kit.lens`` (lensfun's fuzzy
        matching, restricted to calibrations usable at the crop factor).
    camera : Camera or str, optional
        The body, or a name looked up with ``kit.camera``; gives the crop
        factor and, when ``size`` is omitted, the frame size.
    crop_factor : float, optional
        Crop factor of the frame (overrides the camera's; needed without a camera).
    size : (int, int)
        Frame ``(width, height)`` in pixels, landscape or portrait.
    focal : float, optional
        Focal length in mm; may be omitted for a prime or a single calibration.
    aperture : float, optional
        f-number; needed for vignetting.
    distance : float, optional
        Focus distance in metres, for vignetting (default 1000, as lensfunpy).
    corrections : iterable of str
        Which of ``"vignetting"``, ``"tca"``, ``"distortion"`` to apply;
        kinds without calibration data are skipped (see :attr:`active`).
    interpolation : str
        ``"nearest"``, ``"bilinear"``, ``"bicubic"`` or ``"lanczos3"``.
    scale : float or "auto"
        Magnification of the output (> 1 zooms in); ``"auto"`` is lensfun's
        automatic scale, the smallest zoom without empty borders (see
        :func:`mountkit.geometry.auto_scale`).
    reverse : bool
        Simulate the lens (add its defects to a perfect frame) instead of
        correcting it.
    vignetting_strength : float
        0 to 2: the gain is ``(1/c) ** strength``, so 1 is lensfun's
        correction, 0.5 half as many stops, 2 twice as many.
    resampler : str or Resampler, optional
        The resampling backend (default: the kit's default backend: OpenCV
        when installed, else numpy).
    cache : MapCache or False, optional
        Where the maps and gains computed for the first frame are kept for the
        next ones (default: the process-wide :func:`mountkit.cache.default_cache`,
        shared by every corrector with the same settings); False: none (the
        corrector keeps its own).
    fast_maps : bool, optional
        True: maps and gains are evaluated exactly on a coarse grid and
        interpolated (error <= 0.005 px, see :mod:`mountkit.maps`); False:
        evaluated exactly at every pixel.  Default: fast for frames of more
        than ``EXACT_MAPS_MAX_PIXELS`` (1 MP).
    threads : int, optional
        Threads per frame (default: ``MOUNTKIT_THREADS`` or the number of cores).

    Raises
    ------
    NotFoundError
        Unknown lens, camera, model or resampler.
    CorrectionError
        Missing crop factor, size, focal length or aperture, a lens without
        calibration, or an invalid option.

    Warns
    -----
    CorrectionWarning
        Focal length outside the lens's or the calibration's range,
        aperture/distance too far from every vignetting calibration, a frame
        larger than the calibration sensor: corrected as lensfun would.

    Examples
    --------
    >>> import mountkit
    >>> from mountkit import Calibration, Lens, LensProfile
    >>> lens = Lens("Leica", "Summicron-M 28 f/2 ASPH.", focal_min=28, profile=LensProfile(
    ...     crop_factor=1.0, calibrations=(Calibration("distortion", "ptlens", 28,
    ...         {"a": 0.0135748, "b": -0.0502846, "c": 0.0486119}),)))
    >>> cor = Corrector(mountkit.Kit(entry_points=False), lens, crop_factor=2.64, size=(8192, 6144))
    >>> cor.active
    ('distortion',)
    >>> cor.source_points(8191, 6143).round(2)[1]  # the bottom-right corner samples 8.9 px farther out (pincushion)
    array([8199.88, 6149.66])
    """

    def __init__(
        self,
        kit: Kit | None,
        lens: Lens | str,
        *,
        camera: Camera | str | None = None,
        crop_factor: float | None = None,
        size: tuple[int, int] | None = None,
        focal: float | None = None,
        aperture: float | None = None,
        distance: float | None = None,
        corrections: Iterable[str] = KINDS,
        interpolation: str = "bicubic",
        scale: float | str = 1.0,
        reverse: bool = False,
        vignetting_strength: float = 1.0,
        resampler: str | Resampler | None = None,
        cache: MapCache | bool | None = None,
        fast_maps: bool | None = None,
        threads: int | None = None,
    ):
        if kit is None:
            from .kit import Kit

            kit = Kit()
        self.kit = kit
        self.camera = self._resolve_camera(camera)
        if crop_factor is not None:
            self.crop_factor = _positive(crop_factor, "crop_factor")
        elif self.camera is not None:
            self.crop_factor = float(self.camera.crop_factor)
        else:
            raise CorrectionError("the crop factor of the frame is unknown: pass camera= or crop_factor=")
        self.lens = self._resolve_lens(lens)
        self.width, self.height = self._resolve_size(size)
        self.corrections = self._resolve_corrections(corrections)
        if interpolation not in INTERPOLATIONS:
            raise CorrectionError(f"unknown interpolation {interpolation!r}; use one of {', '.join(INTERPOLATIONS)}")
        self.interpolation = interpolation
        self.reverse = bool(reverse)
        try:
            strength = float(vignetting_strength)
        except (TypeError, ValueError):
            strength = float("nan")
        if not 0.0 <= strength <= 2.0:
            raise CorrectionError(f"vignetting_strength must be between 0 and 2, got {vignetting_strength!r}")
        self.vignetting_strength = strength
        profile = self.lens.profile
        self.geometry = geo.FrameGeometry(self.width, self.height, crop_factor=self.crop_factor,
                                          lens_crop_factor=profile.crop_factor,
                                          aspect_ratio=profile.aspect_ratio, center=profile.center)
        self.focal = self._resolve_focal(focal)
        self.aperture = None if aperture is None else _positive(aperture, "aperture")
        self.distance = DEFAULT_DISTANCE if distance is None else _positive(distance, "distance (m)")
        self.terms: dict[str, Interpolated] = {}
        self._models: dict[str, geo.ModelTerms] = {}
        self._interpolate()
        if self._models and self.geometry.corner_radius > self.geometry.calibration_diagonal * (1 + 1e-9):
            warnings.warn(
                f"{self._where}the frame (crop factor {self.crop_factor:g}) reaches beyond the calibration "
                f"sensor (crop factor {profile.crop_factor:g}); the models are extrapolated there, as lensfun does",
                CorrectionWarning, stacklevel=3)
        self.scale = self._resolve_scale(scale)
        self.resampler = self._resolve_resampler(resampler)
        if cache is None or cache is True:
            self.cache: MapCache | None = default_cache()
        elif cache is False:
            self.cache = None
        elif isinstance(cache, MapCache):
            self.cache = cache
        else:
            raise CorrectionError(f"cache must be a mountkit.cache.MapCache or False, got {type(cache).__name__}")
        if fast_maps is not None and not isinstance(fast_maps, bool):
            raise CorrectionError(f"fast_maps must be True, False or None, got {fast_maps!r}")
        self.fast_maps = (self.width * self.height > EXACT_MAPS_MAX_PIXELS) if fast_maps is None else fast_maps
        if threads is None:
            self.threads = strips.default_threads()
        elif isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise CorrectionError(f"threads must be a positive integer, got {threads!r}")
        else:
            self.threads = int(threads)
        self._own_plan: strips.Plan | None = None

    # -- resolution of the options ----------------------------------------------

    @property
    def _where(self) -> str:
        lens = getattr(self, "lens", None)
        return f"{lens.name}: " if lens is not None else ""

    def _resolve_camera(self, camera) -> Camera | None:
        if camera is None or isinstance(camera, Camera):
            return camera
        if isinstance(camera, str):
            return self.kit.camera(camera)
        raise CorrectionError(f"camera must be a mountkit.Camera or a name, got {type(camera).__name__}")

    def _resolve_lens(self, lens) -> Lens:
        if isinstance(lens, str):
            lens = self.kit.lens(lens, camera=self.camera, crop_factor=self.crop_factor)
        if not isinstance(lens, Lens):
            raise CorrectionError(f"lens must be a mountkit.Lens or a name, got {type(lens).__name__}")
        if not lens.calibrated:
            raise CorrectionError(f"lens {lens.name!r} has no calibration data (no profile); "
                                  "load or create a profile for it first")
        return lens

    def _resolve_size(self, size) -> tuple[int, int]:
        if size is None:
            if self.camera is not None and self.camera.resolution is not None:
                return self.camera.resolution
            raise CorrectionError("the frame size is unknown: pass size=(width, height)")
        try:
            w, h = size
        except (TypeError, ValueError):
            raise CorrectionError(f"size must be (width, height), got {size!r}") from None
        for v in (w, h):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise CorrectionError(f"size must be two positive integers (width, height), got {size!r}")
        return int(w), int(h)

    def _resolve_corrections(self, corrections) -> tuple[str, ...]:
        if isinstance(corrections, str):
            corrections = (corrections,)
        corrections = tuple(corrections)
        unknown = [c for c in corrections if c not in KINDS]
        if unknown:
            raise CorrectionError(f"unknown correction(s) {unknown}; choose from {list(KINDS)}")
        return tuple(k for k in KINDS if k in corrections)

    def _wanted(self) -> list[str]:
        return [k for k in self.corrections if self.lens.profile.of_kind(k)]

    def _resolve_focal(self, focal) -> float | None:
        lens = self.lens
        wanted = self._wanted()
        if focal is not None:
            f = _positive(focal, "focal length (mm)")
            if lens.focal_min is not None and not (lens.focal_min * (1 - 1e-6) <= f <= lens.focal_max * (1 + 1e-6)):
                rng = (f"{lens.focal_min:g} mm" if lens.is_prime else f"{lens.focal_min:g}-{lens.focal_max:g} mm")
                warnings.warn(f"{self._where}focal length {f:g} mm is outside the lens's range ({rng})",
                              CorrectionWarning, stacklevel=4)
            return f
        if not wanted:
            return None
        if lens.is_prime:
            return float(lens.focal_min)
        focals = {c.focal for k in wanted for c in lens.profile.of_kind(k)}
        if len(focals) == 1:
            return focals.pop()
        rng = f" ({lens.focal_min:g}-{lens.focal_max:g} mm)" if lens.focal_min is not None else ""
        raise CorrectionError(f"{self._where}the lens is a zoom{rng}: pass focal= (the focal length in mm)")

    def _focal_range(self) -> tuple[float, float]:
        lens = self.lens
        if lens.focal_min is not None:
            return lens.focal_min, lens.focal_max
        focals = [c.focal for c in lens.profile.calibrations]
        return min(focals), max(focals)

    def _interpolate(self) -> None:
        profile = self.lens.profile
        where = self._where
        for kind in self._wanted():
            cals = profile.of_kind(kind)
            name, _, _ = first_model(cals)
            if name is None:
                continue
            model = self.kit.model(kind, name)
            if kind in ("vignetting", "colour_shading"):
                if self.aperture is None:
                    raise CorrectionError(f"{where}{kind} correction needs the aperture: pass aperture= "
                                          f"(the f-number), or leave '{kind}' out of corrections")
                lo, hi = self._focal_range()
                got = interpolate_vignetting(cals, self.focal, self.aperture, self.distance, model,
                                             focal_min=lo, focal_max=hi, where=where)
            else:
                got = interpolate_focal(cals, self.focal, model, where=where)
            if got is None:
                continue
            self.terms[kind] = got
            self._models[kind] = geo.ModelTerms(model, got.params)

    def _resolve_scale(self, scale) -> float:
        if isinstance(scale, str):
            if scale != "auto":
                raise CorrectionError(f"scale must be a number or 'auto', got {scale!r}")
            return geo.auto_scale(self.geometry, distortion=self._models.get("distortion"),
                                  tca=self._models.get("tca"), reverse=self.reverse)
        return _positive(scale, "scale")

    def _resolve_resampler(self, resampler) -> Resampler:
        if isinstance(resampler, Resampler):
            return resampler
        if resampler is None or isinstance(resampler, str):
            return self.kit.resampler(resampler)
        raise CorrectionError(f"resampler must be a name or a mountkit.resample.Resampler, "
                              f"got {type(resampler).__name__}")

    # -- what it does -------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """Frame ``(width, height)``."""
        return (self.width, self.height)

    @property
    def active(self) -> tuple[str, ...]:
        """The corrections actually applied, in pipeline order (requested and calibrated)."""
        return tuple(k for k in KINDS if k in self._models)

    @property
    def models(self) -> dict[str, geo.ModelTerms]:
        """Each active correction's model with its interpolated parameters."""
        return dict(self._models)

    @property
    def moves_pixels(self) -> bool:
        """True when the output is resampled (distortion, TCA or a scale other than 1)."""
        return "distortion" in self._models or "tca" in self._models or self.scale != 1.0

    def describe(self) -> dict[str, Any]:
        """What this corrector does, as plain data (for reports and the command line)."""
        return {
            "lens": self.lens.name,
            "lens_source": self.lens.source,
            "camera": self.camera.name if self.camera is not None else None,
            "crop_factor": self.crop_factor,
            "calibration_crop_factor": self.lens.profile.crop_factor,
            "calibration_aspect_ratio": self.lens.profile.aspect_ratio,
            "size": list(self.size),
            "focal": self.focal,
            "aperture": self.aperture,
            "distance": self.distance,
            "reverse": self.reverse,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "resampler": self.resampler.name,
            "vignetting_strength": self.vignetting_strength,
            "corrections": {k: {"model": t.model, "params": dict(t.params), "calibrated": t.calibrated,
                                "how": t.note} for k, t in self.terms.items()},
        }

    def __repr__(self) -> str:
        what = ", ".join(f"{k}:{t.model}" for k, t in self.terms.items()) or "nothing"
        mode = "simulate" if self.reverse else "correct"
        return (f"<Corrector {mode} {self.lens.name!r} {self.width}x{self.height} crop {self.crop_factor:g} "
                f"f={self.focal} [{what}] scale={self.scale:.6g}>")

    # -- maps -------------------------------------------------------------------

    def _map_kwargs(self) -> dict[str, Any]:
        return {"scale": self.scale, "distortion": self._models.get("distortion"), "tca": self._models.get("tca")}

    def _tolerance(self) -> float:
        return geo.INVERSE_TOLERANCE_PX * self.geometry.norm_scale

    def source_points(self, x, y) -> np.ndarray:
        """Where red, green and blue of output pixel positions ``(x, y)`` are sampled, exactly (float64).

        Parameters
        ----------
        x, y : array_like
            Output pixel positions (column, row), any broadcastable shapes.

        Returns
        -------
        ndarray, shape ``broadcast(x, y).shape + (3, 2)``, float64
            Source (column, row) per channel (R, G, B), in the captured frame
            (or, with ``reverse``, in the perfect frame); NaN where the
            inverse map has no solution.
        """
        g = self.geometry
        xn, yn = geo.pixel_to_normalized(g, x, y)
        xn, yn = np.broadcast_arrays(xn, yn)
        if self.reverse:
            m = geo.simulation_map(xn, yn, tol=self._tolerance(), **self._map_kwargs())
        else:
            m = geo.correction_map(xn, yn, **self._map_kwargs())
        m[..., 0], m[..., 1] = geo.normalized_to_pixel(g, m[..., 0], m[..., 1])
        return m

    def channel_points(self, x, y, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """One channel (0 R, 1 G, 2 B) of :meth:`source_points`, as (columns, rows) float64."""
        return pixel_map(x, y, g=self.geometry, channel=channel, reverse=self.reverse, tol=self._tolerance(),
                         **self._map_kwargs())

    def _row_blocks(self, rows: slice | None) -> tuple[int, int, list[tuple[int, int]]]:
        r0, r1, step = (rows or slice(None)).indices(self.height)
        if step != 1:
            raise CorrectionError(f"rows must be a contiguous slice, got {rows!r}")
        r1 = max(r0, r1)
        per = max(1, BLOCK_PIXELS // self.width)
        return r0, r1, [(a, min(a + per, r1)) for a in range(r0, r1, per)]

    def source_coordinates(self, *, exact: bool = False, rows: slice | None = None) -> np.ndarray:
        """The source position of every output pixel, per channel.

        Returns
        -------
        ndarray, shape (H, W, 3, 2)
            float32 (float64 with ``exact=True``): (column, row) in the
            captured frame of R, G and B for each output pixel, the layout of
            lensfunpy's ``apply_subpixel_geometry_distortion``.  ``rows``
            restricts the result to a slice of rows.
        """
        r0, r1, blocks = self._row_blocks(rows)
        out = np.empty((r1 - r0, self.width, 3, 2), dtype=np.float64 if exact else np.float32)
        xs = np.arange(self.width, dtype=np.float64)
        for a, b in blocks:
            ys = np.arange(a, b, dtype=np.float64)[:, None]
            out[a - r0:b - r0] = self.source_points(xs[None, :], ys)
        return out

    def gain_points(self, x, y) -> np.ndarray:
        """The vignetting factor at pixel positions ``(x, y)`` (float64; 1 without vignetting).

        Without ``reverse`` it multiplies the captured frame before
        resampling; with ``reverse`` it multiplies the simulated frame after
        resampling (the falloff, ``c ** strength``).
        """
        g = self.geometry
        xn, yn = geo.pixel_to_normalized(g, x, y)
        return geo.vignetting_gain(g, xn, yn, self._models.get("vignetting"), strength=self.vignetting_strength,
                                   reverse=self.reverse)

    def vignetting_gain(self, *, exact: bool = False, rows: slice | None = None) -> np.ndarray:
        """The vignetting factor of every pixel, (H, W) float32 (float64 with ``exact=True``).

        The effect of lensfunpy's ``apply_color_modification`` on a frame of
        ones (see :meth:`gain_points` for ``reverse``).
        """
        r0, r1, _ = self._row_blocks(rows)
        xs = np.arange(self.width, dtype=np.float64)[None, :]
        ys = np.arange(r0, r1, dtype=np.float64)[:, None]
        gain = self.gain_points(xs, ys)
        return gain if exact else gain.astype(np.float32)

    def shading_gain(self, channel: int, *, exact: bool = False, rows: slice | None = None) -> np.ndarray:
        """The colour-shading factor of one channel (0 R, 1 G, 2 B) at every pixel, (H, W); 1 without it.

        ``1 / s_c(u, v)`` multiplies the captured channel with vignetting's gain
        (with ``reverse``, ``s_c`` multiplies the simulated one); 0 where s_c is
        not positive.  (u, v) are normalised coordinates over the calibration
        sensor's half-diagonal.
        """
        r0, r1, _ = self._row_blocks(rows)
        if "colour_shading" not in self._models:
            return np.ones((r1 - r0, self.width), dtype=np.float64 if exact else np.float32)
        gain = self.shading_points(np.arange(self.width, dtype=np.float64)[None, :],
                                   np.arange(r0, r1, dtype=np.float64)[:, None], channel)
        return gain if exact else gain.astype(np.float32)

    def shading_points(self, x, y, channel: int) -> np.ndarray:
        """The colour-shading factor of one channel at pixel positions ``(x, y)`` (float64; 1 without it)."""
        return pixel_shading(x, y, g=self.geometry, terms=self._models.get("colour_shading"), channel=channel,
                             reverse=self.reverse)

    # -- the plan: maps and gains, computed once per settings ---------------------

    def cache_key(self) -> tuple:
        """What the maps and gains depend on: frame geometry, models with parameters, scale, direction, options.

        Correctors with equal keys share a :class:`~mountkit.strips.Plan` in the map cache.  The models
        are held by the key (not only their ids), so an entry never outlives them.
        """
        models = tuple(sorted(((k, t.model, tuple(sorted(t.params.items()))) for k, t in self._models.items()),
                              key=lambda e: e[0]))
        return ("plan", self.geometry, self.reverse, self.scale, self.vignetting_strength, models,
                self.interpolation, "grid" if self.fast_maps else "exact", MAP_TOLERANCE_PX, GAIN_TOLERANCE)

    def _map_function(self, channel: int):
        """``exact(x, y) -> (..., 2)``: :meth:`channel_points` stacked, holding no reference to the corrector."""
        return functools.partial(_stacked_map, g=self.geometry, channel=channel, reverse=self.reverse,
                                 tol=self._tolerance(), **self._map_kwargs())

    def _gain_function(self, channel: int):
        """``exact(x, y) -> (..., 1)``: vignetting gain times colour-shading factor of ``channel``."""
        return functools.partial(_column_gain, g=self.geometry, vignetting=self._models.get("vignetting"),
                                 strength=self.vignetting_strength, reverse=self.reverse,
                                 shading=self._models.get("colour_shading"), channel=channel)

    def _build_plan(self) -> strips.Plan:
        w, h = self.size
        run = strips.thread_map(self.threads)
        if self.fast_maps:
            def build(fn, comps, *, rel=None):
                if rel is None:  # a map: cells sampled beyond the frame's edges are filled, whatever their error
                    got = fastmaps.build_field(fn, w, h, comps, tol=MAP_TOLERANCE_PX, map_rows=run,
                                               irrelevant=lambda v: fastmaps.cells_beyond(
                                                   v, (-0.5, -0.5), (w - 0.5, h - 0.5)))
                else:
                    probe = fastmaps.evaluate_nodes(fn, fastmaps.NodeGrid(w, h, fastmaps.STEP_MAX), comps)
                    top = float(np.nanmax(np.abs(probe))) if np.isfinite(probe).any() else 1.0
                    got = fastmaps.build_field(fn, w, h, comps, tol=rel * max(top, 1e-12), map_rows=run)
                if got.poisoned_share > DENSE_SHARE and w * h <= DENSE_MAX_PIXELS:
                    return fastmaps.dense_field(fn, w, h, comps, map_rows=run)
                return got
        else:
            def build(fn, comps, *, rel=None):
                return fastmaps.dense_field(fn, w, h, comps, map_rows=run)
        maps = None
        if self.moves_pixels:
            chans = (0, 1, 2) if "tca" in self._models else (1,)
            maps = {c: build(self._map_function(c), 2) for c in chans}
        gains = None
        if "vignetting" in self._models or "colour_shading" in self._models:
            keys = (0, 1, 2) if "colour_shading" in self._models else (strips.ALL,)
            gains = {k: build(self._gain_function(1 if k == strips.ALL else k), 1, rel=GAIN_TOLERANCE)
                     for k in keys}
        plan = strips.Plan(w, h, "grid" if self.fast_maps else "exact", maps, gains, self.reverse,
                           self.interpolation)
        budget = DENSE_MAPS_MAX_BYTES if self.cache is None else min(DENSE_MAPS_MAX_BYTES, self.cache.max_bytes // 2)
        # with the compiled kernels, interpolating a frame's maps costs little: keeping them would spend
        # 8 bytes per pixel and channel (4.7 times a uint16 RGB frame) for about a sixth of a frame's time
        plan.keep = plan.dense_bytes() <= budget and not kernels.available()
        return plan

    def plan(self) -> strips.Plan:
        """The maps and gains of this corrector (from the cache, or computed and cached on first use)."""
        if self.cache is None:
            if self._own_plan is None:
                self._own_plan = self._build_plan()
            return self._own_plan
        return self.cache.get_or_build(self.cache_key(), self._build_plan)

    # -- frames -----------------------------------------------------------------

    def _check_frame(self, frame) -> np.ndarray:
        if not isinstance(frame, np.ndarray):
            raise FrameError(f"frame must be a numpy array, got {type(frame).__name__}")
        if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3)):
            raise FrameError(f"frame must be (height, width) or (height, width, 1 or 3 channels), "
                             f"got shape {frame.shape}")
        if frame.size == 0:
            raise FrameError(f"frame is empty (shape {frame.shape})")
        if frame.dtype == np.bool_ or frame.dtype.kind not in "uif":
            raise FrameError(f"frame must hold integers or floats, got dtype {frame.dtype}")
        h, w = frame.shape[:2]
        if (w, h) != (self.width, self.height):
            raise FrameError(f"frame is {w}x{h} but this corrector was made for {self.width}x{self.height}; "
                             "make a corrector with size=(width, height) of the frame")
        if frame.dtype.kind == "f" and not np.isfinite(frame).all():
            bad = int(np.size(frame) - np.count_nonzero(np.isfinite(frame)))
            raise FrameError(f"frame holds {bad} NaN or infinite value(s); replace them before correcting")
        return frame

    def apply(self, frame: np.ndarray, *, white_level: int | None = None, fill: float = 0.0,
              mask: bool = False, out: np.ndarray | None = None):
        """Correct (or, with ``reverse``, simulate) one frame.

        Parameters
        ----------
        frame : ndarray, (H, W), (H, W, 1) or (H, W, 3)
            Linear data (vignetting is a multiplication), unsigned/signed
            integers or floats; RGB channels in that order.  Mono frames are
            resampled with the green map (no TCA).
        white_level : int, optional
            For integer frames, the largest valid value (1023 for 10-bit data
            in uint16); results are clipped to it.  Default: the dtype's maximum.
        fill : float
            Value of output pixels whose source lies outside the frame.
        mask : bool
            Also return a (H, W) bool array, True where every channel was
            sampled inside the frame (False where ``fill`` was used).
        out : ndarray, optional
            Array of the frame's shape and dtype to write the result into
            (not the frame itself).

        Returns
        -------
        ndarray, or (ndarray, ndarray) with ``mask``
            Same shape and dtype as ``frame``; integer results are rounded
            and clipped to [dtype min or 0, white_level or dtype max].
        """
        frame = self._check_frame(frame)
        h, w = frame.shape[:2]
        integer = frame.dtype.kind in "ui"
        if white_level is not None:
            if not integer:
                raise FrameError("white_level applies to integer frames; float frames are not clipped")
            info = np.iinfo(frame.dtype)
            if isinstance(white_level, bool) or not isinstance(white_level, (int, np.integer)) \
                    or not 0 < white_level <= info.max:
                raise FrameError(f"white_level must be an integer in 1..{info.max} for {frame.dtype}, "
                                 f"got {white_level!r}")
        try:
            fill = float(fill)
        except (TypeError, ValueError):
            raise FrameError(f"fill must be a number, got {fill!r}") from None
        if out is None:
            out = np.empty_like(frame)
        else:
            if not isinstance(out, np.ndarray) or out.shape != frame.shape or out.dtype != frame.dtype:
                raise FrameError(f"out must be an array of shape {frame.shape} and dtype {frame.dtype}")
            if np.shares_memory(out, frame):
                raise FrameError("out must not share memory with the frame (inputs are never modified)")
        valid = np.ones((h, w), dtype=bool) if mask else None
        if not self._models and self.scale == 1.0:
            np.copyto(out, frame)
            return (out, valid) if mask else out
        planes = frame.reshape(h, w, -1)
        result = out.reshape(h, w, -1)
        if not np.shares_memory(result, out):  # a non-contiguous out: work in a buffer
            result = np.empty(planes.shape, dtype=out.dtype)
        limits = self._limits(frame.dtype, white_level) if integer else None
        grew = strips.apply_plan(planes, result, self.plan(), resampler=self.resampler,
                                 interpolation=self.interpolation, fill=fill, limits=limits, valid=valid,
                                 threads=self.threads)
        if grew and self.cache is not None:
            self.cache.refresh(self.cache_key())
        if not np.shares_memory(result, out):
            out[...] = result.reshape(out.shape)
        return (out, valid) if mask else out

    @staticmethod
    def _limits(dtype: np.dtype, white_level: int | None) -> tuple[float, float]:
        if dtype.kind not in "ui":
            return -np.inf, np.inf
        info = np.iinfo(dtype)
        return float(info.min), float(white_level if white_level is not None else info.max)
