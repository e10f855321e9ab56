"""The Quickstart's main job, at a reduced frame size (same body, crop factor and lens)."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import mountkit
from mountkit.demo import _psnr, run_demo


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit()


def test_demo_corrects_the_simulated_lens(kit, tmp_path):
    r = run_demo(tmp_path, kit=kit, size=(1024, 768))
    assert "Summicron-M" in r.lens and r.crop_factor == pytest.approx(2.64, abs=0.01)
    assert "distortion" in r.corrections
    assert r.corner_shift_px > 1.0  # the 28 mm's distortion moves the corner at this size
    assert r.psnr_db > 30.0
    with Image.open(r.png) as im:
        assert im.size == (2048, 768)
    import tifffile

    out = tifffile.imread(r.tiff)
    assert out.shape == (768, 1024, 3) and out.dtype == np.uint16


def test_correction_beats_leaving_the_frame_alone(kit):
    """Same pipeline as the demo: the corrected frame is much closer to the chart than the captured one."""
    from mountkit.charts import demo_chart

    body = kit.camera("Xiaomi 12S Ultra Concept")
    lens = kit.lens("Summicron-M 1:2/28 Asph.", camera=body)
    size, white = (1024, 768), 1023
    truth = np.rint(demo_chart(*size) * white).astype(np.uint16)
    captured = kit.corrector(lens, camera=body, size=size, reverse=True).apply(truth, white_level=white)
    corrected, valid = kit.corrector(lens, camera=body, size=size).apply(captured, white_level=white, mask=True)
    inner = valid.copy()
    inner[:8], inner[-8:], inner[:, :8], inner[:, -8:] = False, False, False, False
    assert _psnr(corrected, truth, white, inner) > _psnr(captured, truth, white, inner) + 3.0


def test_demo_command_refuses_to_overwrite(tmp_path):
    from mountkit.cli import main  # noqa: F401  (the console script's module)
    from mountkit.cli import cli

    runner = CliRunner()
    args = ["demo", "-o", str(tmp_path), "--size", "320", "240"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "PSNR" in first.output and (tmp_path / "corrected.tif").exists()
    second = runner.invoke(cli, args)
    assert second.exit_code != 0
    assert "corrected.tif" in second.output
