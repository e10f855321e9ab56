"""Batch correction of files: plan the jobs, resolve each file's settings, run them in a pool.

Three stages, each usable on its own from Python:

1. :func:`plan` expands the inputs (files, folders, globs) into :class:`Job`
   objects (input path -> output path under OUTDIR) and checks that no
   output would replace an input.
2. :func:`resolve` reads each file's metadata and settles its settings
   (lens, camera, crop factor, focal length, aperture, distance,
   corrections), each with the reason it was chosen, in this order:
   command-line flags > sidecar ``[override]`` > the file's metadata and
   ``kit.identify`` > sidecar defaults > what the lens implies.  A setting
   that is needed and missing gives a :class:`MissingSetting` that names the
   file, what is missing, and the flag and sidecar key that supply it.
3. :func:`run` calls :func:`correct_file` for every job: in this process,
   in a process pool sized to the machine, or in any
   :class:`concurrent.futures.Executor` passed in.  :func:`correct_file` is a
   pure function of (input path, output path, :class:`FileSettings`): it
   reads, corrects, and writes the output atomically (temporary file +
   rename), and returns a :class:`FileResult` instead of raising.  An
   interrupt leaves no partial files.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copyreg
import glob
import multiprocessing
import os
import signal
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MountkitError, NotFoundError
from .hardware import Camera
from .profile import Lens


def _mapping_proxy(d: dict) -> types.MappingProxyType:
    return types.MappingProxyType(d)


# Lens profiles keep their parameters in read-only mappings; let them travel to worker processes.
copyreg.pickle(types.MappingProxyType, lambda m: (_mapping_proxy, (dict(m),)))

#: What each setting is called on the command line and in a sidecar.
FLAGS = {
    "lens": ("--lens NAME", "lens"),
    "camera": ("--camera NAME", "camera"),
    "crop_factor": ("--crop-factor N or --camera NAME", "crop_factor (or camera)"),
    "focal": ("--focal MM", "focal"),
    "aperture": ("--aperture F", "aperture"),
    "distance": ("--distance M", "distance"),
}
ALL_CORRECTIONS = ("distortion", "tca", "vignetting")
OUTPUT_FORMATS = ("auto", "tiff16", "float32")


class PlanError(MountkitError):
    """The batch as a whole cannot run (inputs missing, outputs would replace inputs)."""


class MissingSetting(MountkitError):
    """A setting a file needs is unknown; the message names the file, the flag and the sidecar key."""

    def __init__(self, file: Path, what: str, key: str, sidecar_dir: Path, detail: str = ""):
        self.file, self.what, self.key = file, what, key
        flag, side_key = FLAGS[key]
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{file}: no {what}{extra}; give {flag}, or set {side_key} = ... in "
                         f"{sidecar_dir / 'mountkit.toml'}")


# -- stage 1: planning ------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One file to correct: where it is read from and written to, and the folder it was found under."""

    input: Path
    output: Path
    root: Path | None = None
    error: str | None = None  # a planning error: the job is reported failed without running


def _readable_suffixes(kit) -> set[str]:
    return {s for f in kit.frame_formats().values() if f.read is not None and f.available() for s in f.suffixes}


def output_suffix(input_path: Path, output_format: str, raw_suffixes: Iterable[str]) -> str:
    """Suffix of the output file: ``.tif`` for raw input and for TIFF formats, else the input's suffix."""
    if output_format in ("tiff16", "float32") or input_path.suffix.lower() in set(raw_suffixes):
        return ".tif"
    return input_path.suffix


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def plan(inputs: Sequence[str | os.PathLike], outdir: str | os.PathLike, *, recursive: bool = False,
         output_format: str = "auto", suffix: str = "", kit=None) -> list[Job]:
    """Expand ``inputs`` into jobs writing under ``outdir``.

    Files are taken as given (an unsupported suffix becomes a failed job);
    folders contribute the files with a readable suffix (recursively with
    ``recursive``, never from inside ``outdir``); other arguments are glob
    patterns.  Outputs mirror the path below each folder argument.

    Raises
    ------
    PlanError
        when an argument matches nothing, or an output would replace an
        input (OUTDIR equal to an input folder with colliding names).
    """
    from .io.raw import RAW_SUFFIXES

    kit = _kit(kit)
    if output_format not in OUTPUT_FORMATS:
        raise PlanError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    outdir = Path(outdir)
    readable = _readable_suffixes(kit)
    found: list[tuple[Path, Path | None, str | None]] = []
    missing = []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            walker = p.rglob("*") if recursive else p.glob("*")
            skip_outdir = outdir.resolve() != p.resolve()  # earlier outputs below an input folder
            for f in sorted(walker):
                if (f.is_file() and f.suffix.lower() in readable and not f.name.startswith(".")
                        and not (skip_outdir and _is_within(f, outdir))):
                    found.append((f, p, None))
        elif p.is_file():
            err = None if p.suffix.lower() in readable else (
                f"{p}: {p.suffix or 'no suffix'} files cannot be read (supported: {', '.join(sorted(readable))})")
            found.append((p, None, err))
        else:
            matches = sorted(glob.glob(os.fspath(arg), recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file() and Path(m).suffix.lower() in readable]
            if not files:
                missing.append(os.fspath(arg))
            found.extend((f, None, None) for f in files)
    if missing:
        raise PlanError("nothing to correct at " + ", ".join(repr(m) for m in missing)
                        + " (no such file or folder, or no readable image matches)")
    seen_inputs: dict[Path, None] = {}
    jobs: list[Job] = []
    outputs: dict[Path, Path] = {}
    for f, root, err in found:
        key = f.resolve()
        if key in seen_inputs:
            continue
        seen_inputs[key] = None
        rel = f.parent.relative_to(root) if root is not None else Path()
        name = f.stem + suffix + output_suffix(f, output_format, RAW_SUFFIXES)
        out = outdir / rel / name
        okey = out.resolve()
        if err is None and okey in outputs:
            err = f"{f}: its output {out} would also be written for {outputs[okey]}; use --suffix or separate runs"
        elif err is None:
            outputs[okey] = f
        jobs.append(Job(input=f, output=out, root=root, error=err))
    clashes = [j for j in jobs if j.output.resolve() in seen_inputs]
    if clashes:
        j = clashes[0]
        raise PlanError(f"the output {j.output} would replace the input {j.output.resolve()} "
                        f"({len(clashes)} file(s) collide): OUTDIR is an input folder; choose another -o, "
                        "or add --suffix _corrected")
    return jobs


# -- stage 2: settings ------------------------------------------------------------------


@dataclass(frozen=True)
class FileSettings:
    """Everything :func:`correct_file` needs besides the two paths (picklable)."""

    lens: Lens
    camera: Camera | None = None
    crop_factor: float | None = None
    focal: float | None = None
    aperture: float | None = None
    distance: float | None = None
    corrections: tuple[str, ...] = ALL_CORRECTIONS
    linear: bool | None = None  # None: as the file format says
    scale: float | str = 1.0
    vignetting_strength: float = 1.0
    interpolation: str = "bicubic"
    output_format: str = "auto"
    jpeg_quality: int = 95
    raw_colour: str = "camera"
    demosaic: str = "AHD"
    overwrite: bool = False
    embedded: Any = None  # mountkit.dng.apply.EmbeddedPlan: the file's opcode lists and what of them is applied
    why: tuple[tuple[str, str], ...] = ()

    def reason(self, key: str) -> str:
        return dict(self.why).get(key, "")


@dataclass(frozen=True)
class Options:
    """Batch-wide choices: the command-line flags (None = not given) and output options."""

    lens: str | None = None
    camera: str | None = None
    crop_factor: float | None = None
    focal: float | None = None
    aperture: float | None = None
    distance: float | None = None
    corrections: tuple[str, ...] | None = None
    embedded: str | None = None  # DNG opcode lists: auto | embedded | profile | both | none (mountkit.dng.apply)
    linear: bool | None = None
    scale: float | str | None = None
    vignetting_strength: float | None = None
    interpolation: str = "bicubic"
    output_format: str = "auto"
    jpeg_quality: int = 95
    raw_colour: str = "camera"
    demosaic: str = "AHD"
    overwrite: bool = False


def _kit(kit):
    if kit is None:
        from .kit import Kit

        kit = Kit()
    return kit


def resolve(job: Job, options: Options, *, kit=None, metadata: Mapping[str, Any] | None = None,
            sidecars=None) -> FileSettings:
    """Settle the settings of one file (see the module docstring for the order).

    Raises
    ------
    MissingSetting
        naming what is missing, the file, and the flag and sidecar key that supply it.
    NotFoundError, MountkitError
        for a named lens or camera that does not exist, or a bad sidecar.
    """
    from .io.metadata import read_metadata
    from .io.sidecar import SidecarFinder

    kit = _kit(kit)
    sidecars = sidecars or SidecarFinder()
    md = dict(read_metadata(job.input) if metadata is None else metadata)
    defaults, override = sidecars.settings_for(job.input, job.root)
    folder = job.input.parent
    why: dict[str, str] = {}
    emb = _embedded_plan(job, options, md, override, defaults)
    if emb is not None and not emb.use_profile:
        from .dng.apply import embedded_settings

        return FileSettings(**embedded_settings(emb), corrections=options.corrections or ALL_CORRECTIONS,
                            linear=options.linear, interpolation=options.interpolation,
                            output_format=options.output_format, jpeg_quality=options.jpeg_quality,
                            raw_colour=options.raw_colour, demosaic=options.demosaic, overwrite=options.overwrite,
                            embedded=emb)

    def pick(key: str, from_metadata: tuple[Any, str] | None = None):
        """(value, reason) by precedence, or (None, "")."""
        flag = getattr(options, key, None)
        if flag is not None:
            return flag, f"{FLAGS.get(key, ('--' + key.replace('_', '-'),))[0].split()[0]} flag"
        if key in override:
            v, where = override[key]
            return v, f"sidecar {where}"
        if from_metadata is not None and from_metadata[0] is not None:
            return from_metadata
        if key in defaults:
            v, where = defaults[key]
            return v, f"sidecar {where}"
        return None, ""

    # camera and crop factor
    md_camera = None
    if md.get("Model"):
        with contextlib.suppress(NotFoundError):
            md_camera = kit.camera(md["Model"], maker=md.get("Make"))
    cam_value, cam_why = pick("camera", (md_camera, f"EXIF Make/Model {md.get('Make', '')} {md.get('Model', '')}"
                                         .strip()) if md_camera else None)
    camera = kit.camera(cam_value) if isinstance(cam_value, str) else cam_value
    if camera is not None:
        why["camera"] = cam_why
    crop, crop_why = pick("crop_factor")
    if crop is None and camera is not None:
        crop, crop_why = camera.crop_factor, f"from the camera {camera.name} ({cam_why})"
    if crop is None and md.get("FocalLengthIn35mmFilm") and md.get("FocalLength"):
        crop = md["FocalLengthIn35mmFilm"] / md["FocalLength"]
        crop_why = "EXIF FocalLengthIn35mmFilm / FocalLength"
    if crop is None:
        raise MissingSetting(job.input, "crop factor (the camera is unknown)", "crop_factor", folder)
    why["crop_factor"] = crop_why

    # lens
    lens, lens_why = _pick_lens(job, options, kit, md, override, defaults, camera, crop)
    why["lens"] = lens_why

    # focal length
    md_focal = md.get("FocalLength")
    focal_note = ""
    if md_focal is not None and lens.focal_min is not None and not (
            0.95 * lens.focal_min <= md_focal <= 1.05 * lens.focal_max):
        focal_note = f"EXIF FocalLength {md_focal:g} mm ignored: outside the lens's range"
        md_focal = None
    focal, focal_why = pick("focal", (md_focal, "EXIF FocalLength") if md_focal else None)
    if focal is None and lens.is_prime:
        focal, focal_why = lens.focal_min, "the lens is a prime"
    if focal is None and lens.profile is not None:
        focals = {c.focal for c in lens.profile.calibrations}
        if len(focals) == 1:
            focal, focal_why = focals.pop(), "the only calibrated focal length"
    if focal is None:
        raise MissingSetting(job.input, "focal length", "focal", folder,
                             f"{lens.name} is a zoom" + (f"; {focal_note}" if focal_note else ""))
    why["focal"] = focal_why + (f"; {focal_note}" if focal_note else "")

    corrections, corr_why = pick("corrections")
    corrections = tuple(corrections) if corrections else ALL_CORRECTIONS
    why["corrections"] = corr_why or "all by default"
    needs_vignetting = "vignetting" in corrections and lens.profile is not None and bool(lens.profile.vignetting)

    # aperture
    md_ap = md.get("FNumber")
    ap_note = ""
    if md_ap is not None and lens.aperture_max is not None and md_ap < 0.95 * lens.aperture_max:
        ap_note = f"EXIF FNumber f/{md_ap:g} ignored: wider than the lens opens (f/{lens.aperture_max:g})"
        md_ap = None
    aperture, ap_why = pick("aperture", (md_ap, "EXIF FNumber") if md_ap else None)
    if aperture is None and needs_vignetting:
        raise MissingSetting(job.input, "aperture (needed for vignetting)", "aperture", folder,
                             "or leave vignetting out with --corrections distortion,tca"
                             + (f"; {ap_note}" if ap_note else ""))
    if aperture is not None:
        why["aperture"] = ap_why + (f"; {ap_note}" if ap_note else "")

    # distance
    distance, dist_why = pick("distance", (md.get("FocusDistance"), "EXIF SubjectDistance")
                              if md.get("FocusDistance") else None)
    if distance is None and needs_vignetting:
        from .corrector import DEFAULT_DISTANCE

        distance, dist_why = DEFAULT_DISTANCE, "not given: assumed infinity (1000 m), as lensfun does"
    if distance is not None:
        why["distance"] = dist_why

    linear, lin_why = pick("linear")
    if linear is not None:
        why["linear"] = lin_why
    scale, _ = pick("scale")
    strength, _ = pick("vignetting_strength")
    return FileSettings(
        lens=lens, camera=camera, crop_factor=float(crop), focal=float(focal),
        aperture=None if aperture is None else float(aperture),
        distance=None if distance is None else float(distance), corrections=corrections, linear=linear,
        scale=1.0 if scale is None else scale, vignetting_strength=1.0 if strength is None else float(strength),
        interpolation=options.interpolation, output_format=options.output_format,
        jpeg_quality=options.jpeg_quality, raw_colour=options.raw_colour, demosaic=options.demosaic,
        overwrite=options.overwrite, embedded=emb, why=tuple(why.items()))


def _embedded_plan(job, options, md, override, defaults):
    """The file's DNG opcode lists and the --corrections policy's decision (None when irrelevant)."""
    from .dng.apply import plan_embedded

    policy = options.embedded or "auto"
    carries = job.input.suffix.lower() in (".dng", ".gpr") or any(md.get(f"OpcodeList{n}") for n in (1, 2, 3))
    if not carries and policy in ("auto", "profile"):
        return None
    explicit = bool(options.lens) or "lens" in override or "lens" in defaults
    return plan_embedded(job.input, policy, explicit_profile=explicit, kinds=options.corrections or ALL_CORRECTIONS)


def _pick_lens(job, options, kit, md, override, defaults, camera, crop) -> tuple[Lens, str]:
    def named(name: str, why: str) -> tuple[Lens, str]:
        lens = kit.lens(name, camera=camera, crop_factor=crop)
        return lens, f"{why}: {name!r} matched {lens.name!r}"

    if options.lens:
        return named(options.lens, "--lens flag")
    if "lens" in override:
        v, where = override["lens"]
        return named(v, f"sidecar {where}")
    identified = kit.identify(md)
    note = ""
    if identified is not None:
        tag = next((t for t in ("LensType", "LensModel", "Lens") if md.get(t) not in (None, "")), None)
        src = f"EXIF {tag} {md[tag]!r}" if tag else "the file's metadata"
        if identified.calibrated:
            return identified, f"identified from {src} ({identified.source or 'identifier'})"
        try:
            lens = kit.lens(identified.name, camera=camera, crop_factor=crop)
            if lens.calibrated:
                return lens, f"identified as {identified.name!r} from {src}; profile {lens.name!r}"
        except NotFoundError:
            pass
        note = f"identified as {identified.name!r} from {src}, which has no calibrated profile"
    elif md.get("LensModel"):
        name = md["LensModel"]
        full = f"{md['LensMake']} {name}" if md.get("LensMake") and md["LensMake"].lower() not in name.lower() \
            else name
        with contextlib.suppress(NotFoundError):
            lens = kit.lens(full, camera=camera, crop_factor=crop)
            if lens.calibrated:
                return lens, f"EXIF LensModel {name!r} matched {lens.name!r}"
        note = f"EXIF LensModel {name!r} matches no calibrated profile"
    if "lens" in defaults:
        v, where = defaults["lens"]
        lens, why = named(v, f"sidecar {where}")
        return lens, why + (f" ({note})" if note else "")
    raise MissingSetting(job.input, "lens", "lens", job.input.parent,
                         note or "the file's metadata names no lens")


# -- stage 3: running -------------------------------------------------------------------


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    input: Path
    output: Path
    status: str  # "ok" | "failed" | "skipped"
    message: str = ""
    seconds: float = 0.0
    record: dict | None = None
    notes: tuple[str, ...] = ()


#: Per-process state of :func:`correct_file`: the kit and recently used correctors.
#: Per-process state of the batch: the kit, the correctors of recent settings, and the threads each
#: corrector uses (None: every core; a pool of n workers gives each cores / n, see :func:`_init_worker`).
_WORKER: dict[str, Any] = {"kit": None, "correctors": OrderedDict(), "threads": None}
_CORRECTOR_CACHE_SIZE = 4


def _worker_kit():
    if _WORKER["kit"] is None:
        import warnings

        from .kit import Kit

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _WORKER["kit"] = Kit()
    return _WORKER["kit"]


def _corrector(kit, s: FileSettings, size: tuple[int, int], corrections: tuple[str, ...]):
    """A corrector for these settings, reused for frames of the same settings within a process."""
    key = (s.lens.maker, s.lens.model, s.lens.source, s.crop_factor, size, s.focal, s.aperture, s.distance,
           corrections, s.interpolation, s.scale, s.vignetting_strength)
    cache: OrderedDict = _WORKER["correctors"]
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    import warnings

    from .errors import CorrectionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorrectionWarning)
        cor = kit.corrector(s.lens, camera=s.camera, crop_factor=s.crop_factor, size=size, focal=s.focal,
                            aperture=s.aperture, distance=s.distance, corrections=corrections,
                            interpolation=s.interpolation, scale=s.scale,
                            vignetting_strength=s.vignetting_strength, threads=_WORKER["threads"])
    cor_notes = tuple(str(w.message) for w in caught)
    cache[key] = (cor, cor_notes)
    while len(cache) > _CORRECTOR_CACHE_SIZE:
        cache.popitem(last=False)
    return cache[key]


def _output_plan(src: Path, dest: Path, frame, s: FileSettings) -> tuple[np.dtype, bool]:
    """(sample type, sRGB-encode?) of the output."""
    from .io.raw import RAW_SUFFIXES

    if s.output_format == "float32":
        return np.dtype(np.float32), False
    if s.output_format == "tiff16" or src.suffix.lower() in RAW_SUFFIXES:
        return np.dtype(np.uint16), not frame.linear
    return frame.data.dtype, not frame.linear


def correct_file(src: str | os.PathLike, dest: str | os.PathLike, settings: FileSettings) -> FileResult:
    """Correct one file: read ``src``, apply the corrections, write ``dest`` atomically with metadata.

    Pure in its arguments (the kit and corrector cache are per-process
    conveniences); never raises for a problem with the file: the
    :class:`FileResult` says what went wrong.  ``KeyboardInterrupt`` is not
    caught: the partial output is removed and the interrupt goes on.
    """
    import mountkit

    from .io.atomic import atomic_output
    from .io.colour import from_unit_float, linear_to_srgb, srgb_to_linear, to_unit_float
    from .io.formats import format_for, read_frame
    from .io.metadata import write_metadata

    src, dest = Path(src), Path(dest)
    s = settings
    t0 = time.perf_counter()
    try:
        if dest.exists() and not s.overwrite:
            return FileResult(src, dest, "failed", f"{dest}: already exists; pass --overwrite to replace it",
                              time.perf_counter() - t0)
        kit = _worker_kit()
        frame = read_frame(src, kit, raw_mode="rgb", raw_colour=s.raw_colour, demosaic=s.demosaic,
                           **(s.embedded.read_options() if s.embedded is not None else {}))
        linear_in = frame.linear if s.linear is None else s.linear
        frame = replace(frame, linear=linear_in)
        data = frame.data
        h, w = data.shape[:2]
        channels = 1 if data.ndim == 2 else data.shape[2]
        if channels in (2, 4):
            colour, alpha = data[..., :-1], data[..., -1]
        else:
            colour, alpha = data, None
        x = to_unit_float(colour, frame.white_level, frame.black_level)
        if not linear_in:
            x = srgb_to_linear(np.clip(x, 0.0, 1.0))
        if s.embedded is not None:  # DNG opcode lists, alone or stacked with the profile (mountkit.dng.apply)
            cor, cor_notes = s.embedded.corrector_for(kit, (w, h), lambda: _corrector(kit, s, (w, h), s.corrections),
                                                      interpolation=s.interpolation)
            cor_notes = tuple(cor_notes) + s.embedded.notes
        else:
            cor, cor_notes = _corrector(kit, s, (w, h), s.corrections)
        y = cor.apply(x)
        if alpha is not None:
            geometric = tuple(c for c in s.corrections if c != "vignetting")
            a_cor, _ = _corrector(kit, s, (w, h), geometric or ("distortion",))
            a = to_unit_float(alpha, frame.white_level, frame.black_level)
            a = a_cor.apply(a) if geometric else a
        dtype, encode = _output_plan(src, dest, frame, s)
        if encode:
            y = linear_to_srgb(np.clip(y, 0.0, 1.0))
        out = from_unit_float(y, dtype)
        if alpha is not None:
            a_out = from_unit_float(a, dtype)
            out = np.concatenate([out.reshape(h, w, -1), a_out[..., None]], axis=2)
        full = 1.0 if dtype.kind == "f" else float(np.iinfo(dtype).max)
        out_frame = replace(frame, data=out, white_level=full, black_level=0.0, linear=not encode, metadata={})
        record = make_record(src, cor, s, frame, linear_out=not encode, dtype=dtype, version=mountkit.__version__)
        fmt = format_for(dest, kit, writing=True)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(dest, overwrite=s.overwrite) as tmp:
                fmt.write(tmp, out_frame, quality=s.jpeg_quality)
                notes = write_metadata(tmp, source=src, record=record,
                                       software=f"mountkit {mountkit.__version__}")
        except OSError as exc:
            return FileResult(src, dest, "failed", f"{src}: cannot write {dest}: {exc.strerror or exc}",
                              time.perf_counter() - t0)
        return FileResult(src, dest, "ok", "", time.perf_counter() - t0, record, tuple(cor_notes) + tuple(notes))
    except MountkitError as exc:
        return FileResult(src, dest, "failed", str(exc), time.perf_counter() - t0)
    except MemoryError:
        return FileResult(src, dest, "failed", f"{src}: out of memory; use fewer workers (-j 1)",
                          time.perf_counter() - t0)
    except Exception as exc:  # a library failing on this file must not stop the batch
        return FileResult(src, dest, "failed", f"{src}: {type(exc).__name__}: {exc}", time.perf_counter() - t0)


def make_record(src: Path, cor, s: FileSettings, frame, *, linear_out: bool, dtype: np.dtype,
                version: str) -> dict:
    """The record of what was applied, stored in the output's XMP (``mountkit:Record``)."""
    desc = cor.describe()
    prov = s.lens.profile.provenance if s.lens.profile is not None else None
    rec = {
        "mountkit_version": version,
        "input": src.name,
        "profile": s.lens.name,
        "profile_source": s.lens.source or (s.lens.profile.source if s.lens.profile else ""),
        "provenance": {k: v for k, v in (prov.__dict__.items() if prov else ()) if v},
        "why": dict(s.why),
        "camera": desc.get("camera"),
        "crop_factor": desc["crop_factor"],
        "corrections": list(cor.active),
        "requested": list(s.corrections),
        "parameters": {k: desc[k] for k in ("focal", "aperture", "distance", "scale", "interpolation",
                                             "vignetting_strength") if desc.get(k) is not None},
        "models": desc["corrections"],
        "input_linear": bool(frame.linear),
        "linear": linear_out,
        "output_dtype": str(dtype),
    }
    if s.embedded is not None:
        rec["embedded"] = s.embedded.describe()
    if frame.metadata.get("FileFormat") == "RAW":
        rec["raw"] = {"colour": s.raw_colour, "demosaic": s.demosaic,
                      "black_levels": frame.metadata.get("RawBlackLevels"),
                      "white_level": frame.metadata.get("RawWhiteLevel")}
    return rec


def frame_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) of an image or raw file without decoding its pixels, or None."""
    from .io.raw import RAW_SUFFIXES

    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in RAW_SUFFIXES:
            import rawpy

            with rawpy.imread(str(p)) as raw:
                return int(raw.sizes.width), int(raw.sizes.height)
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(p) as tif:
                page = tif.pages.first
                return int(page.imagewidth), int(page.imagelength)
        from PIL import Image

        with Image.open(p) as im:
            return im.size
    except Exception:
        return None


def default_workers() -> int:
    """Worker processes for this machine: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _init_worker(threads: int) -> None:
    """A pool worker: ignores SIGINT (the parent handles it), uses its share of the cores, and keeps
    freed frame buffers for the next frame (:func:`mountkit.memory.keep_freed_memory`).

    n workers on c cores give each :func:`worker_threads` threads, for the corrector's strips and for
    LibRaw's OpenMP demosaicing (``OMP_NUM_THREADS``, unless set already; read when rawpy loads, which
    happens after this).
    """
    from .memory import keep_freed_memory

    _ignore_sigint()
    _WORKER["threads"] = threads
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    keep_freed_memory()


def worker_threads(workers: int) -> int:
    """Threads per worker process when ``workers`` share this machine's cores: their share, but at least 2.

    With one thread each, a worker's core idles while it decodes, encodes or writes a file on one
    thread; two let the other worker's correction use it.  On the project machine (2 cores, 20 DNGs of
    4096 x 3072, ``bench/bench_batch.py``) 2 workers with 2 threads each took 23.2 s, with 1 thread
    each 27.1 s.
    """
    cores = default_workers()
    return max(1, min(cores, max(2, cores // max(1, workers))))


def _sweep(jobs: Iterable[Job]) -> int:
    from .io.atomic import partial_files

    n = 0
    for job in jobs:
        for p in partial_files(job.output):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n


@dataclass
class BatchReport:
    """The results of :func:`run`, in completion order."""

    results: list[FileResult] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when every file was corrected, 1 when any failed, 130 after an interrupt."""
        if self.interrupted:
            return 130
        return 1 if self.failed else 0


def run(work: Sequence[tuple[Job, FileSettings | None, str | None]], *, workers: int | None = None,
        executor: cf.Executor | None = None,
        on_result: Callable[[FileResult], None] | None = None,
        job_fn: Callable[[Path, Path, FileSettings], FileResult] = correct_file) -> BatchReport:
    """Run the jobs; ``work`` pairs each job with its settings, or with the error that stopped it.

    Parameters
    ----------
    work : sequence of (Job, FileSettings or None, error or None)
    workers : int, optional
        Processes to use (default :func:`default_workers`, never more than
        jobs); 1 runs in this process.  Worker processes are spawned, not
        forked (LibRaw uses OpenMP, which does not survive a fork), share
        the cores (:func:`_init_worker`), and ignore SIGINT: on Ctrl-C this
        process stops them and removes their partial outputs.
    executor : concurrent.futures.Executor, optional
        Any executor (a process pool, a Dask client's ``get_executor()``...)
        to submit ``job_fn(input, output, settings)`` to; the caller owns it.
    on_result : callable, optional
        Called with each :class:`FileResult` as it completes.
    """
    report = BatchReport()

    def done(r: FileResult) -> None:
        report.results.append(r)
        if on_result is not None:
            on_result(r)

    runnable = []
    for job, settings, error in work:
        if error is not None or settings is None:
            done(FileResult(job.input, job.output, "failed", error or job.error or "no settings"))
        else:
            runnable.append((job, settings))
    n = workers or default_workers()
    n = max(1, min(n, len(runnable) or 1))
    jobs = [j for j, _ in runnable]
    try:
        if executor is None and n == 1:
            for job, settings in runnable:
                done(job_fn(job.input, job.output, settings))
            return report
        own = executor is None
        pool = executor or cf.ProcessPoolExecutor(max_workers=n, initializer=_init_worker,
                                                  initargs=(worker_threads(n),),
                                                  mp_context=multiprocessing.get_context("spawn"))
        futures = {}
        try:
            futures = {pool.submit(job_fn, job.input, job.output, settings): job for job, settings in runnable}
            for fut in cf.as_completed(futures):
                job = futures[fut]
                try:
                    done(fut.result())
                except cf.process.BrokenProcessPool as exc:
                    done(FileResult(job.input, job.output, "failed",
                                    f"{job.input}: the worker process died ({exc}); out of memory?"))
                except Exception as exc:  # an executor's own failure
                    done(FileResult(job.input, job.output, "failed", f"{job.input}: {type(exc).__name__}: {exc}"))
        except BaseException:
            for f in futures:
                f.cancel()
            if own:
                procs = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for p in procs:
                    with contextlib.suppress(Exception):
                        p.terminate()
                for p in procs:
                    with contextlib.suppress(Exception):
                        p.join(5)
            raise
        else:
            if own:
                pool.shutdown(wait=True)
    except KeyboardInterrupt:
        report.interrupted = True
        _sweep(jobs)
    return report
