"""The fallback evaluator: held-out negative log-likelihood for any model that has one."""
from __future__ import annotations

import math

import torch

from ..data import load_data
from ..errors import ConfigError
from . import progress
from .metrics import nll_report


ESTIMATORS = {
    "exact": "exact log-likelihood",
    "ELBO": "evidence lower bound (one posterior sample per example): a lower bound on log p(x)",
    "IWAE": "importance-weighted bound with k posterior samples: a lower bound, tighter as k grows",
    "VLB": "variational lower bound of a diffusion model (stratified over timesteps)",
}
DATA_MODELS = {
    "binarised": "a probability of binary pixels (data binarised to {0, 1})",
    "8-bit discretised": "a probability of the 8-bit pixel values (256 levels per subpixel)",
    "dequantised": "a density of uniformly dequantised 8-bit values on the 8-bit scale (a lower bound on the "
                   "8-bit log-probability)",
    "continuous": "a density of pixel values in [0, 1] without dequantisation: not a probability of the 8-bit data",
}


def likelihood_label(model, first_batch=None, nll_samples: int | None = None) -> dict:
    """What a model's likelihood number is: ``estimator`` (exact / ELBO / IWAE-k / VLB), ``data_model``
    (binarised / 8-bit discretised / dequantised / continuous), and whether it is a likelihood of the data
    evaluated (``valid``; with ``reason`` when not: e.g. a Bernoulli decoder scored on grey images).

    ``data_model`` is the model's declared ``likelihood_data`` or inferred from its config (a VAE's
    ``decoder``, a pixel model's ``output``, a dequantising flow/GMM, a diffusion model's discretised
    decoder). ``first_batch`` (the test data as the model sees it) tells whether the data are binary."""
    raw = (getattr(model, "likelihood_estimator", "") or "exact").lower()
    family = getattr(model, "family", "")
    if nll_samples and nll_samples > 1:
        est = f"IWAE-{nll_samples}"
    elif "elbo" in raw:
        est = "VLB" if family == "diffusion" else "ELBO"
    elif raw.startswith("exact"):
        est = "exact"
    else:
        est = raw
    cfg = getattr(model, "config", None)
    data = getattr(model, "likelihood_data", "") or ""
    if not data:
        decoder, output = getattr(cfg, "decoder", None), getattr(cfg, "output", None)
        if "dequant" in raw:
            data = "dequantised"
        elif isinstance(decoder, str):
            data = {"bernoulli": "binarised", "logistic": "8-bit discretised"}.get(decoder, "continuous")
        elif isinstance(output, str):
            data = {"bernoulli": "binarised", "softmax": "8-bit discretised"}.get(output, output)
        elif family == "diffusion":
            data = "8-bit discretised"
        else:
            data = "unknown"
    binary = None
    if first_batch is not None and "x" in first_batch:
        x = first_batch["x"]
        binary = bool(((x == 0) | (x == 1)).all())
    valid, reason = True, ""
    if data == "binarised" and binary is False:
        valid, reason = False, ("the model's likelihood is of binarised pixels but the data evaluated are grey "
                                "levels: its number is not a likelihood of these images")
    elif data == "continuous":
        valid, reason = False, DATA_MODELS["continuous"]
    elif data == "unknown":
        valid, reason = False, "the model does not say what data its likelihood is of"
    base = est.split("-")[0]
    return {"estimator": est, "estimator_means": ESTIMATORS.get(base, est), "data_model": data,
            "data_model_means": DATA_MODELS.get(data, data), "valid": valid, **({"reason": reason} if reason else {})}


@torch.no_grad()
def test_nll(model, test_ds, nll_samples: int | None = None, batch_size: int = 256, limit: int | None = None,
             seed: int = 0) -> dict:
    """Mean test NLL in nats and bits/dim, labelled by :func:`likelihood_label` (estimator, data model and
    whether it is a likelihood of the evaluated data at all)."""
    kwargs = {}
    if nll_samples and nll_samples > 1:
        if not model.supports_nll_samples:
            raise ConfigError(f"model {model.name!r} has no importance-sampled likelihood; drop --nll-samples")
        kwargs = {"num_samples": nll_samples}
    torch.manual_seed(seed)
    values = []
    seen = 0
    label = None
    total = min(len(test_ds), limit) if limit else len(test_ds)
    progress.stage(f"held-out likelihood of {model.name} on {total:,} test examples"
                   + (f" ({nll_samples} importance samples each)" if kwargs else ""))
    bar = progress.bar(total, f"likelihood ({model.name})", unit="example")
    for batch in test_ds.batches(batch_size, shuffle=False, drop_last=False, device=model.device):
        if label is None:
            label = likelihood_label(model, batch, nll_samples)
        values.append(-model.log_likelihood(batch, **kwargs).double().cpu())
        seen += len(values[-1])
        bar.update(min(len(values[-1]), total - bar.n))
        if limit and seen >= limit:
            break
    bar.close()
    nats = torch.cat(values)[:limit]
    dims = math.prod(model.info.shape)
    return {**(label or likelihood_label(model, None, nll_samples)), **nll_report(nats, dims)}


def evaluate_likelihood_run(model, run_dir, data_cfg, *, nll_samples=None, nll_limit=None, **_) -> dict:
    if not model.has("log_likelihood"):
        raise ConfigError(f"genlab has no evaluator for {model.info.modality} models without a likelihood "
                          f"({model.name!r})")
    test_ds = load_data(data_cfg, model.info.modality, "test")
    return {"model": model.name, "data": data_cfg.name, "likelihood": test_nll(model, test_ds, nll_samples, limit=nll_limit)}
