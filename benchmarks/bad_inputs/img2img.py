"""Bad inputs for the image-to-image models and commands (inpaint-gan, srgan, pix2pix, cyclegan; genlab
upscale, translate, complete; paired and unpaired data). See benchmarks/bad_input_catalogue.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _png(path: Path, a: np.ndarray) -> str:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(a, dtype=np.uint8)).save(path)
    return str(path)


def cases(fx) -> list[tuple[str, list[str]]]:
    t = fx.tmp / "img2img"
    rng = np.random.default_rng(0)
    grey = _png(t / "grey.png", rng.integers(0, 255, (8, 8)))
    rgb = _png(t / "rgb.png", rng.integers(0, 255, (8, 8, 3)))
    black = _png(t / "black.png", np.zeros((8, 8)))
    white = _png(t / "white.png", np.full((8, 8), 255))
    # paired folders: names that do not match, sizes that differ, only A/, side-by-side of the wrong aspect
    for i in range(3):
        _png(t / "names" / "A" / f"{i}.png", rng.integers(0, 255, (8, 8)))
        _png(t / "names" / "B" / f"x{i}.png", rng.integers(0, 255, (8, 8)))
        _png(t / "sizes" / "A" / f"{i}.png", rng.integers(0, 255, (8, 8)))
        _png(t / "sizes" / "B" / f"{i}.png", rng.integers(0, 255, (16, 16)))
        _png(t / "onlyA" / "A" / f"{i}.png", rng.integers(0, 255, (8, 8)))
        _png(t / "square" / f"{i}.png", rng.integers(0, 255, (8, 8)))
        _png(t / "domains" / "trainA" / f"{i}.png", rng.integers(0, 255, (8, 8)))
        _png(t / "shapes" / "trainA" / f"{i}.png", rng.integers(0, 255, (8, 8)))
        _png(t / "shapes" / "trainB" / f"{i}.png", rng.integers(0, 255, (12, 12)))
    (t / "domains" / "trainB").mkdir(parents=True, exist_ok=True)
    (t / "nodomains").mkdir(parents=True, exist_ok=True)
    _png(t / "nodomains" / "0.png", rng.integers(0, 255, (8, 8)))
    (t / "emptydir").mkdir(parents=True, exist_ok=True)

    inp = fx.run("inpaint-gan", "digits", "model.rec_steps=1", "model.width=8", "model.width_d=8")
    sr = fx.run("srgan", "digits", "model.scale=2", "model.width=8", "model.blocks=1", "model.width_d=8")
    p2p = fx.run("pix2pix", "digits", "model.width=8", "model.width_d=8")
    cyc = fx.run("cyclegan", "digits:3:8", "model.width=8", "model.width_d=8", "model.blocks=1")
    out = str(t / "out.png")
    train = ["--out", str(t / "never"), "--max-steps", "1", "--quiet"]
    return [
        # masks covering nothing / everything, unknown masks
        ("complete: mask covers no pixel", ["complete", inp, "--input", grey, "--mask", black]),
        ("complete: mask covers every pixel", ["complete", inp, "--input", grey, "--mask", white]),
        ("complete: unknown mask name", ["complete", inp, "--input", grey, "--mask", "circle"]),
        ("complete: translation model cannot complete", ["complete", p2p, "--input", grey]),
        ("train inpaint-gan: unknown model.mask", ["train", "inpaint-gan", "--set", "model.mask=circle", *train]),
        ("train inpaint-gan: on a folder of pairs", ["train", "inpaint-gan", "--data", str(t / "sizes"), *train]),
        # scale
        ("train srgan: scale 3 (not a power of 2)", ["train", "srgan", "--set", "model.scale=3", *train]),
        ("train srgan: scale 0", ["train", "srgan", "--set", "model.scale=0", *train]),
        ("train srgan: scale 1024", ["train", "srgan", "--set", "model.scale=1024", *train]),
        ("train srgan: scale does not divide 8x8 digits", ["train", "srgan", "--set", "model.scale=16", *train]),
        ("train srgan: feature net file missing", ["train", "srgan", "--set", f"model.features={t / 'nope.safetensors'}", *train]),
        # grey model given RGB, wrong files
        ("upscale: grey model given an RGB image", ["upscale", sr, rgb, "-o", out]),
        ("translate: grey pix2pix given an RGB image", ["translate", p2p, rgb, "-o", str(t / "o1")]),
        ("translate: grey cyclegan given an RGB image", ["translate", cyc, rgb, "-o", str(t / "o2")]),
        ("translate: image of the wrong size", ["translate", p2p, _png(t / "big.png", rng.integers(0, 255, (12, 12))), "-o", str(t / "o3")]),
        ("translate: empty input folder", ["translate", p2p, str(t / "emptydir"), "-o", str(t / "o4")]),
        ("translate: missing input", ["translate", p2p, str(t / "missing.png"), "-o", str(t / "o5")]),
        ("translate: -o is a file", ["translate", p2p, grey, "-o", grey]),
        ("translate: --direction BA on pix2pix", ["translate", p2p, grey, "-o", str(t / "o6"), "--direction", "BA"]),
        ("upscale: not an srgan run", ["upscale", p2p, grey, "-o", out]),
        ("upscale: output not an image file", ["upscale", sr, grey, "-o", str(t / "out.txt")]),
        ("upscale: missing input", ["upscale", sr, str(t / "missing.png"), "-o", out]),
        ("upscale: corrupt input", ["upscale", sr, fx.file("img2img/corrupt.png", b"\x89PNG\r\n\x1a\nnot really"), "-o", out]),
        ("upscale: tile too small", ["upscale", sr, grey, "-o", out, "--tile", "2"]),
        ("upscale: overlap too large", ["upscale", sr, grey, "-o", out, "--tile", "16", "--overlap", "12"]),
        # paired data
        ("train pix2pix: pairs with mismatched names", ["train", "pix2pix", "--data", str(t / "names"), *train]),
        ("train pix2pix: pairs of different sizes", ["train", "pix2pix", "--data", str(t / "sizes"), *train]),
        ("train pix2pix: A/ without B/", ["train", "pix2pix", "--data", str(t / "onlyA"), *train]),
        ("train pix2pix: model.source unknown", ["train", "pix2pix", "--set", "model.source=photo", *train]),
        # unpaired data
        ("train cyclegan: empty domain trainB/", ["train", "cyclegan", "--data", str(t / "domains"), *train]),
        ("train cyclegan: no trainA/ trainB/", ["train", "cyclegan", "--data", str(t / "nodomains"), *train]),
        ("train cyclegan: domains of different sizes", ["train", "cyclegan", "--data", str(t / "shapes"), *train]),
        ("train cyclegan: class id out of range", ["train", "cyclegan", "--data", "digits:3:12", *train]),
        ("train cyclegan: class in both domains", ["train", "cyclegan", "--data", "digits:3:3,8", *train]),
        ("train cyclegan: unlabelled dataset split by class", ["train", "cyclegan", "--data", f"{t / 'square'}:0:1", *train]),
        ("train cyclegan: plain image dataset", ["train", "cyclegan", "--data", "digits", *train]),
    ]
