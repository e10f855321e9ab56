"""Focus peaking: mark pixels of high local contrast on luminance.

The contrast of a pixel (:func:`focus_contrast`) is the gradient magnitude of
the luminance, in white-level units per pixel, after a light denoise:

1. luminance ``Y`` (:func:`mountkit.tools.levels.luminance`), scaled so
   black is 0 and white is 1 (NaN and infinite values taken as black);
   borders are extended by repetition;
2. a 3 x 3 binomial blur, ``[1, 2, 1] / 4`` along each axis (close to a
   Gaussian of sigma 0.7);
3. Sobel derivatives, ``[-1, 0, 1] / 2`` along one axis and
   ``[1, 2, 1] / 4`` along the other, so a ramp of slope 1 gives 1;
4. ``sqrt(gx**2 + gy**2)``.

A sharp step of height ``h`` gives ``3h/8`` on the two pixels beside it; a
step blurred by a Gaussian of sigma ``s`` at most about ``h / (2.5 s)``.

Threshold (:func:`peaking_threshold`), relative to the frame's own contrast:
``max((1 - sensitivity) * reference, noise_factor * noise, min_contrast)``,
where ``reference`` is the 99.9th percentile of the contrast (its strongest
edges), ``noise`` the standard deviation the sensor noise alone gives the
gradient components (from a robust estimate of the noise of ``Y``:
the median absolute response to the Laplacian-difference mask of Immerkaer,
"Fast noise variance estimation", CVIU 64(2), 1996), and ``min_contrast``
keeps flat, noiseless frames (and 8-bit banding) unmarked.  A pixel is
marked when its contrast is above the threshold.  With ``thin=True`` only
the pixels that are a maximum along their gradient direction stay marked
(non-maximum suppression, 4 directions), giving one-pixel-wide lines.

The noise is estimated on every third row and column of frames of 100 000
pixels or more.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FrameError
from .levels import LUMA_WEIGHTS, Pixels, as_pixels

DEFAULT_SENSITIVITY = 0.5
#: Percentile of the contrast taken as the frame's reference contrast.
REFERENCE_PERCENTILE = 99.9
#: The threshold stays this many noise standard deviations above the noise
#: (a false mark in pure noise has probability exp(-noise_factor**2 / 2)).
DEFAULT_NOISE_FACTOR = 5.0
DEFAULT_MIN_CONTRAST = 0.002
#: Norm of the gradient-component kernel: binomial 3x3, then Sobel (see the module doc):
#: along the derivative axis [-1, -2, 0, 2, 1] / 8, across it [1, 4, 6, 4, 1] / 16.
GRADIENT_NOISE_GAIN = math.sqrt(10.0) / 8.0 * math.sqrt(70.0) / 16.0
#: Subsampling step of the noise estimate on frames of at least NOISE_SUBSAMPLE_PIXELS pixels.
STATS_STEP = 3
NOISE_SUBSAMPLE_PIXELS = 100_000
_ROWS_PER_TASK = 128


@dataclass(frozen=True)
class Peaking:
    """Focus-peaking mask and the numbers behind it.

    Attributes
    ----------
    mask : ndarray of bool, (H, W)
    threshold : float
        Contrast threshold, white-level units per pixel.
    reference : float
        The frame's reference contrast (99.9th percentile).
    noise : float
        Estimated noise standard deviation of the luminance, white-level units.
    """

    mask: np.ndarray
    threshold: float
    reference: float
    noise: float

    @property
    def marked(self) -> int:
        return int(np.count_nonzero(self.mask))


def _workers(workers: int | None) -> int:
    if workers is None:
        return max(1, min(2, os.cpu_count() or 1))
    if workers < 1:
        raise FrameError(f"workers must be >= 1, got {workers}")
    return int(workers)


def _in_row_strips(func: Callable[[int, int], None], height: int, workers: int) -> None:
    """Call ``func(r0, r1)`` over row strips, on ``workers`` threads (numpy releases the GIL)."""
    strips = [(r, min(r + _ROWS_PER_TASK, height)) for r in range(0, height, _ROWS_PER_TASK)]
    if workers == 1 or len(strips) == 1:
        for r0, r1 in strips:
            func(r0, r1)
        return
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(func, r0, r1) for r0, r1 in strips]:
            f.result()


def _scaled_luminance(px: Pixels) -> np.ndarray:
    """Luminance with black at 0 and white at 1, float32, in a new array."""
    lo, span = px.black_level, px.white_level - px.black_level
    if px.data.ndim == 3:  # the scale folded into the weights saves a pass
        weights = np.asarray(LUMA_WEIGHTS, np.float64) / span
        y = px.data.astype(np.float32) @ weights.astype(np.float32)
    else:
        y = np.multiply(px.data, np.float32(1.0 / span), dtype=np.float32)
    if lo:
        y -= np.float32(lo / span)
    if px.data.dtype.kind == "f" and not np.isfinite(y).all():
        np.nan_to_num(y, copy=False, nan=0.0, posinf=0.0, neginf=0.0)  # documented: non-finite is black
    return y


#: The kernels below sum to 128 times the normalised derivative:
#: 1/16 binomial * 1/2 difference * 1/4 smoothing.
_GRADIENT_SCALE = 128.0


def _smooth3(a: np.ndarray, axis: int) -> np.ndarray:
    """``[1, 2, 1]`` along ``axis`` ('valid': two samples shorter)."""
    if axis == 1:
        out = a[:, 1:-1] * np.float32(2)
        out += a[:, :-2]
        out += a[:, 2:]
    else:
        out = a[1:-1] * np.float32(2)
        out += a[:-2]
        out += a[2:]
    return out


def _gradients(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient components, times :data:`_GRADIENT_SCALE`, of the centre of ``p`` (2-pixel margins)."""
    b = _smooth3(_smooth3(p, 1), 0)          # binomial 3x3: (H+2, W+2)
    gx = _smooth3(b[:, 2:] - b[:, :-2], 0)   # x difference, smoothed along y: (H, W)
    gy = _smooth3(b[2:] - b[:-2], 1)         # y difference, smoothed along x: (H, W)
    return gx, gy


def _contrast_squared(y: np.ndarray, workers: int, directions: bool
                      ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Squared contrast of scaled luminance ``y`` and, if asked, the gradient components."""
    h, w = y.shape
    p = np.pad(y, 2, mode="edge")
    m2 = np.empty((h, w), np.float32)
    grads = (np.empty((h, w), np.float32), np.empty((h, w), np.float32)) if directions else None

    def strip(r0: int, r1: int) -> None:
        gx, gy = _gradients(p[r0:r1 + 4])
        if grads is not None:
            grads[0][r0:r1] = gx
            grads[1][r0:r1] = gy
        out = m2[r0:r1]
        np.multiply(gx, gx, out=out)
        gy *= gy
        out += gy
        out *= np.float32(1.0 / _GRADIENT_SCALE**2)

    _in_row_strips(strip, h, workers)
    return m2, grads


_TAN_22_5 = np.float32(math.tan(math.radians(22.5)))


def _thin(mask: np.ndarray, m2: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Keep the marked pixels that are a maximum along their gradient direction (in place).

    The direction is quantised to x, y or a diagonal (22.5 degree sectors).
    A pixel stays when its contrast is above its neighbour before it and not
    below the one after it, so a two-pixel plateau keeps one pixel.  Only
    marked pixels are visited.
    """
    h, w = m2.shape
    q = np.pad(m2, 1, mode="constant").ravel()
    idx = np.flatnonzero(mask)
    r, c = np.divmod(idx, w)
    at = (r + 1) * (w + 2) + (c + 1)                 # index in the padded image
    ax, ay = np.abs(gx.ravel()[idx]), np.abs(gy.ravel()[idx])
    same_sign = (gx.ravel()[idx] > 0) == (gy.ravel()[idx] > 0)
    # flat offset of the neighbour "after" the pixel: diagonal down-right / down-left, then x, then y
    step = np.where(same_sign, w + 3, w + 1)
    step[ay <= _TAN_22_5 * ax] = 1
    step[ax <= _TAN_22_5 * ay] = w + 2
    centre = q[at]
    keep = (centre > q[at - step]) & (centre >= q[at + step])
    mask.ravel()[idx[~keep]] = False
    return mask


def noise_sigma(y: np.ndarray, step: int | None = None) -> float:
    """Robust noise standard deviation of an (H, W) image.

    The median absolute response to Immerkaer's mask
    ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]`` (which cancels planes and
    ramps, and has norm 6), over every ``step``-th row and column, divided by
    ``0.6745 * 6``: the median absolute value of a zero-mean Gaussian is
    0.6745 sigma.  ``step`` defaults to :data:`STATS_STEP` on frames of
    :data:`NOISE_SUBSAMPLE_PIXELS` or more, else 1.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(noise_sigma(rng.normal(0, 0.01, (600, 600)).astype(np.float32)), 3)
    0.01
    """
    h, w = y.shape
    if h < 3 or w < 3:
        return 0.0
    if step is None:
        step = STATS_STEP if h * w >= NOISE_SUBSAMPLE_PIXELS else 1
    # the mask is the outer product of [1, -2, 1] with itself: second differences
    # along x on the three rows around each sampled row, then along y
    rows = [y[i:h - 2 + i:step] for i in range(3)]
    dxx = [r[:, 0:w - 2:step] + r[:, 2:w:step] - 2 * r[:, 1:w - 1:step] for r in rows]
    acc = dxx[0] + dxx[2]
    acc -= 2 * dxx[1]
    np.abs(acc, out=acc)
    flat = acc.ravel()
    k = flat.size // 2
    return float(np.partition(flat, k)[k]) / (0.6745 * 6.0)


def peaking_threshold(m2: np.ndarray, noise: float, *, sensitivity: float = DEFAULT_SENSITIVITY,
                      noise_factor: float = DEFAULT_NOISE_FACTOR,
                      min_contrast: float = DEFAULT_MIN_CONTRAST) -> tuple[float, float]:
    """``(threshold, reference)`` for squared contrast ``m2`` (see the module documentation)."""
    sample = m2.ravel()
    k = min(sample.size - 1, int(math.ceil(sample.size * REFERENCE_PERCENTILE / 100.0)) - 1)
    reference = math.sqrt(float(np.partition(sample, k)[k]))
    threshold = max((1.0 - sensitivity) * reference, noise_factor * GRADIENT_NOISE_GAIN * noise, min_contrast)
    return threshold, reference


def focus_contrast(frame: Any, *, white_level: float | None = None, black_level: float | None = None,
                   workers: int | None = None) -> np.ndarray:
    """Local contrast of the luminance: gradient magnitude after a light denoise.

    Parameters
    ----------
    frame : ndarray or Frame
    white_level, black_level : float, optional
        See :func:`mountkit.tools.levels.as_pixels`.
    workers : int, optional
        Threads (default: up to 2).

    Returns
    -------
    ndarray of float32, (H, W)
        White-level units per pixel: a ramp from black to white over ``n``
        pixels gives ``1/n``.

    Examples
    --------
    >>> ramp = np.tile(np.arange(8, dtype=np.float32) / 8, (5, 1))
    >>> float(focus_contrast(ramp)[2, 4])
    0.125
    """
    px = as_pixels(frame, white_level=white_level, black_level=black_level)
    m2, _ = _contrast_squared(_scaled_luminance(px), _workers(workers), False)
    return np.sqrt(m2, out=m2)


def peaking(frame: Any, *, sensitivity: float = DEFAULT_SENSITIVITY, thin: bool = False,
            noise_factor: float = DEFAULT_NOISE_FACTOR, min_contrast: float = DEFAULT_MIN_CONTRAST,
            white_level: float | None = None, black_level: float | None = None,
            workers: int | None = None) -> Peaking:
    """Focus peaking: the pixels whose local contrast stands out in this frame.

    Parameters
    ----------
    frame : ndarray or Frame
    sensitivity : float
        In [0, 1): the threshold is ``1 - sensitivity`` times the frame's
        reference contrast (unless noise or ``min_contrast`` set a higher one).
        Higher marks more.
    thin : bool
        Keep only the maxima along the gradient (one-pixel lines).
    noise_factor : float
        Minimum distance of the threshold above the noise, in noise standard deviations.
    min_contrast : float
        Lowest threshold, white-level units per pixel.
    white_level, black_level : float, optional
        See :func:`mountkit.tools.levels.as_pixels`.
    workers : int, optional
        Threads (default: up to 2).

    Returns
    -------
    Peaking

    Examples
    --------
    >>> frame = np.zeros((16, 16), np.float32); frame[:, 8:] = 1.0
    >>> np.flatnonzero(peaking(frame).mask[8]).tolist()
    [7, 8]
    >>> np.flatnonzero(peaking(frame, thin=True).mask[8]).tolist()
    [7]
    """
    if not (0.0 <= sensitivity < 1.0):
        raise FrameError(f"peaking sensitivity must be in [0, 1), got {sensitivity}")
    if not (noise_factor >= 0 and min_contrast >= 0):
        raise FrameError(f"noise_factor and min_contrast must be >= 0, got {noise_factor}, {min_contrast}")
    px = as_pixels(frame, white_level=white_level, black_level=black_level)
    n = _workers(workers)
    y = _scaled_luminance(px)
    m2, grads = _contrast_squared(y, n, thin)
    noise = noise_sigma(y)
    threshold, reference = peaking_threshold(m2, noise, sensitivity=sensitivity, noise_factor=noise_factor,
                                             min_contrast=min_contrast)
    mask = m2 > np.float32(threshold) ** 2
    if thin:
        _thin(mask, m2, *grads)
    return Peaking(mask, threshold, reference, noise)
