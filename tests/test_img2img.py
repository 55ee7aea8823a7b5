"""Image-to-image models: training steps and output shapes, exact completion, pair loaders, seamless tiled
upscaling, the evaluator, the upscale / translate / complete commands and one clear line per bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

import genlab
from genlab.cli import main
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.errors import ConfigError, DataError
from genlab.training import load

TINY = {"max_steps": 3, "batch_size": 16, "progress": False, "log_every": 1, "checkpoint_every": 10**6,
        "val_batches": 1}


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


def _digits(n=64):
    from sklearn.datasets import load_digits

    return (load_digits().images[:n] * 255 / 16).round().astype(np.uint8)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread):
    """One tiny trained run of each model (a few steps on 8x8 digits)."""
    root = tmp_path_factory.mktemp("i2i")
    data = {"name": "digits", "limit": 64}
    out = {}
    for name, d, mc in (("inpaint-gan", data, {"rec_steps": 1, "width": 8, "width_d": 8}),
                        ("srgan", data, {"scale": 2, "mse_steps": 1, "width": 8, "blocks": 1, "width_d": 8}),
                        ("pix2pix", data, {"width": 8, "width_d": 8}),
                        ("cyclegan", {"name": "digits:3:8"}, {"width": 8, "width_d": 8, "blocks": 1, "pool_size": 4})):
        genlab.train(name, d, root / name, model_config=mc, **TINY)
        out[name] = root / name
    return out


# ----------------------------------------------------------------------------- models


def test_each_model_trains_and_keeps_the_input_shape(runs):
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    inp = load(runs["inpaint-gan"])
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True
    assert inp.complete(x, mask, 3).shape == (5, 3, 1, 8, 8)
    sr = load(runs["srgan"])
    assert sr.upscale(x[..., :4, :4]).shape == (5, 1, 8, 8)
    p2p = load(runs["pix2pix"])
    assert p2p.translate(x).shape == x.shape
    cyc = load(runs["cyclegan"])
    for direction in ("AB", "BA"):
        y = cyc.translate(x, direction)
        assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
    for name, run in runs.items():
        state = genlab.training.checkpoint.read_state(run)
        assert state["status"] == "finished" and state["step"] == 3, name


def test_completion_keeps_unmasked_pixels_exactly(runs):
    model = load(runs["inpaint-gan"])
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    from genlab.data.paired import random_masks

    for kind in ("centre", "random-box", "strokes"):
        mask = random_masks(kind, 4, 8, 8, torch.Generator().manual_seed(2))
        out = model.complete(x, mask, 2)
        keep = ~mask[:, None].expand_as(out)
        assert torch.equal(out[keep], x[:, None].expand_as(out)[keep]), kind
        assert not torch.equal(out[~keep], x[:, None].expand_as(out)[~keep])  # the hole is filled by the network


def test_complete_command_with_inpaint_gan(runs, tmp_path):
    img = _digits(1)[0]
    _save(tmp_path / "in.png", img)
    r = cli("complete", runs["inpaint-gan"], "--input", tmp_path / "in.png", "--mask", "center", "-n", "2",
            "-o", tmp_path / "out.npz")
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "out.npz")
    keep = ~z["mask"]
    assert z["completions"].shape == (1, 2, 1, 8, 8)
    assert np.array_equal(z["completions"][0, 0, 0][keep], img[keep])


def test_srresnet_beats_bicubic_after_training(tmp_path, one_thread):
    """The generator starts as bicubic (zeroed last layer) and MSE training lowers the error below it."""
    model = genlab.train("srgan", {"name": "digits"}, tmp_path / "sr", progress=False, max_steps=60, batch_size=64,
                         model_config={"scale": 2, "adv_weight": 0.0, "feature_weight": 0.0, "width": 16, "blocks": 2})
    x = load_data(DataConfig("digits"), "paired", "test").all()["x"]
    lr = F.interpolate(x, scale_factor=0.5, mode="bicubic", antialias=True).clamp(0, 1)
    bicubic = F.interpolate(lr, scale_factor=2, mode="bicubic").clamp(0, 1)
    assert F.mse_loss(model.upscale(lr), x) < 0.9 * F.mse_loss(bicubic, x)


# ----------------------------------------------------------------------------- tiled upscaling


def test_untrained_srgan_upscale_is_bicubic_and_tiles_have_no_seams():
    """Known image: an untrained generator gives exactly bicubic upsampling; tiles must not change it."""
    from genlab.data.base import DataInfo
    from genlab.models.img2img.srgan import SRGAN, SRGANConfig

    model = SRGAN(SRGANConfig(scale=4, width=8, blocks=1), DataInfo("paired", (1, 8, 8), meta={"pairing": "self"})).eval()
    x = torch.rand(1, 1, 50, 37, generator=torch.Generator().manual_seed(0))
    known = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    tiled = model.upscale(x, tile=16, overlap=4)
    assert tiled.shape == (1, 1, 200, 148)
    assert torch.allclose(tiled, known, atol=1e-5)


def test_trained_upscale_tiled_equals_whole_image(runs, tmp_path):
    model = load(runs["srgan"])
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 1, 45, 61, generator=g)
    whole = model.upscale(x, tile=512)
    tiled = model.upscale(x, tile=16, overlap=4)  # 4 x 5 tiles
    assert (tiled - whole).abs().max() < 1e-4
    # no seam: along tile borders the output is as smooth as anywhere else
    step = (tiled[..., :, 1:] - tiled[..., :, :-1]).abs().mean(2).flatten()
    ref = (whole[..., :, 1:] - whole[..., :, :-1]).abs().mean(2).flatten()
    assert torch.allclose(step, ref, atol=1e-4)
    # and through the command line, with an input PNG larger than one tile
    img = (x[0, 0].numpy() * 255).round().astype(np.uint8)
    _save(tmp_path / "small.png", img)
    r = cli("upscale", runs["srgan"], tmp_path / "small.png", "-o", tmp_path / "big.png", "--tile", 16, "--overlap", 4)
    assert r.exit_code == 0, r.output
    big = np.asarray(Image.open(tmp_path / "big.png"))
    assert big.shape == (90, 122)
    ref = model.upscale(torch.from_numpy(img).float()[None, None] / 255, tile=512)[0, 0].numpy() * 255
    assert np.abs(big.astype(float) - ref).max() <= 1.0


# ----------------------------------------------------------------------------- data


def test_pair_folder_a_b_and_side_by_side(tmp_path, one_thread):
    imgs = _digits(12)
    for i, im in enumerate(imgs):
        _save(tmp_path / "ab" / "A" / f"{i}.png", 255 - im)
        _save(tmp_path / "ab" / "B" / f"{i}.png", im)
        _save(tmp_path / "sbs" / f"{i}.png", np.concatenate([255 - im, im], 1))
    for folder in ("ab", "sbs"):
        ds = load_data(DataConfig(str(tmp_path / folder)), "paired", "train")
        b = ds.all()
        assert b["a"].shape == b["x"].shape == (len(ds), 1, 8, 8)
        assert torch.allclose(b["a"], 1 - b["x"])
        assert ds.info.meta["pairing"] == "files"
    run = genlab.train("pix2pix", str(tmp_path / "ab"), tmp_path / "p2p", model_config={"width": 8, "width_d": 8}, **TINY)
    assert run.translate(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)
    r = cli("translate", tmp_path / "p2p", tmp_path / "ab" / "A", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 12


def test_pair_loaders_refuse_mismatched_pairs(tmp_path):
    im = _digits(3)
    for i in range(3):
        _save(tmp_path / "names" / "A" / f"{i}.png", im[i])
        _save(tmp_path / "names" / "B" / f"{i + 1}.png", im[i])
        _save(tmp_path / "sizes" / "A" / f"{i}.png", im[i])
        _save(tmp_path / "sizes" / "B" / f"{i}.png", np.kron(im[i], np.ones((2, 2))))
    with pytest.raises(DataError, match="mismatched pairs.*0.*without a partner"):
        load_data(DataConfig(str(tmp_path / "names")), "paired", "train")
    with pytest.raises(DataError, match="mismatched pairs.*8x8.*16x16"):
        load_data(DataConfig(str(tmp_path / "sizes")), "paired", "train")
    (tmp_path / "onlyA" / "A").mkdir(parents=True)
    with pytest.raises(DataError, match="both A/"):
        load_data(DataConfig(str(tmp_path / "onlyA")), "paired", "train")


def test_unpaired_domains_from_classes_and_folders(tmp_path):
    ds = load_data(DataConfig("digits:3:8"), "unpaired", "train")
    b = ds.all()
    assert b["a"].shape == b["x"].shape and ds.info.meta["classes_b"] == [8]
    im = _digits(20)
    for i in range(10):
        _save(tmp_path / "dom" / "trainA" / f"{i}.png", im[i])
    for i in range(4):
        _save(tmp_path / "dom" / "trainB" / f"{i}.png", im[10 + i])
    ds = load_data(DataConfig(str(tmp_path / "dom")), "unpaired", "train")
    assert len(ds) == 9 and ds.info.meta["domain_sizes"] == [9, 3]  # 10% held out; B cycled up to A's length
    (tmp_path / "empty" / "trainA").mkdir(parents=True)
    (tmp_path / "empty" / "trainB").mkdir(parents=True)
    _save(tmp_path / "empty" / "trainA" / "0.png", im[0])
    with pytest.raises(DataError, match="trainB.*holds no images"):
        load_data(DataConfig(str(tmp_path / "empty")), "unpaired", "train")
    with pytest.raises(DataError, match="do not exist"):
        load_data(DataConfig("digits:3:12"), "unpaired", "train")


def test_masks_and_pair_makers():
    from genlab.data.paired import downscale, random_masks, sobel_edges
    from genlab.masks import parse_mask

    g = torch.Generator().manual_seed(0)
    for kind in ("centre", "random-box", "strokes", "mixed"):
        m = random_masks(kind, 64, 28, 28, g)
        cover = m.flatten(1).float().mean(1)
        assert m.shape == (64, 1, 28, 28) and bool((cover > 0).all() and (cover < 1).all()), kind
    assert torch.equal(parse_mask("center", (8, 8)), parse_mask("centre", (8, 8)))
    assert torch.equal(parse_mask("strokes", (28, 28), seed=3), parse_mask("strokes", (28, 28), seed=3))
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, :, 4:] = 1
    e = sobel_edges(x)
    assert e[:, 0, :, 3:5].all() and not e[:, 0, :, :2].any()
    assert downscale(torch.ones(1, 1, 8, 8), 4).shape == (1, 1, 2, 2)


# ----------------------------------------------------------------------------- evaluation


def test_evaluate_reports_metrics_and_baselines(runs, tmp_path, one_thread):
    from genlab.eval.img2img import evaluate_outputs, feature_distance, psnr, ssim
    from genlab.eval.features import FeatureNet

    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert ssim(x, x) == pytest.approx(1.0) and psnr(x * 0.5, x) < 100
    net = FeatureNet(1, 8, 10, 16).eval()
    assert feature_distance(x, x, net) == pytest.approx(0.0, abs=1e-6) and feature_distance(x, 1 - x, net) > 0
    test = load_data(DataConfig("digits"), "paired", "test")
    rows, panels = evaluate_outputs(load(runs["inpaint-gan"]), test, n=40, net=net)
    assert {r["method"] for r in rows} == {"inpaint-gan", "mean fill", "nearest fill"}
    assert {r["mask"] for r in rows} == {"centre", "random-box", "strokes"}
    assert all(np.isfinite(r["psnr"]) and 0 <= r["accuracy"] <= 1 for r in rows)
    assert all(p.shape[0] % 3 == 0 for p in panels.values())
    rows, _ = evaluate_outputs(load(runs["cyclegan"]), load_data(DataConfig("digits:3:8"), "unpaired", "test"), n=40, net=net)
    assert rows[0]["cycle_l1_a"] > 0 and 0 <= rows[0]["accuracy_a_to_b"] <= 1


def test_evaluate_scores_any_completing_model_on_the_same_masks(tmp_path, one_thread):
    """ddpm (or pixelcnn, ...) trained on plain images is scored on the same seeded masks as inpaint-gan, beside
    the same baselines, and its completions keep every unmasked pixel."""
    from genlab.eval.features import FeatureNet
    from genlab.eval.img2img import evaluate_outputs

    model = genlab.train("ddpm", {"name": "digits", "limit": 64}, tmp_path / "ddpm",
                         model_config={"width": 8, "channel_mult": [1], "timesteps": 20, "sample_steps": 4,
                                       "attn_max_size": 0}, **TINY)
    net = FeatureNet(1, 8, 10, 16).eval()
    test = load_data(DataConfig("digits"), "image", "test")
    rows, panels = evaluate_outputs(model.eval(), test, n=40, net=net)
    assert {r["method"] for r in rows} == {"ddpm", "mean fill", "nearest fill"}
    assert {r["mask"] for r in rows} == {"centre", "random-box", "strokes"}
    assert all(np.isfinite(r["psnr"]) for r in rows)
    # the baselines do not depend on the model: the same as inpaint-gan's rows on the same images and masks
    again, _ = evaluate_outputs(model.eval(), test, n=40, net=net)
    base = [r for r in rows if r["method"] != "ddpm"]
    assert base == [r for r in again if r["method"] != "ddpm"]
    assert len(panels) == 3


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_get_one_clear_line(runs, tmp_path):
    with pytest.raises(ConfigError, match="power of 2"):
        genlab.train("srgan", "digits", tmp_path / "s3", model_config={"scale": 3}, **TINY)
    with pytest.raises(ConfigError, match="model.mask"):
        genlab.train("inpaint-gan", "digits", tmp_path / "m", model_config={"mask": "circle"}, **TINY)
    _save(tmp_path / "black.png", np.zeros((8, 8)))
    _save(tmp_path / "white.png", np.full((8, 8), 255))
    _save(tmp_path / "in.png", _digits(1)[0])
    _save(tmp_path / "rgb.png", np.zeros((8, 8, 3)))
    cases = [
        (("complete", runs["inpaint-gan"], "--input", tmp_path / "in.png", "--mask", tmp_path / "black.png"), "covers no pixels"),
        (("complete", runs["inpaint-gan"], "--input", tmp_path / "in.png", "--mask", tmp_path / "white.png"), "covers every pixel"),
        (("upscale", runs["srgan"], tmp_path / "rgb.png", "-o", tmp_path / "o.png"), "grey images"),
        (("translate", runs["pix2pix"], tmp_path / "rgb.png", "-o", tmp_path / "o"), "grey images"),
        (("upscale", runs["pix2pix"], tmp_path / "in.png", "-o", tmp_path / "o.png"), "needs one of: srgan"),
        (("upscale", runs["srgan"], tmp_path / "in.png", "-o", tmp_path / "o.txt"), "image file"),
        (("train", "srgan", "--data", "digits", "--set", "model.scale=6", "--out", tmp_path / "x"), "power of 2"),
    ]
    for args, msg in cases:
        r = CliRunner().invoke(main, [str(a) for a in args])
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, (args, r.output)
    rgb = torch.rand(1, 3, 8, 8)
    with pytest.raises(ConfigError, match="grey"):
        load(runs["cyclegan"]).translate(rgb)
