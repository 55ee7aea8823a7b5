"""Conditional GANs in the evaluation report: a grid with one row of samples per requested label."""
import base64
import io
import re

import pytest
import torch
from click.testing import CliRunner

import genlab
from genlab.cli import main
from genlab.config import DataConfig
from genlab.eval.image_runs import CLASS_GRID_WIDTH, class_grid_samples
from genlab.eval.report import class_grid_tag

TINY = {"width": 8, "latent_dim": 4, "depth": 2}
FAST = dict(batch_size=32, progress=False, sample_every=10**9, checkpoint_every=10**9, val_batches=1)


# one thread for the tiny models (conftest), and no GAN health warnings from two-step runs
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore")]


def test_class_grid_is_ordered_by_label(tmp_path):
    data = DataConfig(name="digits", limit=64)
    cg = genlab.train("cgan", data, tmp_path / "cg", model_config=TINY, max_steps=2, **FAST)
    x = class_grid_samples(cg, per_class=3, seed=5)
    assert x.shape == (10 * 3, *cg.info.shape) and 0 <= x.min() and x.max() <= 1
    # sample i of the grid is what the model makes for label i // 3 (same noise: same seed, same order)
    want = cg.sample(30, labels=torch.arange(10).repeat_interleave(3), generator=torch.Generator().manual_seed(5))
    assert torch.allclose(x, want.clamp(0, 1))
    # a model that ignores its labels would make the same rows; this one does not
    assert not torch.allclose(x[:3], x[3:6])
    tag = class_grid_tag({"samples": x, "per_class": 3, "class_names": None})
    assert tag.count("<img") == 1 and "label 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in tag

    dc = genlab.train("dcgan", data, tmp_path / "dc", model_config=TINY, max_steps=2, **FAST)
    assert class_grid_samples(dc) is None


def _section_image(page: str, heading: str):
    from PIL import Image

    m = re.search(rf"<h2>{heading}</h2>\s*<img[^>]*src=\"data:image/png;base64,([^\"]+)\"", page)
    assert m, f"no image under {heading!r}"
    return Image.open(io.BytesIO(base64.b64decode(m.group(1))))


def test_evaluate_report_has_a_per_class_grid(tmp_path, shared_data):
    run = tmp_path / "cgan"
    genlab.train("cgan", DataConfig(name="mnist", root=str(shared_data), limit=256), run, model_config=TINY,
                 max_steps=2, **FAST)
    r = CliRunner().invoke(main, ["evaluate", str(run), "--data", "mnist", "--root", str(shared_data), "-n", "200"])
    assert r.exit_code == 0, r.output
    page = (run / "report.html").read_text()
    assert page.index("<h2>Samples</h2>") < page.index("<h2>Samples per class</h2>") < page.index("<h2>Metrics</h2>")
    img = _section_image(page, "Samples per class")
    cell = 28 + 2  # MNIST images with the grid's 2-pixel padding
    assert img.size == (CLASS_GRID_WIDTH * cell + 2, 10 * cell + 2)  # 10 per row, one row per digit
    assert "label 0, 1, 2" in page
    r = CliRunner().invoke(main, ["sample", str(run), "-n", "4", "--label", "3", "-o", str(tmp_path / "threes.png")])
    assert r.exit_code == 0 and (tmp_path / "threes.png").is_file(), r.output
