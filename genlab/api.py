"""The run API: what ``genlab train / resume / sample / evaluate / compare / fit-latent`` do, as Python functions.

The command line is a thin layer over these (argument parsing and printing); a script gets the same behaviour
and the same errors::

    import genlab
    genlab.train("dcgan", "digits", "runs/dcgan", max_steps=500, lr=1e-4)
    x = genlab.sample("runs/dcgan", 16, seed=1)                  # a tensor of images in [0, 1]
    text = genlab.sample("runs/lm", 2, temperature="0.8")        # options as the model declares them
    result = genlab.evaluate("runs/dcgan", n=2000)               # writes eval.json and report.html
    rows = genlab.compare(["runs/dcgan", "runs/vae"], output="cmp.html")
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .errors import ConfigError, RunError
from .models.base import GenerativeModel
from .training.run import load, resume, train

__all__ = ["compare", "evaluate", "fit_latent", "load", "resume", "sample", "train"]


def sample(run: str | Path | GenerativeModel, n: int | None = None, *, seed: int = 0, label: int | None = None,
           ema: bool = True, device: str = "auto", **options):
    """``n`` samples from the model of ``run`` (a run folder or a loaded model), drawn with ``seed``.

    ``options`` are the model's declared sampling options (``model.option_specs()``); values may be given as
    text (as on the command line), they are converted to the declared types. ``n`` defaults to 64 (1 for text).
    Returns what the model's ``sample`` returns: images/vectors as a tensor, texts as a list, tables as a DataFrame.
    """
    model = run if isinstance(run, GenerativeModel) else load(run, device=device, ema=ema)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"n must be a positive number of samples, got {n!r}")
    opts = model.check_sample_options(options, parse=True)
    n = n or (1 if model.has("stream") else 64)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    labels = None if label is None else torch.full((n,), label, dtype=torch.long)
    return model.sample(n, labels=labels, generator=gen, **opts)


def evaluate(run: str | Path, *, data: str | None = None, root: str | None = None, n: int = 10_000, seed: int = 0,
             nll_samples: int | None = None, nll_limit: int | None = None, test: str | None = None,
             features: str = "genlab", weights: str | None = None, write: bool = True) -> dict:
    """Score the run in ``run`` with the evaluator of its kind of data (images: sample quality, diversity,
    memorisation, likelihood; text: bits/char and perplexity on the held-out text; tables: fidelity, utility,
    privacy; others: the held-out likelihood) and write ``eval.json`` and ``report.html`` into the run folder
    (``write=False``: only return the result). Returns the result (keys starting with ``_`` hold report parts)."""
    from .eval import data_config_for, get_evaluator
    from .training import checkpoint as ck

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    from .sampling import check_eval_count

    cfg = ck.read_run_config(run)
    model = load(run)
    check_eval_count(model.info, n)  # an absurd -n is refused with the memory it would take
    data_cfg = data_config_for(cfg, data, root)
    opts = {"n": n, "seed": seed, "nll_samples": nll_samples, "nll_limit": nll_limit}
    if test is not None:
        opts["test"] = test
    if features != "genlab" or weights is not None:
        if model.info.modality != "image":
            raise ConfigError(f"--features and --weights apply to image runs; {run} is a {model.info.modality} run")
        opts.update(features=features, weights=weights)
    result = get_evaluator(model.info.modality)(model, Path(run), data_cfg, **opts)
    result["_modality"] = model.info.modality  # for summary(); private keys stay out of eval.json
    if write:
        write_report(run, result)
    return result


def write_report(run: str | Path, result: dict) -> None:
    """``eval.json`` (the JSON-ready result) and ``report.html`` (samples, metrics with their legend and intervals,
    details, training curves): :func:`genlab.eval.report.write_evaluation`."""
    from .eval.report import write_evaluation

    write_evaluation(run, result)


def summary(result: dict) -> str:
    """A few lines for the terminal: the headline numbers of an evaluation result (the ``summary`` its kind of
    data names in ``genlab/modalities/``; the result as JSON for kinds without one)."""
    from .modalities import get_modality

    modality = result.get("_modality", result.get("modality"))
    fn = get_modality(modality).resolve("summary") if modality else None
    if fn is not None:
        return fn(result)
    from .eval import report as R

    return json.dumps(R.json_ready(result), indent=2)[:4000]


def compare(runs: list[str | Path], *, data: str | None = None, root: str | None = None, n: int = 10_000,
            seed: int = 0, nll_samples: int | None = None, nll_limit: int | None = None, features: str = "genlab",
            weights: str | None = None, test: str | None = None, output: str | Path | None = "comparison.html",
            echo=print) -> list[dict]:
    """One leaderboard of image ``runs`` on the same metrics, samples and feature extractor; written to
    ``output`` (HTML, and JSON beside it) unless it is None. Returns the rows."""
    from .eval.compare import compare_runs, write_comparison
    from .sampling import MAX_SAMPLES

    if not runs:
        raise ConfigError("compare needs at least one run")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise ConfigError(f"-n must be between 1 and {MAX_SAMPLES:,} samples per run, got {n!r}")
    rows = compare_runs([str(r) for r in runs], data=data, root=root, n=n, seed=seed, nll_samples=nll_samples,
                        nll_limit=nll_limit, echo=echo, features=features, weights=weights, test=test)
    if output is not None:
        write_comparison(rows, Path(output))
    return rows


def fit_latent(run: str | Path, components: int = 10, limit: int = 20_000, device: str = "auto") -> dict:
    """Fit a ``components``-Gaussian mixture on the training codes of the autoencoder in ``run`` (at most
    ``limit`` codes) and save it into the run's checkpoint (raw and EMA weights), atomically; from then on
    the run samples its codes from the mixture (``sampler=prior`` still gives the prior). Returns the fit report."""
    from .config import DataConfig, from_dict
    from .data import load_data
    from .data.base import DataInfo
    from .registry import get_model_class
    from .training import build_model
    from .training import checkpoint as ck
    from .training.trainer import resolve_device

    for key, v in (("components", components), ("limit", limit)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"--{key} must be an integer >= 1, got {v!r}")
    run = Path(run)
    cfg = ck.read_run_config(run)
    _lock = ck.RunLock(run, "fit-latent").acquire()  # noqa: F841  (one writer per run; released on return or death)
    cls = get_model_class(cfg["model"])
    if "fit_latent" not in cls.declared_capabilities():
        raise ConfigError(f"fit-latent works on autoencoders and VAEs; {cfg['model']!r} has no latent sampler")
    model_cfg = {**cfg["model_config"], "latent_sampler": "gmm", "latent_components": components}
    ckpt = ck.checkpoint_dir(run)
    dev = resolve_device(device or "auto")
    info = DataInfo.from_dict(cfg["data_info"])
    data = load_data(from_dict(DataConfig, {**cfg.get("data_config", {}), "limit": None}, "data"), info.modality, "train")
    fitted, report = {}, {}
    for fname in ("model.safetensors", "ema.safetensors"):
        if not (ckpt / fname).is_file():
            continue
        net = build_model(cfg["model"], model_cfg, info)
        _load_except(net, ckpt / fname, "latent_gmm.")  # an old mixture is refitted, maybe with another size
        net.to(dev).eval()
        report = net.fit_latent(data, max_examples=limit)
        fitted[fname] = net
    ck.save_checkpoint(run, fitted["model.safetensors"], fitted.get("ema.safetensors"), ck.load_trainer_state(ckpt))
    cfg["model_config"] = model_cfg
    ck.write_json_atomic(run / ck.CONFIG, cfg)
    return report


def _load_except(net: torch.nn.Module, path: Path, prefix: str) -> None:
    """Weights from ``path`` into ``net`` except the entries under ``prefix`` (on either side)."""
    from safetensors.torch import load_file

    state = {k: v for k, v in load_file(str(path)).items() if not k.startswith(prefix)}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(prefix)]
    if missing or unexpected:
        raise RunError(f"{path} does not match the model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
