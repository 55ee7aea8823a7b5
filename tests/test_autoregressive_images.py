"""Pixel-by-pixel image models: the autoregressive property, exact normalised likelihoods, training,
completion, masks and the `genlab complete` command."""
import itertools

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import genlab
from genlab.cli import main
from genlab.data.base import DataInfo
from genlab.errors import ConfigError, DataError
from genlab.masks import parse_mask
from genlab.training.run import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


TINY = {
    "pixelcnn": {"width": 4, "layers": 1, "head": 8},
    "gated-pixelcnn": {"width": 8, "layers": 2, "kernel": 3, "head": 16},
    "made": {"hidden": [32, 32]},
    "made-oa": {"hidden": [32], "num_masks": 4, "eval_masks": 3},
    "pixel-lstm": {"hidden": 8, "row_hidden": 16},
    "pixel-lstm-pixel": {"hidden": 8, "mode": "pixel"},
}


def make(key: str, shape=(1, 6, 6), output="bernoulli", **extra):
    name = {"made-oa": "made", "pixel-lstm-pixel": "pixel-lstm"}.get(key, key)
    return build_model(name, {**TINY[key], "output": output, **extra}, DataInfo("image", shape, num_classes=3)).eval()


@pytest.mark.parametrize("output", ["bernoulli", "softmax"])
@pytest.mark.parametrize("key", list(TINY))
def test_each_pixel_depends_only_on_earlier_pixels(key, output):
    torch.manual_seed(0)  # a random tiny MADE can leave a pixel with no live path by chance: fix the draw
    model = make(key, output=output)
    d = 36
    order = model.ordering(model.current)[0] if key.startswith("made") else torch.arange(d)
    x = torch.rand(2, 1, 6, 6, requires_grad=True)
    logits = model.dist_logits(x).flatten(-3)  # (B, D) or (B, K, D)
    for p in range(0, d, 5):
        (g,) = torch.autograd.grad(logits[..., p].sum(), x, retain_graph=True)
        g = g.abs().sum(0).flatten()
        assert (g[order >= order[p]] == 0).all(), f"pixel {p} sees itself or a later pixel"
        if order[p] > 3:
            assert (g[order < order[p]] > 0).any()


@pytest.mark.parametrize("key", list(TINY))
def test_likelihood_sums_to_one_over_all_binary_images(key):
    model = make(key, shape=(1, 2, 2))
    x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(16, 1, 2, 2)
    total = model.log_likelihood({"x": x}).exp().sum()
    assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("key", ["pixelcnn", "made", "pixel-lstm"])
def test_softmax_likelihood_sums_to_one_over_all_grey_levels(key):
    model = make(key, shape=(1, 1, 2), output="softmax")
    v = torch.arange(256) / 255
    x = torch.stack(torch.meshgrid(v, v, indexing="ij"), -1).view(-1, 1, 1, 2)
    assert model.log_likelihood({"x": x}).exp().sum() == pytest.approx(1.0, abs=1e-4)
    assert model.validation_step({"x": x[:10]})["bits_per_dim"] > 0


@pytest.mark.parametrize("key", ["pixelcnn", "gated-pixelcnn", "made-oa", "pixel-lstm", "pixel-lstm-pixel"])
def test_training_lowers_the_nll(key):
    torch.manual_seed(0)
    model = make(key).train()
    x = (torch.rand(16, 1, 1, 1) < 0.5).float().expand(16, 1, 6, 6).contiguous()  # all 0 or all 1: ln 2 nats
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for step in range(25):
        if key == "made-oa":
            model.use_mask(step % 4)
        loss = model.nll(x).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert -model.log_likelihood({"x": x}).mean() < first - 3


@pytest.mark.parametrize("key", ["pixelcnn", "gated-pixelcnn"])
def test_sampling_band_is_exactly_the_receptive_field(key):
    model = make(key, shape=(1, 12, 5), layers=2)
    x = torch.rand(2, 1, 12, 5)
    full = model.dist_logits(x)
    r = model.receptive_rows
    for i in range(r, 12):
        assert torch.allclose(model.dist_logits(x[:, :, i - r:i + 1])[..., -1, :], full[..., i, :], atol=1e-5)
    narrower = [torch.allclose(model.dist_logits(x[:, :, i - r + 1:i + 1])[..., -1, :], full[..., i, :], atol=1e-5)
                for i in range(r, 12)]
    assert not all(narrower)  # one row less would change the logits: the band is not larger than needed

def test_samples_and_completions_keep_shapes_values_and_observed_pixels():
    model = make("gated-pixelcnn", conditional=True)
    s = model.sample(4, labels=torch.tensor([0, 1, 2, 0]), generator=gen())
    assert s.shape == (4, 1, 6, 6) and set(s.unique().tolist()) <= {0.0, 1.0}
    x = torch.rand(2, 1, 6, 6)
    mask = parse_mask("right-half", (6, 6))
    out = model.complete(x, mask, 3, generator=gen(), labels=torch.tensor([1, 2]))
    assert out.shape == (2, 3, 1, 6, 6)
    kept = (x >= 0.5).float()[:, None].expand_as(out)
    assert torch.equal(out[..., ~mask], kept[..., ~mask])
    assert not torch.equal(out[:, 0], out[:, 1])  # several different completions
    grey = make("pixelcnn", output="softmax").sample(2, generator=gen())
    assert grey.min() >= 0 and grey.max() <= 1 and len(grey.unique()) > 2
    made = make("made-oa")
    assert torch.equal(made.sample(5, generator=gen(7)), made.sample(5, generator=gen(7)))


def test_conditioning_and_bad_input_are_clear():
    model = make("gated-pixelcnn", conditional=True)
    x = torch.rand(1, 1, 6, 6)
    assert not torch.allclose(model.dist_logits(x, torch.tensor([0])), model.dist_logits(x, torch.tensor([1])))
    with pytest.raises(ConfigError, match="needs labelled data"):
        build_model("gated-pixelcnn", {"conditional": True}, DataInfo("image", (1, 6, 6)))
    with pytest.raises(ConfigError, match="labels must be in 0..2"):
        model.sample(1, labels=torch.tensor([5]))
    with pytest.raises(DataError, match="data.binarize=dynamic"):
        make("pixelcnn").log_likelihood({"x": torch.full((1, 1, 6, 6), 0.3)})
    with pytest.raises(ConfigError, match="model.output must be bernoulli"):
        build_model("made", {"output": "gaussian"}, DataInfo("image", (1, 6, 6)))
    with pytest.raises(ConfigError, match="eval_masks"):
        build_model("made", {"num_masks": 2, "eval_masks": 3}, DataInfo("image", (1, 6, 6)))
    with pytest.raises(ConfigError, match=r"shape \(B, 1, 6, 6\)"):
        make("made").complete(torch.rand(1, 1, 5, 5), torch.ones(5, 5, dtype=torch.bool))


# ----------------------------------------------------------------------------- masks


def test_mask_specs(tmp_path):
    assert parse_mask("bottom-half", (4, 4)).tolist() == [[False] * 4] * 2 + [[True] * 4] * 2
    assert parse_mask("right-half", (2, 4)).tolist() == [[False, False, True, True]] * 2
    assert parse_mask("top-half", (4, 2)).sum() == 4 and parse_mask("left-half", (4, 2))[:, 0].all()
    assert parse_mask("centre", (8, 8)).sum() == 16
    m = parse_mask("75%", (4, 4))
    assert m.sum() == 12 and m.flatten()[-12:].all()
    r = parse_mask("random-50%", (10, 10), seed=3)
    assert r.sum() == 50 and torch.equal(r, parse_mask("random-50%", (10, 10), seed=3))
    img = np.zeros((8, 8), np.uint8)
    img[:, 6:] = 255
    Image.fromarray(img).save(tmp_path / "m.png")
    assert parse_mask(str(tmp_path / "m.png"), (4, 4)).tolist() == [[False, False, False, True]] * 4  # resized
    for spec, msg in [("0%", "between 0 and 100"), ("100%", "between 0 and 100"), ("0.1%", "covers no pixels"),
                      ("bottom", "unknown mask 'bottom'")]:
        with pytest.raises(ConfigError, match=msg):
            parse_mask(spec, (4, 4))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "black.png")
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(tmp_path / "white.png")
    with pytest.raises(ConfigError, match="covers no pixels"):
        parse_mask(str(tmp_path / "black.png"), (4, 4))
    with pytest.raises(ConfigError, match="covers every pixel.*genlab sample"):
        parse_mask(str(tmp_path / "white.png"), (4, 4))


# ----------------------------------------------------------------------------- runs and the CLI


@pytest.fixture(scope="module")
def pixel_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("pix")
    model = genlab.train("pixelcnn", {"name": "digits", "binarize": "dynamic"}, d / "run",
                         model_config={"width": 4, "layers": 1, "head": 8}, max_steps=8, batch_size=64,
                         progress=False, grid_size=2)
    return d / "run", model


def test_run_reloads_to_the_same_samples_and_completes_from_the_cli(pixel_run, tmp_path):
    run, model = pixel_run
    loaded = genlab.load(run)
    assert torch.equal(loaded.sample(3, generator=gen(4)), model.sample(3, generator=gen(4)))
    for i, v in enumerate([40, 200]):
        Image.fromarray(np.full((16, 16), v, np.uint8)).save(tmp_path / f"in{i}.png")  # resized to 8x8
    runner = CliRunner()
    args = ["complete", str(run), "--input", str(tmp_path / "in0.png"), "--input", str(tmp_path / "in1.png"), "-n", "3"]
    r = runner.invoke(main, [*args, "--mask", "50%", "-o", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output
    assert "32 of 64 pixels covered" in r.output
    grid = np.asarray(Image.open(tmp_path / "c.png"))
    assert grid.shape[0] < grid.shape[1]  # 2 rows of 5 cells: covered input, 3 completions, original
    r = runner.invoke(main, [*args, "--mask", "bottom-half", "-o", str(tmp_path / "c.npz")])
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "c.npz")
    assert z["completions"].shape == (2, 3, 1, 8, 8) and z["mask"].sum() == 32
    assert (z["completions"][1, :, :, :4] == 255).all() and (z["completions"][0, :, :, :4] == 0).all()
    for extra, msg in [(["--mask", "nothing"], "unknown mask"), (["--mask", "0.5%"], "covers no pixels"),
                       (["-o", str(tmp_path / "c.jpg")], "written as .png")]:
        r = runner.invoke(main, [*args, *extra])
        assert r.exit_code == 2 and msg in r.output, r.output
    r = runner.invoke(main, ["complete", str(run), "--input", str(tmp_path / "missing.png")])
    assert r.exit_code == 2 and "could not read input image" in r.output


def test_models_without_complete_are_refused(tmp_path):
    genlab.train("gmm", "digits", tmp_path / "gmm", model_config={"n_components": 2, "covariance_type": "diag"},
                 progress=False, grid_size=1)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
    r = CliRunner().invoke(main, ["complete", str(tmp_path / "gmm"), "--input", str(tmp_path / "in.png")])
    assert r.exit_code == 2 and "cannot complete images" in r.output and "pixelcnn" in r.output


def test_order_agnostic_made_reloads_its_masks_in_an_ema_copy():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    model = make("made-oa")
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
    for m in (1, 2, 0):  # training steps with different orderings: the EMA averages the mask buffers too
        model.use_mask(m)
        ema.update_parameters(model)
    x = torch.bernoulli(torch.full((4, 1, 6, 6), 0.3), generator=gen())
    assert torch.allclose(ema.module.log_likelihood({"x": x}), model.log_likelihood({"x": x}))
    masks = [b for n, b in ema.module.named_buffers() if n.endswith("mask")]
    assert masks and all(((b == 0) | (b == 1)).all() for b in masks)


def test_evaluate_report_shows_completions_at_50_and_75_percent(tmp_path):
    from click.testing import CliRunner

    from genlab.cli import main

    run = tmp_path / "made"
    genlab.train("made", {"name": "digits", "binarize": "dynamic"}, run, model_config={"hidden": [64]},
                 train_config={"max_steps": 30, "progress": False})
    r = CliRunner().invoke(main, ["evaluate", str(run), "-n", "300"])
    assert r.exit_code == 0, r.output
    page = (run / "report.html").read_text()
    assert "last 50% of the pixels covered" in page and "last 75% of the pixels covered" in page
    assert page.count("data:image/png;base64") >= 4  # samples, two completion grids, memorisation
