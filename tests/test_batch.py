"""The batch: planning, settings resolution, the per-file job, per-file errors, the CLI end to end."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mountkit
from mountkit import Calibration, Lens, LensProfile, Provenance
from mountkit.batch import (
    FileSettings,
    MissingSetting,
    Options,
    PlanError,
    correct_file,
    plan,
    resolve,
    run,
)
from mountkit.io import Frame
from mountkit.io.atomic import PART_SUFFIX
from mountkit.io.colour import from_unit_float, linear_to_srgb, srgb_to_linear
from mountkit.io.dng_writer import write_dng
from mountkit.io.images import read_image, write_jpeg, write_png
from mountkit.io.metadata import read_metadata, read_record
from mountkit.io.sidecar import SidecarError, SidecarFinder, read_sidecar
from mountkit.io.tiff import read_tiff, write_tiff
from mountkit.io.tiffifd import LONG, Entry, pack_ifd

LENS_NAME = "Mountkit Test 35mm f/1.4"
RNG = np.random.default_rng(11)


def make_test_lens() -> Lens:
    return Lens("Mountkit", "Test 35mm f/1.4", mounts=("Leica M",), focal_min=35, aperture_max=1.4,
                profile=LensProfile(crop_factor=1.0, calibrations=(
                    Calibration("distortion", "ptlens", 35, {"a": 0.01, "b": -0.03, "c": 0.02}),
                    Calibration("vignetting", "pa", 35, {"k1": -0.5, "k2": 0.1, "k3": -0.05}, aperture=2.0,
                                distance=1000),
                    Calibration("vignetting", "pa", 35, {"k1": -0.3, "k2": 0.05, "k3": -0.02}, aperture=4.0,
                                distance=1000)),
                    provenance=Provenance(source="made up for mountkit's tests")))


@pytest.fixture
def kit(tmp_path_factory, monkeypatch):
    """A kit that finds the test lens through MOUNTKIT_PROFILE_PATH (as worker processes will)."""
    from mountkit.formats.toml_profile import dumps

    d = tmp_path_factory.mktemp("profiles")
    (d / "test-lens.toml").write_text(dumps(make_test_lens()))
    monkeypatch.setenv("MOUNTKIT_PROFILE_PATH", str(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mountkit.Kit()


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def leica_m9_note(stored: int) -> bytes:
    sub = [Entry(0x3405, LONG, stored)]
    return b"LEICA0\x03\0" + pack_ifd([Entry(0x3400, LONG, sub)], byteorder="<", start=8)


# -- planning ------------------------------------------------------------------------


def test_plan_mirrors_folders_and_changes_raw_suffix(tmp_path, kit):
    src = tmp_path / "shoot"
    (src / "day2").mkdir(parents=True)
    for name in ("a.jpg", "b.dng", "day2/c.tif", "notes.txt", ".hidden.jpg"):
        (src / name).write_bytes(b"x")
    out = tmp_path / "out"
    flat = {(j.input.relative_to(src).as_posix(), j.output.relative_to(out).as_posix())
            for j in plan([src], out, kit=kit)}
    assert flat == {("a.jpg", "a.jpg"), ("b.dng", "b.tif")}
    deep = {(j.input.relative_to(src).as_posix(), j.output.relative_to(out).as_posix())
            for j in plan([src], out, recursive=True, kit=kit)}
    assert deep == {("a.jpg", "a.jpg"), ("b.dng", "b.tif"), ("day2/c.tif", "day2/c.tif")}
    fmt = {j.output.name for j in plan([src], out, recursive=True, output_format="float32", suffix="_lc", kit=kit)}
    assert fmt == {"a_lc.tif", "b_lc.tif", "c_lc.tif"}
    globbed = plan([str(src / "**" / "*.tif")], out, kit=kit)
    assert [j.output.name for j in globbed] == ["c.tif"]


def test_plan_refuses_outputs_that_replace_inputs(tmp_path, kit):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.dng").write_bytes(b"x")
    with pytest.raises(PlanError, match="would replace the input"):
        plan([tmp_path], tmp_path, kit=kit)
    # names cannot collide: allowed in the input folder
    jobs = plan([tmp_path / "b.dng"], tmp_path, kit=kit)
    assert jobs[0].output == tmp_path / "b.tif"
    jobs = plan([tmp_path], tmp_path, suffix="_lc", kit=kit)
    assert {j.output.name for j in jobs} == {"a_lc.jpg", "b_lc.tif"}
    # b.dng -> b.tif would replace the input b.tif
    (tmp_path / "b.tif").write_bytes(b"x")
    with pytest.raises(PlanError, match="b.tif"):
        plan([tmp_path / "b.dng", tmp_path / "b.tif"], tmp_path, kit=kit)


def test_plan_skips_outdir_inside_inputs_and_reports_odd_inputs(tmp_path, kit):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.jpg").write_bytes(b"old output")
    (tmp_path / "x.tif").write_bytes(b"x")
    (tmp_path / "x.dng").write_bytes(b"x")
    (tmp_path / "readme.md").write_text("hi")
    jobs = plan([tmp_path, tmp_path / "readme.md"], tmp_path / "out", recursive=True, kit=kit)
    by_name = {j.input.name: j for j in jobs}
    assert set(by_name) == {"a.jpg", "x.tif", "x.dng", "readme.md"}
    assert ".md files cannot be read" in by_name["readme.md"].error
    assert [j.error for j in (by_name["x.tif"], by_name["x.dng"])].count(None) == 1  # both -> out/x.tif
    with pytest.raises(PlanError, match="nothing to correct"):
        plan([tmp_path / "missing", str(tmp_path / "*.png")], tmp_path / "out", kit=kit)


# -- sidecars and settings ---------------------------------------------------------------


def test_sidecar_validation_names_file_and_key(tmp_path):
    p = tmp_path / "mountkit.toml"
    p.write_text('lens = "X"\napertur = 2\n')
    with pytest.raises(SidecarError, match=r"mountkit.toml: unknown key 'apertur'; did you mean 'aperture'"):
        read_sidecar(p)
    p.write_text('aperture = -2\n')
    with pytest.raises(SidecarError, match="aperture = -2: expected an f-number"):
        read_sidecar(p)
    p.write_text('aperture = 2\n[files."L1*.DNG"]\naperture = 4\n[override]\nfocal = 35\n')
    side = read_sidecar(p)
    assert side.for_file("L1001.DNG") == ({"aperture": 4.0}, {"focal": 35.0})
    assert side.for_file("other.dng") == ({"aperture": 2.0}, {"focal": 35.0})


def test_sidecars_chain_from_the_input_root_down(tmp_path):
    (tmp_path / "roll" / "sub").mkdir(parents=True)
    (tmp_path / "mountkit.toml").write_text("aperture = 2\ndistance = 3\n")
    (tmp_path / "roll" / "sub" / "mountkit.toml").write_text("aperture = 5.6\n")
    defaults, _ = SidecarFinder().settings_for(tmp_path / "roll" / "sub" / "a.dng", tmp_path)
    assert defaults["aperture"][0] == 5.6 and defaults["distance"][0] == 3.0


def _leica_dng(path, *, lens_code=None, fnumber=None, focal=None, model="M9 Digital Camera"):
    exif = {}
    if lens_code is not None:
        exif["MakerNote"] = leica_m9_note(lens_code << 2)
    if fnumber is not None:
        exif["FNumber"] = fnumber
    if focal is not None:
        exif["FocalLength"] = focal
    write_dng(path, RNG.integers(64, 1024, (64, 96)).astype(np.uint16), black_level=64, white_level=1023,
              make="Leica Camera AG", model=model, exif=exif)


def test_resolution_order_flags_override_metadata_defaults(tmp_path, kit):
    src = tmp_path / "a.dng"
    write_dng(src, np.full((64, 96), 500, np.uint16), black_level=64, white_level=1023,
              exif={"FNumber": 2.8, "FocalLength": 35.0, "SubjectDistance": 3.0})
    (tmp_path / "mountkit.toml").write_text(
        f'lens = "{LENS_NAME}"\ncrop_factor = 2.64\naperture = 8\ndistance = 10\n')
    job = plan([src], tmp_path / "out", kit=kit)[0]
    s = resolve(job, Options(), kit=kit)
    assert s.lens.name == LENS_NAME and s.crop_factor == 2.64
    assert (s.aperture, s.distance, s.focal) == (2.8, 3.0, 35.0)  # metadata beats sidecar defaults
    assert s.reason("aperture") == "EXIF FNumber" and "mountkit.toml (lens)" in s.reason("lens")
    (tmp_path / "mountkit.toml").write_text(
        f'lens = "{LENS_NAME}"\ncrop_factor = 2.64\n[override]\naperture = 4\n')
    s = resolve(job, Options(), kit=kit, sidecars=SidecarFinder())
    assert s.aperture == 4.0 and "[override] aperture" in s.reason("aperture")
    s = resolve(job, Options(aperture=5.6, crop_factor=1.5), kit=kit, sidecars=SidecarFinder())
    assert (s.aperture, s.crop_factor) == (5.6, 1.5) and s.reason("aperture") == "--aperture flag"


def test_missing_settings_name_file_flag_and_sidecar_key(tmp_path, kit):
    src = tmp_path / "manual.dng"
    write_dng(src, np.full((64, 96), 500, np.uint16), exif={"FocalLength": 8.7, "FNumber": 1.0})
    job = plan([src], tmp_path / "out", kit=kit)[0]
    with pytest.raises(MissingSetting) as e:
        resolve(job, Options(), kit=kit)
    msg = str(e.value)
    assert str(src) in msg and "no crop factor" in msg and "--crop-factor" in msg and "crop_factor" in msg
    with pytest.raises(MissingSetting) as e:
        resolve(job, Options(crop_factor=2.64), kit=kit)
    msg = str(e.value)
    assert "no lens" in msg and "--lens NAME" in msg and f"lens = ... in {tmp_path / 'mountkit.toml'}" in msg
    # the phone's own f/1.0 is wider than the M lens opens: ignored, so the aperture is missing
    with pytest.raises(MissingSetting) as e:
        resolve(job, Options(crop_factor=2.64, lens=LENS_NAME), kit=kit)
    msg = str(e.value)
    assert "no aperture (needed for vignetting)" in msg and "--aperture F" in msg and "FNumber f/1 ignored" in msg
    s = resolve(job, Options(crop_factor=2.64, lens=LENS_NAME, corrections=("distortion",)), kit=kit)
    assert s.aperture is None and s.focal == 35.0 and "8.7 mm ignored" in s.reason("focal")


def test_leica_lens_code_identifies_the_shipped_profile(tmp_path, kit):
    pytest.importorskip("mountkit_leica_m")
    src = tmp_path / "l.dng"
    _leica_dng(src, lens_code=30, fnumber=2.0)  # Summicron-M 35mm f/2 ASPH.
    job = plan([src], tmp_path / "out", kit=kit)[0]
    s = resolve(job, Options(crop_factor=2.64), kit=kit)
    assert "Summicron" in s.lens.name and "35" in s.lens.name and s.lens.calibrated
    assert "EXIF LensType 120" in s.reason("lens")
    assert s.camera is not None and "M9" in s.camera.name  # the body, from EXIF Make/Model
    assert s.aperture == 2.0


# -- the per-file job ---------------------------------------------------------------------


def _settings(kit, **kw) -> FileSettings:
    lens = kit.lens(LENS_NAME)
    base = dict(lens=lens, crop_factor=2.64, focal=35.0, aperture=2.0, distance=1000.0)
    base.update(kw)
    return FileSettings(**base)


def _gain(kit, size, **kw):
    s = _settings(kit, **kw)
    cor = kit.corrector(s.lens, crop_factor=s.crop_factor, size=size, focal=s.focal, aperture=s.aperture,
                        distance=s.distance, corrections=("vignetting",))
    return cor.vignetting_gain(exact=True)


def test_vignetting_in_linear_light_for_srgb_png(tmp_path, kit):
    size = (96, 64)
    src = tmp_path / "flat.png"
    write_png(src, Frame(data=np.full((64, 96, 3), 128, np.uint8)))
    gain = _gain(kit, size)
    expected_lin = srgb_to_linear(np.float32(128 / 255)) * gain
    expected = from_unit_float(linear_to_srgb(np.clip(expected_lin, 0, 1)), np.uint8)
    r = correct_file(src, tmp_path / "out.png", _settings(kit, corrections=("vignetting",)))
    assert r.status == "ok", r.message
    got = read_image(tmp_path / "out.png").data
    assert np.abs(got[..., 1].astype(int) - expected).max() <= 1
    # gamma-space correction would differ clearly in the corners
    naive = np.clip(np.rint(128 * gain), 0, 255)
    assert np.abs(naive - expected).max() > 5
    # --linear: the same samples are taken as linear light
    r = correct_file(src, tmp_path / "lin.png", _settings(kit, corrections=("vignetting",), linear=True))
    got = read_image(tmp_path / "lin.png").data
    assert np.abs(got[..., 0].astype(int) - np.clip(np.rint(128 * gain), 0, 255)).max() <= 1
    rec = read_record(tmp_path / "lin.png")
    assert rec["input_linear"] is True and rec["linear"] is True  # taken as linear, kept linear
    assert read_record(tmp_path / "out.png")["linear"] is False  # sRGB in, sRGB out


def test_dng_to_16bit_tiff_in_sensor_scale(tmp_path, kit):
    src = tmp_path / "flat.dng"
    write_dng(src, np.full((64, 96), 500, np.uint16), black_level=64, white_level=1023,
              exif={"FocalLength": 35.0, "FNumber": 2.0, "LensModel": "Summilux-M"})
    gain = _gain(kit, (96, 64))
    r = correct_file(src, tmp_path / "flat.tif", _settings(kit, corrections=("vignetting",)))
    assert r.status == "ok", r.message
    out = read_tiff(tmp_path / "flat.tif")
    assert out.data.dtype == np.uint16 and out.data.shape == (64, 96, 3)
    expected = np.clip(np.rint((500 - 64) / 959 * gain * 65535), 0, 65535)
    assert np.abs(out.data[..., 1].astype(float) - expected).max() <= 1
    assert out.linear  # the record says so
    rec = read_record(tmp_path / "flat.tif")
    assert rec["raw"]["white_level"] == 1023 and rec["raw"]["black_levels"] == [64.0] * 4
    assert rec["output_dtype"] == "uint16" and rec["corrections"] == ["vignetting"]
    assert read_metadata(tmp_path / "flat.tif")["LensModel"] == "Summilux-M"  # EXIF copied
    # float32 on request: linear, unscaled
    r = correct_file(src, tmp_path / "f.tif", _settings(kit, corrections=("vignetting",), output_format="float32"))
    f = read_tiff(tmp_path / "f.tif").data
    assert f.dtype == np.float32
    np.testing.assert_allclose(f[..., 0], (500 - 64) / 959 * gain, rtol=1e-5)


def test_existing_output_is_kept_unless_overwrite(tmp_path, kit):
    src = tmp_path / "a.jpg"
    write_jpeg(src, Frame(data=RNG.integers(0, 255, (64, 96, 3)).astype(np.uint8)))
    dest = tmp_path / "out.jpg"
    dest.write_bytes(b"precious")
    r = correct_file(src, dest, _settings(kit))
    assert r.status == "failed" and "--overwrite" in r.message and dest.read_bytes() == b"precious"
    r = correct_file(src, dest, _settings(kit, overwrite=True))
    assert r.status == "ok" and read_image(dest).data.shape == (64, 96, 3)


@contextlib.contextmanager
def read_only_dir(path: Path):
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # root ignores permission bits: make the folder immutable instead
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a read-only folder as root here (chattr +i failed)")
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    else:
        path.chmod(0o500)
        try:
            yield path
        finally:
            path.chmod(0o700)


def test_bad_files_fail_alone_and_the_batch_goes_on(tmp_path, kit):
    src = tmp_path / "in"
    src.mkdir()
    write_jpeg(src / "good.jpg", Frame(data=RNG.integers(0, 255, (64, 96, 3)).astype(np.uint8)))
    write_dng(tmp_path / "full.dng", RNG.integers(64, 1024, (256, 256)).astype(np.uint16), black_level=64,
              white_level=1023)
    (src / "truncated.dng").write_bytes((tmp_path / "full.dng").read_bytes()[:2000])
    (src / "empty.jpg").write_bytes(b"")
    (src / "text.tif").write_text("this is not a TIFF\n" * 20)
    (src / "sub").mkdir()
    write_tiff(src / "sub" / "blocked.tif", Frame(data=RNG.integers(0, 65535, (64, 96)).astype(np.uint16)))
    (src / "mountkit.toml").write_text(f'lens = "{LENS_NAME}"\ncrop_factor = 2.64\naperture = 2.0\n')
    out = tmp_path / "out"
    jobs = plan([src], out, recursive=True, kit=kit)
    sidecars = SidecarFinder()
    work = []
    for job in jobs:
        try:
            work.append((job, resolve(job, Options(), kit=kit, sidecars=sidecars), None))
        except mountkit.MountkitError as exc:
            work.append((job, None, str(exc)))
    with read_only_dir(out / "sub"):
        report = run(work, workers=1)
    status = {r.input.name: r for r in report.results}
    assert status["good.jpg"].status == "ok"
    for name in ("truncated.dng", "empty.jpg", "text.tif", "blocked.tif"):
        assert status[name].status == "failed", name
        assert name in status[name].message
    assert "cannot write" in status["blocked.tif"].message
    assert report.exit_code == 1
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["good.jpg"]


def test_run_accepts_any_executor(tmp_path, kit):
    files = []
    for i in range(3):
        p = tmp_path / f"f{i}.png"
        write_png(p, Frame(data=RNG.integers(0, 255, (64, 96, 3)).astype(np.uint8)))
        files.append(p)
    jobs = plan(files, tmp_path / "out", kit=kit)
    s = _settings(kit)
    seen = []
    with cf.ThreadPoolExecutor(2) as ex:
        report = run([(j, s, None) for j in jobs], executor=ex, on_result=seen.append)
    assert report.exit_code == 0 and len(seen) == 3
    assert all(read_record(r.output)["profile"] == LENS_NAME for r in report.results)


# -- the command line, end to end -------------------------------------------------------------


def _cli(args, env=None):
    return subprocess.run([sys.executable, "-m", "mountkit", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_batch_of_mixed_files(tmp_path, kit):
    src = tmp_path / "roll"
    src.mkdir()
    _leica_dng(src / "leica.dng", lens_code=29, fnumber=2.0, focal=35.0)
    write_dng(src / "phone.dng", RNG.integers(64, 1024, (64, 96)).astype(np.uint16), black_level=64,
              white_level=1023, make="Xiaomi", model="Phone", exif={"FocalLength": 8.7, "FNumber": 1.63})
    write_tiff(src / "scan16.tif", Frame(data=RNG.integers(0, 65535, (70, 90, 3)).astype(np.uint16)))
    write_jpeg(src / "print.jpg", Frame(data=RNG.integers(0, 255, (50, 80, 3)).astype(np.uint8)))
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (src / "mountkit.toml").write_text(f'lens = "{LENS_NAME}"\ncrop_factor = 2.64\n[override]\naperture = 2.0\n')
    before = {p.name: sha(p) for p in src.iterdir()}
    out = tmp_path / "out"
    env = dict(os.environ)

    dry = _cli(["correct", src, "-o", out, "--dry-run"], env)
    assert dry.returncode == 1, dry.stderr  # broken.jpg cannot be corrected
    assert f"profile: {LENS_NAME}" in dry.stdout and "[override] aperture" in dry.stdout
    assert "distortion: ptlens" in dry.stdout and "broken.jpg" in dry.stdout
    assert not out.exists()

    res = _cli(["correct", src, "-o", out, "-j", "2"], env)
    assert res.returncode == 1, res.stderr  # one file failed
    assert "4 corrected, 1 failed" in res.stdout
    assert "failed" in res.stderr and "broken.jpg" in res.stderr
    expect = {"leica.tif": ((64, 96, 3), np.uint16), "phone.tif": ((64, 96, 3), np.uint16),
              "scan16.tif": ((70, 90, 3), np.uint16), "print.jpg": ((50, 80, 3), np.uint8)}
    assert sorted(p.name for p in out.iterdir()) == sorted(expect)
    for name, (shape, dtype) in expect.items():
        p = out / name
        frame = read_tiff(p) if name.endswith(".tif") else read_image(p)
        assert frame.data.shape == shape and frame.data.dtype == dtype
        rec = read_record(p)
        assert rec["profile"] == LENS_NAME and rec["mountkit_version"] == mountkit.__version__
        assert rec["parameters"]["aperture"] == 2.0 and rec["corrections"] == ["vignetting", "distortion"]
        assert rec["profile_source"].endswith("test-lens.toml")
    assert read_metadata(out / "phone.tif")["Model"] == "Phone"
    assert {p.name: sha(p) for p in src.iterdir()} == before  # inputs untouched

    again = _cli(["correct", src, "-o", out, "--corrections", "distortion"], env)
    assert again.returncode == 1 and "already exists; pass --overwrite" in again.stderr
    assert {p.name: sha(p) for p in src.iterdir()} == before


def test_cli_refuses_outdir_that_would_replace_inputs(tmp_path, kit):
    write_jpeg(tmp_path / "a.jpg", Frame(data=np.zeros((32, 32, 3), np.uint8)))
    res = _cli(["correct", tmp_path, "-o", tmp_path, "--lens", LENS_NAME, "--crop-factor", "2"], dict(os.environ))
    assert res.returncode == 2 and "would replace the input" in res.stderr


def test_ctrl_c_leaves_no_partial_files(tmp_path, kit):
    src = tmp_path / "in"
    src.mkdir()
    frame = Frame(data=RNG.integers(0, 65535, (900, 1200, 3)).astype(np.uint16))
    for i in range(16):
        write_tiff(src / f"f{i:02d}.tif", frame)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mountkit", "correct", str(src), "-o", str(out),
                             "--lens", LENS_NAME, "--crop-factor", "2.64", "--aperture", "2", "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    for line in proc.stderr:  # wait for the first finished file, then interrupt
        if line.startswith("ok "):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not [p for p in out.rglob("*") if p.name.endswith(PART_SUFFIX)]
    done = list(out.glob("*.tif"))
    assert 1 <= len(done) < 16
    for p in done:  # every file left is complete
        assert read_tiff(p).data.shape == (900, 1200, 3) and read_record(p)["profile"] == LENS_NAME


# -- worker processes ---------------------------------------------------------------------------------


def _worker_state(src, dest, settings):
    """Runs in a pool worker: corrects a file and reports the worker's configuration."""
    from mountkit import batch, memory

    result = correct_file(src, dest, settings)
    (cor, _), = batch._WORKER["correctors"].values()
    return result.status, cor.threads, batch._WORKER["threads"], os.environ.get("OMP_NUM_THREADS"), memory._applied


def test_pool_workers_share_the_cores_and_keep_freed_memory(tmp_path, kit, monkeypatch):
    from mountkit import batch
    from mountkit.memory import keep_freed_memory

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    p = tmp_path / "f.png"
    write_png(p, Frame(data=RNG.integers(0, 255, (48, 64, 3)).astype(np.uint8)))
    (job,) = plan([p], tmp_path / "out", kit=kit)
    import multiprocessing

    with cf.ProcessPoolExecutor(1, initializer=batch._init_worker, initargs=(3,),
                                mp_context=multiprocessing.get_context("spawn")) as ex:
        got = ex.submit(_worker_state, job.input, job.output, _settings(kit)).result(timeout=120)
    assert got == ("ok", 3, 3, "3", sys.platform.startswith("linux"))
    cores = batch.default_workers()
    assert batch.worker_threads(1) == cores and batch.worker_threads(cores) == min(cores, 2)
    assert batch.worker_threads(4 * cores) == min(cores, 2)
    if sys.platform.startswith("linux"):
        assert keep_freed_memory() and keep_freed_memory()  # idempotent


def test_from_unit_float_clips_scales_and_rounds():
    x = np.array([-1.0, -0.0, 0.0, 0.4 / 65535, 0.6 / 65535, 0.5, 0.99999994, 1.0, 1.0000001, 7.0, np.inf],
                 np.float32)
    top = np.float32(65535)
    want = (np.clip(x, 0, 1) * top + np.float32(0.5)).astype(np.uint16)
    assert np.array_equal(from_unit_float(x, np.uint16), want)
    assert from_unit_float(x, np.uint16).tolist() == [0, 0, 0, 0, 1, 32768, 65535, 65535, 65535, 65535, 65535]
    y = np.random.default_rng(3).uniform(-0.1, 1.1, (64, 80, 3)).astype(np.float32)
    for dtype in (np.uint8, np.uint16):
        t = np.float32(np.iinfo(dtype).max)
        assert np.array_equal(from_unit_float(y, dtype), (np.clip(y, 0, 1) * t + np.float32(0.5)).astype(dtype))
    assert from_unit_float(y, np.float32) is not None and np.array_equal(from_unit_float(y, np.float32), y)
