"""One sampling request: checked against the model's declared options and the server's limits, drawn under
the model's lock, and written (to a temporary folder, never the run folder) in the format asked for."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

from ..errors import ConfigError
from .limits import LENGTH_OPTIONS, Limits

MEDIA = {"png": "image/png", "npz": "application/x-npz", "csv": "text/csv; charset=utf-8",
         "tsv": "text/tab-separated-values; charset=utf-8", "txt": "text/plain; charset=utf-8",
         "json": "application/json"}
ACCEPT = {"image/png": "png", "application/x-npz": "npz", "application/octet-stream": "npz", "text/csv": "csv",
          "text/tab-separated-values": "tsv", "text/plain": "txt", "application/json": "json"}


class Refused(ConfigError):
    """A request above one of the server's limits (answered 413)."""


def formats_for(modality: str) -> list[str]:
    """The output formats of a modality, the default first."""
    from ..modalities import get_modality

    kind = get_modality(modality)
    out = [kind.default_suffix.lstrip(".")]
    for s in kind.suffixes:
        f = s.lstrip(".")
        if f and f not in out and f in MEDIA:
            out.append(f)
    if kind.default_suffix == ".txt":  # text-like samples can also come back as a JSON list
        out.append("json")
    return out


def pick_format(modality: str, fmt: str | None, accept: str | None) -> str:
    allowed = formats_for(modality)
    if fmt is None and accept:
        for part in accept.split(","):
            mt = part.split(";")[0].strip().lower()
            if mt in ACCEPT and ACCEPT[mt] in allowed:
                fmt = ACCEPT[mt]
                break
    fmt = {"text": "txt"}.get(fmt or "", fmt) or allowed[0]
    if fmt not in allowed:
        raise ConfigError(f"format {fmt!r} is not available for {modality} samples; use one of {', '.join(allowed)}")
    return fmt


def check_request(model, n: int | None, label: int | None, options: dict, limits: Limits) -> tuple[int, dict]:
    """(n, checked options) or a ConfigError / Refused naming what is wrong."""
    import torch

    if n is not None and n > limits.max_n:
        raise Refused(f"n={n} is above this server's limit of {limits.max_n} samples per request (--max-n)")
    options = dict(options or {})
    # JSON values are checked as they are (errors name the option); text (as an HTML form sends it) is converted
    opts = model.check_sample_options({k: v for k, v in options.items() if not isinstance(v, str)})
    opts.update(model.check_sample_options({k: v for k, v in options.items() if isinstance(v, str)}, parse=True))
    for k, v in opts.items():
        if isinstance(v, str) and len(v) > limits.max_prompt:
            raise Refused(f"option {k} is {len(v):,} characters, above this server's limit of {limits.max_prompt:,}")
        if k in LENGTH_OPTIONS and isinstance(v, int) and v > limits.max_length:
            raise Refused(f"{k}={v} is above this server's limit of {limits.max_length:,}")
    n = n or (1 if model.has("stream") else min(64, limits.max_n))
    if label is not None:
        model.check_sample_args(1, torch.tensor([label]), {})
    return n, opts


def draw(model, n: int, seed: int, label: int | None, opts: dict, fmt: str) -> bytes:
    """The samples as the bytes of a ``fmt`` file (call under the model's lock, in a worker thread)."""
    import json

    import torch

    from ..outputs import write_samples
    from ..sampling import check_count, check_finite

    check_count(model.info, n, Path("samples." + fmt) if fmt != "json" else None)
    gen = torch.Generator().manual_seed(seed)
    labels = None if label is None else torch.full((n,), label, dtype=torch.long)
    with torch.no_grad():
        x = model.sample(n, labels=labels, generator=gen, **opts)
    if isinstance(x, torch.Tensor):
        check_finite(x, f"model {model.name!r}")
    if fmt == "json":
        return json.dumps({"samples": list(x) if not isinstance(x, str) else [x]}).encode()
    with tempfile.TemporaryDirectory(prefix="genlab-serve-") as d:
        path = Path(d) / f"samples.{fmt}"
        write_samples(x, path, model.info, labels)
        return path.read_bytes()


def stream(model, n: int, seed: int, label: int | None, opts: dict):
    """The text chunks of ``model.stream`` (call under the model's lock, in a worker thread)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    labels = None if label is None else torch.full((1,), label, dtype=torch.long)
    with torch.no_grad():
        yield from model.stream(n, labels=labels, generator=gen, **opts)


def curves_png(records: list[dict], title: str = "") -> bytes | None:
    """Loss curves (train and validation metrics against step) as PNG bytes; None without numeric records."""
    from matplotlib.figure import Figure

    series: dict[tuple[str, str], tuple[list, list]] = {}
    for r in records:
        step, split = r.get("step"), r.get("split", "train")
        if not isinstance(step, (int, float)):
            continue
        for k, v in r.items():
            if k in ("step", "epoch", "time", "split") or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            xs, ys = series.setdefault((k, split), ([], []))
            xs.append(step)
            ys.append(v)
    keys = sorted({k for k, _ in series}, key=lambda k: (k not in ("loss", "nll", "loss_g", "loss_d"), k))[:6]
    if not keys:
        return None
    fig = Figure(figsize=(3.2 * min(3, len(keys)), 2.6 * ((len(keys) + 2) // 3)), dpi=90)
    for i, k in enumerate(keys):
        ax = fig.add_subplot((len(keys) + 2) // 3, min(3, len(keys)), i + 1)
        for split in ("train", "val"):
            if (k, split) in series:
                xs, ys = series[(k, split)]
                ax.plot(xs, ys, marker="." if len(xs) < 30 else None, label=split)
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
