"""lensfun 0.3.4's lens search (``lf_db_find_lenses_hd``), over mountkit lenses.

The search builds a *pattern* from what a frame's metadata says (lens maker
and model name, and the camera's mount and crop factor) and scores every
candidate lens as ``_lf_lens_compare_score`` does (``libs/lensfun/lens.cpp``
at ``v0.3.4``); candidates scoring 0 are dropped:

* crop: a lens calibrated on a sensor more than 4 % smaller than the camera's
  is rejected; otherwise 2 to 10 points by the ratio of the crop factors;
* focal range and largest aperture parsed from the pattern name: when both
  sides know a value they must agree within 1 % (+10 each), else rejection;
* mount: the lens must fit the camera's mount (+10) or a mount compatible
  with it (+9);
* maker: must be equal to the lens maker or one of its translations (+10);
* model: lensfun's fuzzy word match (strict: every word of the pattern must
  occur in the lens name or one of its aliases) contributes
  ``max(1, 0.4 * 200 * words / (pattern words + lens words))``.

Integer arithmetic and float rounding follow lensfun, so scores are lensfun's.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mountkit.formats.lensfun_xml import guess_lens_parameters
from mountkit.profile import Lens

_F32 = struct.Struct("f")
# C-locale character classes, as lfFuzzyStrCmp::Split sees the bytes of a UTF-8 string.
_SPACE = frozenset(b" \t\n\v\f\r")
_DIGIT = frozenset(b"0123456789")
_PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _f32(x: float) -> float:
    return _F32.unpack(_F32.pack(x))[0]


def strcmp_key(text: str | None) -> str:
    """lensfun's ``_lf_strcmp`` equality key: case-folded, runs of white space as one space, trimmed."""
    return " ".join((text or "").split()).lower()


@functools.lru_cache(maxsize=16384)
def fuzzy_words(text: str) -> tuple[str, ...]:
    """The sorted words of ``text`` as ``lfFuzzyStrCmp::Split`` makes them.

    Words are runs of digits (with '.'), of punctuation, or of anything else
    up to white space, a digit or punctuation; a single punctuation character
    or a lone "f" is dropped, except "+" and "*"; words are case-folded.

    >>> fuzzy_words("Summicron-M 1:2/28 Asph.")
    ('1', '2', '28', 'asph', 'm', 'summicron')
    """
    data = text.encode("utf-8")
    n = len(data)
    i = 0
    words = []
    while i < n:
        while i < n and data[i] in _SPACE:
            i += 1
        if i >= n:
            break
        start = i
        c = data[i]
        i += 1
        if c in _DIGIT:
            while i < n and (data[i] in _DIGIT or data[i] == 0x2E):
                i += 1
        elif c in _PUNCT:
            while i < n and data[i] in _PUNCT:
                i += 1
        else:
            while i < n and data[i] not in _SPACE and data[i] not in _DIGIT and data[i] not in _PUNCT:
                i += 1
        if i - start == 1 and (c in _PUNCT or c in b"fF") and c not in b"*+":
            continue
        words.append(data[start:i].decode("utf-8", "replace").casefold())
    return tuple(sorted(words))


def fuzzy_score(pattern: str, candidate: str) -> int:
    """lensfun's strict fuzzy score of ``candidate`` against ``pattern`` (0 to 100).

    0 unless every word of the pattern occurs in the candidate (each word
    used once), else ``200 * words(pattern) // (words(pattern) + words(candidate))``.
    """
    pw, cw = fuzzy_words(pattern), fuzzy_words(candidate)
    if not pw or not cw:
        return 0
    pool = list(cw)
    for w in pw:
        try:
            pool.remove(w)
        except ValueError:
            return 0
    return (len(pw) * 200) // (len(pw) + len(cw))


@dataclass(frozen=True)
class LensPattern:
    """What a search knows about the lens it looks for (lensfun's pattern ``lfLens``).

    Numbers are 0 when unknown.  Build one with :func:`lens_pattern`.
    """

    model: str | None = None
    maker: str | None = None
    mounts: tuple[str, ...] = ()
    compatible_mounts: tuple[str, ...] = ()
    crop_factor: float = 0.0
    focal_min: float = 0.0
    focal_max: float = 0.0
    aperture_min: float = 0.0  # lensfun's MinAperture: the smallest f-number


def lens_pattern(model: str | None, maker: str | None = None, *, mount: str | None = None,
                 compatible_mounts: Iterable[str] = (), crop_factor: float | None = None) -> LensPattern:
    """The pattern lensfun builds in ``lfDatabase::FindLenses(camera, maker, model)``.

    Focal range and f-number come from the model name
    (:func:`mountkit.formats.lensfun_xml.guess_lens_parameters`); ``mount``
    and ``crop_factor`` are the camera's, ``compatible_mounts`` the mounts
    lensfun lists as compatible with the camera's mount.
    """
    model = model or None
    maker = maker or None
    fmin, fmax, amin, _ = guess_lens_parameters(model)
    mounts = (mount,) if mount else ()
    compat = tuple(m for m in dict.fromkeys(compatible_mounts)
                   if strcmp_key(m) not in {strcmp_key(x) for x in mounts})
    return LensPattern(model=model, maker=maker, mounts=mounts, compatible_mounts=compat,
                       crop_factor=float(crop_factor or 0.0), focal_min=fmin, focal_max=fmax, aperture_min=amin)


def _compare_num(a: float, b: float) -> int:
    if not a or not b:
        return 0
    r = _f32(_f32(a) / _f32(b))
    return -1 if (r <= 0.99 or r >= 1.01) else 1


def _crop_points(pattern_crop: float, lens_crop: float) -> int | None:
    """Points for the crop factors, or None when lensfun rejects the lens."""
    p, m = _f32(pattern_crop), _f32(lens_crop)
    if not m:  # a lens without calibration crop: neutral (lensfun has none such)
        return 0
    if p > 0.01 and p < m * 0.96:
        return None
    for ratio, points in ((1.41, 2), (1.31, 4), (1.21, 6), (1.11, 8), (1.01, 10), (1.0, 5), (0.96, 3)):
        if p >= m * ratio:
            return points
    return 0


def score_lens(pattern: LensPattern, lens: Lens,
               maker_names: Mapping[str, Iterable[tuple[str, str]]] | None = None) -> int:
    """lensfun's ``_lf_lens_compare_score`` of one lens against a pattern (0 = no match).

    ``maker_names`` gives the translated names of a maker
    (:attr:`mountkit.formats.lensfun_xml.LensfunDocument.maker_names`).
    """
    score = 0
    crop = lens.profile.crop_factor if lens.profile is not None else 0.0
    points = _crop_points(pattern.crop_factor, crop)
    if points is None:
        return 0
    score += points
    for a, b in ((pattern.focal_min, lens.focal_min), (pattern.focal_max, lens.focal_max),
                 (pattern.aperture_min, lens.aperture_max)):
        cmp = _compare_num(a, b or 0.0)
        if cmp < 0:
            return 0
        score += 10 if cmp > 0 else 0
    if lens.mounts and (pattern.mounts or pattern.compatible_mounts):
        own = {strcmp_key(m) for m in lens.mounts}
        if any(strcmp_key(m) in own for m in pattern.mounts):
            score += 10
        elif any(strcmp_key(m) in own for m in pattern.compatible_mounts):
            score += 9
        else:
            return 0
    if pattern.maker and lens.maker:
        names = {strcmp_key(lens.maker)}
        names.update(strcmp_key(t) for _, t in (maker_names or {}).get(lens.maker, ()))
        if strcmp_key(pattern.maker) not in names:
            return 0
        score += 10
    if pattern.model:
        fuzzy = max(fuzzy_score(pattern.model, name) for name in (lens.model, *lens.aliases))
        if not fuzzy:
            return 0
        score += max(1, (fuzzy * 4) // 10)
    return score


def _db_order(a: Lens, b: Lens) -> int:
    """lensfun's database order (``_lf_lens_compare``): maker, model, then crop factor in 0.01 steps."""
    for x, y in ((strcmp_key(a.maker), strcmp_key(b.maker)), (strcmp_key(a.model), strcmp_key(b.model))):
        if x != y:
            return -1 if x < y else 1
    ca = _f32(a.profile.crop_factor) if a.profile is not None else 0.0
    cb = _f32(b.profile.crop_factor) if b.profile is not None else 0.0
    return int(_f32(_f32(ca - cb) * 100.0))


def _insert_by_score(ranked: list[tuple[int, Lens]], item: tuple[int, Lens]) -> None:
    """``_lf_ptr_array_insert_sorted`` with ``_lf_compare_lens_score``: binary insertion, best score first.

    Among equal scores the position depends on where the binary search lands;
    this is the order lensfun returns, so it is reproduced step by step.
    """
    lo, hi, mid = 0, len(ranked) - 1, 0
    while lo <= hi:
        mid = (lo + hi) // 2
        cmp = item[0] - ranked[mid][0]
        if cmp == 0:
            mid += 1
            break
        if cmp < 0:
            lo = mid + 1
        else:
            hi = mid - 1
    else:
        if hi == mid:
            mid += 1
    ranked.insert(mid, item)


def find_lenses(pattern: LensPattern, lenses: Iterable[Lens],
                maker_names: Mapping[str, Iterable[tuple[str, str]]] | None = None) -> list[tuple[int, Lens]]:
    """Every lens matching ``pattern`` with its score, best first, in the order lensfun returns them.

    Candidates are visited in lensfun's database order (maker, model, crop
    factor) and inserted by score as ``lfDatabase::FindLenses`` does, so
    that among equal scores the first lens is the one lensfun picks.
    """
    matched = [(s, lens) for lens in lenses if (s := score_lens(pattern, lens, maker_names)) > 0]
    matched.sort(key=functools.cmp_to_key(lambda x, y: _db_order(x[1], y[1])))
    ranked: list[tuple[int, Lens]] = []
    for item in matched:
        _insert_by_score(ranked, item)
    return ranked
