"""``genlab complete``: fill the covered part of images with a trained model (several completions each)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, DataError
from . import main


def read_images(paths: list[str], shape: tuple[int, int, int]):
    """Image files as float (B, C, H, W) in [0, 1], converted to the model's channels and size."""
    import numpy as np
    import torch
    from PIL import Image

    c, h, w = shape
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert("L" if c == 1 else "RGB")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.float32) / 255
        except (OSError, ValueError) as e:
            raise DataError(f"could not read input image {p}: {e}") from None
        out.append(torch.from_numpy(a).view(h, w, c).permute(2, 0, 1))
    return torch.stack(out)


def models_that_complete() -> list[str]:
    from ..registry import list_models

    return [n for n, cls in list_models().items() if "complete" in cls.declared_capabilities()]


@main.command()
@click.argument("run", type=click.Path())
@click.option("--input", "inputs", multiple=True, required=True, type=click.Path(), help="image to complete (repeatable)")
@click.option("--mask", "mask_spec", default="bottom-half", show_default=True,
              help="bottom-half | top-half | right-half | left-half | centre | 50% (last pixels) | random-50% | mask.png (white = covered); music runs: continue | harmonize")
@click.option("-n", "n", type=int, default=4, show_default=True, help="completions per image")
@click.option("-o", "output", type=click.Path(), default=None, help="output: .png grid (covered, completions, original) or .npz")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--label", type=int, default=None, help="class to complete as (conditional models)")
@click.option("--no-ema", is_flag=True, help="use the raw weights instead of the EMA weights")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
def complete(run, inputs, mask_spec, n, output, seed, label, no_ema, device) -> None:
    """Complete the covered part of images with the model in RUN (autoregressive, diffusion, ...)."""
    import numpy as np
    import torch

    from ..masks import completion_grid, parse_mask
    from ..outputs import save_image_grid
    from ..training import load
    from ..training.trainer import resolve_device

    if n < 1:
        raise ConfigError(f"-n must be a positive number of completions, got {n}")
    model = load(run, device=device or "auto", ema=not no_ema)
    if model.info.modality == "music":  # continue an opening or harmonise a soprano (MIDI in, MIDI out)
        from ..models.autoregressive.music import complete_files

        gen = torch.Generator(device=resolve_device(device or "auto")).manual_seed(seed)
        click.echo(complete_files(model, list(inputs), mask_spec, n, output or Path(run) / f"complete-seed{seed}.mid", gen))
        return
    if model.info.modality not in ("image", "paired") or not model.has("complete"):
        raise ConfigError(f"model {model.name!r} cannot complete images; models that can: {', '.join(models_that_complete())}")
    from ..sampling import check_output_path

    check_output_path(output or Path(run) / f"complete-seed{seed}.png", "image")  # before any completion is drawn
    x = read_images(list(inputs), model.info.shape)
    mask = parse_mask(mask_spec, model.info.shape[1:], seed=seed)
    gen = torch.Generator(device=resolve_device(device or "auto")).manual_seed(seed)
    labels = None if label is None else torch.full((len(x),), label, dtype=torch.long)
    out = model.complete(x, mask, n, generator=gen, labels=labels)
    path = Path(output or Path(run) / f"complete-seed{seed}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        grid, per_row = completion_grid(x, mask, out)
        save_image_grid(grid, path, nrow=per_row)
    elif path.suffix == ".npz":
        to8 = lambda t: (t.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()  # noqa: E731
        np.savez_compressed(path, completions=to8(out), inputs=to8(x), mask=mask.numpy())
    else:
        raise ConfigError(f"completions are written as .png (a grid) or .npz (arrays), not {path.suffix or 'no suffix'}")
    click.echo(f"wrote {n} completions of {len(x)} image(s) ({int(mask.sum())} of {mask.numel()} pixels covered) to {path}")
