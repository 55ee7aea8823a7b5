"""Latent-space commands: encode, reconstruct, interpolate, score, latent-map, fit-latent.

Data given by ``--data`` is read with the run's own data settings (binarisation, image size, channels, root),
so that it looks like what the model was trained on; without ``--data`` the run's own dataset is used.
"""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, DataError
from . import main

RUN = click.argument("run", type=click.Path())
DATA = click.option("--data", default=None, help="dataset to read (default: the run's own), with the run's data settings")
SPLIT = click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
ROOT = click.option("--root", default=None, help="folder holding built-in datasets (default: the run's)")
DEVICE = click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
SEED = click.option("--seed", type=int, default=0, show_default=True, help="seed for binarisation and sampling")
LIMIT = click.option("--limit", type=int, default=None, help="use only the first N examples")


def _load(run: str, device: str | None, need: tuple[str, ...] = ()):
    from ..training import load

    model = load(run, device=device or "auto")
    missing = [c for c in need if c not in model.capabilities()]
    if missing:
        raise ConfigError(f"model {model.name!r} in {run} has no {' or '.join(missing)}; this command needs it")
    return model


def _data(run: str, model, name: str | None, split: str, root: str | None):
    """Dataset ``name`` (default: the run's) read with the run's data settings, checked against the model."""
    from ..config import DataConfig, from_dict
    from ..data import load_data
    from ..training import checkpoint as ck

    settings = dict(ck.read_run_config(run).get("data_config", {}))
    settings.update({"limit": None, **({"name": name} if name else {}), **({"root": root} if root else {})})
    ds = load_data(from_dict(DataConfig, settings, "data"), model.info.modality, split)
    if model.info.modality == "words":
        return _as_model_words(ds, model)
    if tuple(ds.info.shape) != tuple(model.info.shape):
        raise DataError(f"{settings['name']} examples have shape {tuple(ds.info.shape)}, but the model in {run} was "
                        f"trained on shape {tuple(model.info.shape)} ({model.info.name}); give data of that shape")
    if model.conditional and "y" not in ds.tensors:
        raise DataError(f"the model in {run} is conditional: {settings['name']} must have class labels")
    return ds


def _as_model_words(ds, model):
    """Word data re-encoded with the model's vocabulary and length."""
    from ..data.base import TensorDataset
    from ..data.words import to_ids, to_text

    items = to_text(ds.tensors["x"], ds.info.meta["vocab"])
    x = to_ids(items, model.info.meta["vocab"], model.info.shape[0])
    return TensorDataset({"x": x}, model.info)


def _out(output: str | None, run: str, default: str) -> Path:
    path = Path(output) if output else Path(run) / default
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _stem(name: str | None) -> str:
    return Path(name).stem if name else "data"


@main.command()
@RUN
@DATA
@click.option("-o", "output", type=click.Path(), default=None, help=".npy (codes) or .npz (codes z and labels y)")
@SPLIT
@LIMIT
@ROOT
@DEVICE
@SEED
def encode(run, data, output, split, limit, root, device, seed) -> None:
    """Encode a dataset with the model in RUN and save the codes (N, latent_dim)."""
    import numpy as np
    import torch

    from ..eval.latent import encode_dataset

    model = _load(run, device, ("encode",))
    ds = _data(run, model, data, split, root)
    torch.manual_seed(seed)
    z, y = encode_dataset(model, ds, limit=limit)
    path = _out(output, run, f"codes-{_stem(data)}-{split}.npy")
    if path.suffix == ".npz":
        np.savez_compressed(path, z=z.numpy(), **({"y": y.numpy()} if y is not None else {}))
    elif path.suffix == ".npy":
        np.save(path, z.numpy())
    else:
        raise ConfigError(f"codes are written as .npy or .npz, not {path.suffix or 'no suffix'}")
    click.echo(f"wrote {tuple(z.shape)} codes to {path}")


@main.command()
@RUN
@DATA
@click.option("-o", "output", type=click.Path(), default=None, help="output: .png grid (images), .txt (words), .npz")
@click.option("-n", "n", type=int, default=16, show_default=True, help="number of examples")
@SPLIT
@ROOT
@DEVICE
@SEED
def reconstruct(run, data, output, n, split, root, device, seed) -> None:
    """Show inputs next to their reconstructions decode(encode(x)) (denoising models: corrupted input too)."""
    import numpy as np
    import torch

    from ..eval.latent import encode_batch, iter_batches, rows_suffix, write_rows

    if n < 1:
        raise ConfigError(f"-n must be a positive number of examples, got {n}")
    model = _load(run, device, ("encode", "decode"))
    ds = _data(run, model, data, split, root)
    torch.manual_seed(seed)
    batch = next(iter_batches(ds, n, n, model.device))
    noisy = model.denoising
    if noisy:
        batch = {**batch, "x_clean": batch["x"], "x": model.corrupt_input(batch["x"])}
    z = encode_batch(model, batch)
    rec = model.decode(z, batch.get("y")) if model.conditional else model.decode(z)
    path = _out(output, run, f"reconstruct-{_stem(data)}{rows_suffix(model.info.modality, '.npz')}")
    rows = [batch["x_clean"], batch["x"], rec] if noisy else [batch["x"], rec]
    if isinstance(rec, list):  # word models decode to strings: show the inputs as text too
        from ..data.words import to_text

        rows = [to_text(r, model.info.meta["vocab"]) for r in rows[:-1]] + [rec]
    write_rows(rows, path, cols=16, what="reconstructions",
               arrays=lambda p: np.savez_compressed(p, x=batch["x"].cpu().numpy(),
                                                    reconstruction=np.asarray(rec) if isinstance(rec, list) else rec.cpu().numpy()))
    click.echo(f"wrote {len(rec)} reconstructions to {path}" + (" (rows: clean, corrupted, reconstruction)" if noisy else ""))


@main.command()
@RUN
@click.option("-o", "output", type=click.Path(), default=None, help="output: .png grid (images), .txt (words), .npy")
@click.option("--steps", type=int, default=10, show_default=True, help="points along each path, endpoints included")
@click.option("--pairs", type=int, default=6, show_default=True, help="number of paths (rows)")
@click.option("--data", default=None, help="interpolate between encoded examples of this dataset (models with encode)")
@click.option("--slerp", is_flag=True, help="spherical interpolation (keeps Gaussian codes at a typical norm)")
@click.option("--label", type=int, default=None, help="class for conditional models (default: random / the first endpoint's)")
@SPLIT
@ROOT
@DEVICE
@SEED
def interpolate(run, output, steps, pairs, data, slerp, label, split, root, device, seed) -> None:
    """Decode points on paths between two codes: random codes from the model's sampler (z ~ N(0, I) for
    models without one), or the codes of data examples with --data."""
    import numpy as np
    import torch

    from ..eval.latent import encode_batch, iter_batches, rows_suffix, write_rows
    from ..eval.latent import interpolate as paths

    if steps < 2 or pairs < 1:
        raise ConfigError(f"--steps must be >= 2 and --pairs >= 1, got {steps} and {pairs}")
    model = _load(run, device, ("decode",) + (("encode",) if data else ()))
    if model.latent_dim is None:
        raise ConfigError(f"model {model.name!r} has no latent space: interpolate needs one")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    torch.manual_seed(seed)
    labels = None
    if data:
        ds = _data(run, model, data, split, root)
        batch = next(iter_batches(ds, 2 * pairs, 2 * pairs, model.device))
        if len(batch["x"]) < 2 * pairs:
            raise DataError(f"{data} has {len(batch['x'])} examples, fewer than 2 x --pairs = {2 * pairs}")
        z = encode_batch(model, batch)
        z0, z1 = z[:pairs], z[pairs:]
        labels = batch["y"][:pairs] if model.conditional else None
    else:
        z0, z1 = model.latent_z(pairs, gen), model.latent_z(pairs, gen)  # the model's sampler, else N(0, I)
        if model.conditional:
            labels = torch.randint(model.info.num_classes, (pairs,), generator=gen, device=model.device)
    if label is not None:  # checked like `genlab sample --label`: conditional models only, in range
        labels = model.check_sample_args(pairs, torch.tensor(label), {})
    z = paths(z0, z1, steps, slerp).flatten(0, 1)
    kw = {"labels": labels.repeat_interleave(steps)} if model.conditional else {}
    x = model.decode(z, **kw)
    path = _out(output, run, f"interpolate{rows_suffix(model.info.modality, '.npy')}")
    if isinstance(x, list):  # strings: one line per path
        rows, cols = [x[j::steps] for j in range(steps)], pairs
    else:  # images: one grid row per path
        rows, cols = [x[i * steps: (i + 1) * steps] for i in range(pairs)], steps
    write_rows(rows, path, cols=cols, what="interpolations",
               arrays=lambda p: np.save(p, np.asarray(x).reshape(pairs, steps) if isinstance(x, list)
                                        else x.cpu().numpy().reshape(pairs, steps, *x.shape[1:])))
    click.echo(f"wrote {pairs} paths of {steps} points to {path}")


@main.command()
@RUN
@click.option("--data", required=True, help="the data to score (e.g. fashion-mnist for a model trained on mnist)")
@click.option("-o", "output", type=click.Path(), default=None, help="per-example scores: .npy or .csv")
@click.option("--reference", default=None, help="in-distribution data (e.g. mnist): also report the AUROC of --data vs it")
@click.option("--nll-samples", type=int, default=1, show_default=True,
              help="importance samples per example for VAEs (1: the ELBO)")
@SPLIT
@LIMIT
@click.option("--batch-size", type=int, default=256, show_default=True)
@ROOT
@DEVICE
@SEED
def score(run, data, output, reference, nll_samples, split, limit, batch_size, root, device, seed) -> None:
    """Per-example anomaly scores (higher = less typical): the negative log-likelihood (bound) or the
    reconstruction error, written to a file; with --reference the AUROC of telling --data from it."""
    import numpy as np
    import torch

    from ..eval.latent import anomaly_scores, auroc

    if nll_samples < 1 or batch_size < 1:
        raise ConfigError(f"--nll-samples and --batch-size must be >= 1, got {nll_samples} and {batch_size}")
    model = _load(run, device)
    torch.manual_seed(seed)
    s = anomaly_scores(model, _data(run, model, data, split, root), nll_samples, batch_size, limit)
    path = _out(output, run, f"scores-{_stem(data)}-{split}.npy")
    if path.suffix == ".npy":
        np.save(path, s.numpy())
    elif path.suffix == ".csv":
        np.savetxt(path, np.c_[np.arange(len(s)), s.numpy()], delimiter=",", header="index,score", comments="",
                   fmt=["%d", "%.6f"])
    else:
        raise ConfigError(f"scores are written as .npy or .csv, not {path.suffix or 'no suffix'}")
    click.echo(f"{data} ({split}, {len(s)} examples): mean score {float(s.mean()):.4g}, median {float(s.median()):.4g}; "
               f"wrote {path}")
    if reference:
        torch.manual_seed(seed + 1)
        ref = anomaly_scores(model, _data(run, model, reference, split, root), nll_samples, batch_size, limit)
        click.echo(f"{reference} ({split}, {len(ref)} examples): mean score {float(ref.mean()):.4g}")
        click.echo(f"AUROC {data} vs {reference} (higher score = {data}): {auroc(ref, s):.4f}")


@main.command("latent-map")
@RUN
@DATA
@click.option("-o", "output", type=click.Path(), default=None, help="PNG file")
@click.option("--method", type=click.Choice(["pca", "tsne", "both"]), default="both", show_default=True)
@click.option("--limit", type=int, default=3000, show_default=True, help="points to plot (t-SNE is quadratic)")
@SPLIT
@ROOT
@DEVICE
@SEED
def latent_map(run, data, output, method, limit, split, root, device, seed) -> None:
    """A 2-D map (PCA and/or t-SNE) of the codes of a dataset, coloured by class."""
    import torch

    from ..eval.latent import encode_dataset, plot_latent_map

    model = _load(run, device, ("encode",))
    ds = _data(run, model, data, split, root)
    torch.manual_seed(seed)
    z, y = encode_dataset(model, ds, limit=limit)
    methods = ("pca", "tsne") if method == "both" else (method,)
    path = _out(output, run, f"latent-map-{_stem(data)}.png")
    plot_latent_map(z, y, path, methods, ds.info.class_names, title=f"{model.name} codes of {ds.info.name} ({split})",
                    max_points=limit, seed=seed)
    click.echo(f"wrote {path}")


@main.command("fit-latent")
@RUN
@click.option("--components", type=int, default=10, show_default=True, help="Gaussian mixture components")
@click.option("--limit", type=int, default=20000, show_default=True, help="training codes used for EM")
@DEVICE
def fit_latent(run, components, limit, device) -> None:
    """Fit a Gaussian mixture on the training codes of the autoencoder in RUN; from then on `genlab sample RUN`
    draws codes from it (--sampler prior for the model's prior). Updates the run's checkpoint atomically."""
    from .. import api

    report = api.fit_latent(run, components=components, limit=limit, device=device or "auto")
    click.echo(f"fitted a {components}-component Gaussian mixture on {report['codes']} training codes "
               f"(converged: {report['converged']}); `genlab sample {run}` now draws from it")
