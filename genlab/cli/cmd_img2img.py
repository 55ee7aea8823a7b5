"""``genlab upscale`` and ``genlab translate``: apply a trained image-to-image run to image files."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, DataError
from . import main

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MAX_PIXELS = 64_000_000  # largest input image accepted (width x height)


def read_image(path: Path, channels: int):
    """One image file as float (1, C, H, W) in [0, 1]; an RGB image for a grey model (or the reverse) is
    refused rather than silently converted."""
    import numpy as np
    import torch
    from PIL import Image

    from ..data.images import GREY_MODES

    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise DataError(f"{path} is {im.width}x{im.height}; images over {MAX_PIXELS:,} pixels are refused")
            grey = im.mode in GREY_MODES
            if channels == 1 and not grey:
                raise DataError(f"{path} is a colour ({im.mode}) image but the model works on grey images; "
                                "convert it to greyscale first")
            if channels == 3 and grey:
                raise DataError(f"{path} is a grey ({im.mode}) image but the model works on RGB images; "
                                "convert it to RGB first")
            a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"could not read image {path}: {e}") from None
    t = torch.from_numpy(a)
    return (t[None, None] if channels == 1 else t.permute(2, 0, 1)[None]).contiguous()


def write_image(x, path: Path) -> None:
    from PIL import Image

    arr = (x[0].detach().float().cpu().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(path)


def _load(run: str, device: str | None, names: tuple[str, ...]):
    from ..training import load

    model = load(run, device=device or "auto")
    if model.name not in names:
        raise ConfigError(f"{run} holds a {model.name!r} run; this command needs one of: {', '.join(names)}")
    return model


def _output_path(output: str, what: str) -> Path:
    path = Path(output)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ConfigError(f"{what} must be an image file (.png, .jpg, .bmp), got {output!r}")
    if path.exists() and path.is_dir():
        raise ConfigError(f"{output} is a folder; give an image file name for {what}")
    return path


@main.command()
@click.argument("run", type=click.Path())
@click.argument("image", type=click.Path())
@click.option("-o", "output", required=True, type=click.Path(), help="output image (.png)")
@click.option("--tile", type=int, default=256, show_default=True, help="tile side in input pixels")
@click.option("--overlap", type=int, default=16, show_default=True, help="overlap of neighbouring tiles (input pixels)")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
def upscale(run, image, output, tile, overlap, device) -> None:
    """Upscale IMAGE (any size) with the srgan run RUN, in blended tiles."""
    import torch

    out_path = _output_path(output, "-o")
    src = Path(image)
    if not src.is_file():
        raise DataError(f"input image {image} does not exist")
    model = _load(run, device, ("srgan",))
    x = read_image(src, model.info.shape[0])
    with torch.no_grad():
        y = model.upscale(x, tile=tile, overlap=overlap)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_image(y, out_path)
    click.echo(f"wrote {out_path} ({y.shape[3]}x{y.shape[2]}, x{model.scale} of {x.shape[3]}x{x.shape[2]})")


@main.command()
@click.argument("run", type=click.Path())
@click.argument("inputs", type=click.Path())
@click.option("-o", "output", required=True, type=click.Path(), help="output folder (one image per input, same name)")
@click.option("--direction", type=click.Choice(["AB", "BA"]), default="AB", show_default=True,
              help="cyclegan: A -> B or B -> A")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
def translate(run, inputs, output, direction, device) -> None:
    """Translate every image in INPUTS (a folder or one file) with a pix2pix, cyclegan or srgan run."""
    import torch

    src = Path(inputs)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise DataError(f"{src} holds no images (.png, .jpg, .jpeg, .bmp)")
    elif src.is_file():
        files = [src]
    else:
        raise DataError(f"{inputs} does not exist")
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"-o {output} is a file; give a folder for the translated images")
    model = _load(run, device, ("pix2pix", "cyclegan", "srgan"))
    if model.name != "cyclegan" and direction != "AB":
        raise ConfigError(f"--direction BA applies to cyclegan runs; {run} is a {model.name} run")
    shape = tuple(model.input_shape) if model.name != "cyclegan" else tuple(model.info.shape)
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in files:
        x = read_image(p, shape[0])
        if model.name != "srgan" and tuple(x.shape[1:]) != shape:
            raise DataError(f"{p} is {x.shape[3]}x{x.shape[2]} but the model translates {shape[2]}x{shape[1]} images")
        with torch.no_grad():
            y = model.translate(x, direction=direction) if model.name == "cyclegan" else model.translate(x)
        write_image(y, out_dir / (p.stem + ".png"))
    click.echo(f"wrote {len(files)} image(s) to {out_dir}")
