"""``genlab modes``: how many modes of a known mixture a trained model's samples cover (mode collapse)."""
from __future__ import annotations

import json

import click

from ..errors import ConfigError
from . import main


@main.command()
@click.argument("run", type=click.Path())
@click.option("-n", "n", type=int, default=None, help="samples to draw (default: 2,500 for 2-D data, 10,000 for stacked MNIST)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "output", type=click.Path(), default=None, help="2-D data: also write a scatter plot (.png)")
@click.option("--no-ema", is_flag=True, help="use the raw weights instead of the EMA weights")
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
def modes(run, n, seed, output, no_ema, device, as_json) -> None:
    """Mode coverage of RUN's samples: on ring8 / grid25 (and any vector data whose modes are known) the
    modes covered, high-quality share and KL to uniform; on stackedmnist the modes of 1,000 found by the
    MNIST classifier."""
    import torch

    from ..eval.modes import mode_metrics, stacked_mnist_metrics
    from ..training import load
    from ..training.trainer import resolve_device

    model = load(run, device=device or "auto", ema=not no_ema)
    info = model.info
    known = "modes" in info.meta and "mode_std" in info.meta
    if not known and info.name != "stackedmnist":
        raise ConfigError(f"{run} was trained on {info.name or 'data'} whose modes are unknown; `genlab modes` works on "
                          "runs trained on ring8, grid25 or stackedmnist")
    if n is not None and n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    gen = torch.Generator(device=resolve_device(device or "auto")).manual_seed(seed)
    if known:
        x = model.sample(n or 2500, generator=gen)
        result = mode_metrics(x, info.meta["modes"], info.meta["mode_std"])
        if output:
            from ..plots2d import scatter_2d

            scatter_2d(x, output, centers=info.meta["modes"], std=info.meta["mode_std"],
                       title=f"{result['modes']}/{result['num_modes']} modes, {100 * result['high_quality']:.0f}% high quality")
    else:
        if output:
            raise ConfigError("-o writes a 2-D scatter plot; stacked MNIST samples are images: use `genlab sample`")
        from ..eval.features import get_feature_extractor

        net = get_feature_extractor("mnist")
        result = stacked_mnist_metrics(model.sample(n or 10_000, generator=gen), lambda g: net.embed(g)[1])
    if as_json:
        click.echo(json.dumps(result))
        return
    line = f"{result['modes']} of {result['num_modes']} modes covered"
    if "high_quality" in result:
        line += f", {100 * result['high_quality']:.1f}% high-quality samples"
    click.echo(f"{line}, KL(mode histogram || uniform) = {result['kl_uniform']:.3f} nats ({result['n']} samples)")
    if output:
        click.echo(f"wrote {output}")
