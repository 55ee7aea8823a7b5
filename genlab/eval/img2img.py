"""Metrics and the evaluator for image-to-image runs (``inpaint-gan``, ``srgan``, ``pix2pix``, ``cyclegan``).

Faithfulness to a target: PSNR and SSIM (torchmetrics), a learned feature distance in genlab's feature
space (LPIPS-like: the three convolution blocks of the dataset's ``FeatureNet``, each channel vector
normalised to unit length, squared differences averaged over positions and summed over blocks, with equal
block weights - no learned per-channel weights as LPIPS has), and the FID of outputs against targets.
Task metrics: the classifier's accuracy on outputs (a completed digit keeps its label; a translated
sneaker should be classified as an ankle boot) and, for CycleGAN, the cycle-reconstruction L1.

Each run is scored beside non-learned baselines on the same images: mean / nearest-pixel fill for
completion, bicubic upsampling for super-resolution, the mean target image for paired translation and
the unchanged input ("identity") for unpaired translation. ``genlab evaluate RUN`` reaches
:func:`evaluate_img2img_run` through the evaluator registry (modalities ``paired`` and ``unpaired``).
"""
from __future__ import annotations

import html

import torch
import torch.nn.functional as F

from ..data import load_data
from ..data.paired import random_masks, upscale_bicubic
from ..errors import ConfigError, DataError
from . import metrics as M
from .features import FeatureNet

MASKS = ("centre", "random-box", "strokes")


# ----------------------------------------------------------------------------- metrics


def _pair(out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if out.shape != target.shape:
        raise ValueError(f"outputs {tuple(out.shape)} and targets {tuple(target.shape)} differ in shape")
    return out.float().clamp(0, 1), target.float().clamp(0, 1)


def _torchmetrics(name: str):
    try:
        from torchmetrics.functional import image
    except ImportError:
        raise ConfigError("PSNR and SSIM need torchmetrics: pip install 'genlab[metrics]'") from None
    return getattr(image, name)


def psnr(out: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of the whole set, 10 log10(1 / mean squared error) for images in
    [0, 1] (a per-image average would be infinite as soon as one output is exact, e.g. a hole on blank
    background)."""
    peak_signal_noise_ratio = _torchmetrics("peak_signal_noise_ratio")
    out, target = _pair(out, target)
    return float(peak_signal_noise_ratio(out, target, data_range=1.0))


def ssim(out: torch.Tensor, target: torch.Tensor) -> float:
    """Mean structural similarity (Gaussian window: 11 px, sigma 1.5; smaller for images under 22 px)."""
    structural_similarity_index_measure = _torchmetrics("structural_similarity_index_measure")
    out, target = _pair(out, target)
    side = min(out.shape[-2:])
    k, sigma = (11, 1.5) if side >= 22 else (7, 1.0) if side >= 14 else (3, 0.5)
    return float(structural_similarity_index_measure(out, target, data_range=1.0, kernel_size=k, sigma=sigma))


@torch.no_grad()
def feature_distance(out: torch.Tensor, target: torch.Tensor, net: FeatureNet, batch_size: int = 500) -> float:
    """LPIPS-like distance in ``net``'s convolution blocks (mean over images; 0 for identical images)."""
    out, target = _pair(out, target)
    net.eval()
    dev = next(net.parameters()).device
    blocks = [net.body[:1], net.body[1:3], net.body[3:5]]
    total = 0.0
    for s in range(0, len(out), batch_size):
        a, b = out[s:s + batch_size].to(dev) * 2 - 1, target[s:s + batch_size].to(dev) * 2 - 1
        d = torch.zeros(len(a), device=dev)
        for blk in blocks:
            a, b = blk(a), blk(b)
            na = a / (a.norm(dim=1, keepdim=True) + 1e-10)
            nb = b / (b.norm(dim=1, keepdim=True) + 1e-10)
            d += (na - nb).square().sum(1).mean((1, 2))
        total += float(d.sum())
    return total / len(out)


def fid_to_targets(out: torch.Tensor, target: torch.Tensor, net: FeatureNet) -> float | None:
    """FID between outputs and targets in ``net``'s feature space (None with fewer than 2 images)."""
    if len(out) < 2:
        return None
    fa, fb = net.embed(out.clamp(0, 1))[0], net.embed(target.clamp(0, 1))[0]
    return M.fid(fa, fb)


def class_accuracy(x: torch.Tensor, labels: torch.Tensor, net: FeatureNet) -> float:
    """Share of images ``x`` the classifier assigns to ``labels`` (one per image; or (N, k) allowed sets)."""
    pred = net.embed(x.clamp(0, 1))[1].argmax(1)
    labels = labels.cpu()
    ok = (pred[:, None] == labels).any(1) if labels.dim() == 2 else pred == labels
    return float(ok.double().mean())


def score(out: torch.Tensor, target: torch.Tensor, net: FeatureNet | None, labels: torch.Tensor | None = None) -> dict:
    """All faithfulness metrics of one method on one set of (output, target) images."""
    row = {"psnr": psnr(out, target), "ssim": ssim(out, target), "l1": float((out - target).abs().mean())}
    if net is not None:
        row["feature_distance"] = feature_distance(out, target, net)
        row["fid"] = fid_to_targets(out, target, net)
        if labels is not None:
            row["accuracy"] = class_accuracy(out, labels, net)
    return row


# ----------------------------------------------------------------------------- baselines


def mean_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Covered pixels set to the mean of the image's uncovered pixels (per channel)."""
    keep = (~mask).float().expand_as(x)
    mean = (x * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True).clamp_min(1)
    return torch.where(mask.expand_as(x), mean.expand_as(x), x)


def nearest_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Covered pixels copy the nearest uncovered pixel (Euclidean distance transform, scipy)."""
    from scipy.ndimage import distance_transform_edt

    out = x.clone()
    m = mask.expand(len(x), 1, *x.shape[2:]).cpu().numpy()
    for i in range(len(x)):
        if not m[i, 0].any() or m[i, 0].all():
            continue
        _, (iy, ix) = distance_transform_edt(m[i, 0], return_indices=True)
        out[i] = x[i][:, torch.from_numpy(iy), torch.from_numpy(ix)]
    return out


# ----------------------------------------------------------------------------- panels


def triplet_panel(inp: torch.Tensor, out: torch.Tensor, target: torch.Tensor, k: int = 8) -> torch.Tensor:
    """Images laid out in rows of [input | output | target] for ``k`` examples (for ``image_grid(nrow=3)``)."""
    k = min(k, len(out))
    inp = inp[:k]
    if inp.shape[1:] != out.shape[1:]:  # a smaller (SR) or other-channel input: nearest-neighbour to the output's size
        inp = F.interpolate(inp, size=out.shape[-2:], mode="nearest")
        if inp.shape[1] != out.shape[1]:
            inp = inp.mean(1, keepdim=True).expand(-1, out.shape[1], -1, -1)
    return torch.stack([inp, out[:k].clamp(0, 1), target[:k]], 1).flatten(0, 1).cpu()


def panels_html(panels: dict[str, torch.Tensor]) -> str:
    from ..outputs import image_grid
    from .report import img_tag, png_b64

    parts = ['<p class="note">each row: input | output | target</p>']
    for name, grid in panels.items():
        parts.append(f"<h3>{html.escape(name)}</h3>" + img_tag(png_b64(image_grid(grid, nrow=3)), name, 200))
    return "\n".join(parts)


def rows_html(rows: list[dict]) -> str:
    from .report import table_html

    return table_html([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows])


# ----------------------------------------------------------------------------- the evaluator


def _feature_net(name: str, shape, ds=None) -> FeatureNet | None:
    from . import features as fe

    name = fe.ALIASES.get(name, name)
    if name in fe.SHIPPED and tuple(shape) == (1, 28, 28):
        return fe.get_feature_extractor(name)
    if ds is not None and ds.tensors.get("y") is not None and ds.info.num_classes >= 2:
        try:
            return fe.get_feature_extractor(ds)
        except ValueError:
            return None
    return None


@torch.no_grad()
def evaluate_outputs(model, test_ds, n: int = 1000, seed: int = 0, net: FeatureNet | None = None,
                     masks: tuple[str, ...] = MASKS) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Rows of metrics (the model and its baselines) and triplet panels for ``n`` test examples."""
    batch = test_ds.all(limit=n)
    x = batch["x"].to(model.device)
    labels = batch.get("y")
    rows, panels = [], {}
    if model.name == "inpaint-gan" or (model.name not in ("srgan", "pix2pix", "cyclegan")
                                       and "complete" in model.capabilities()):
        # any model that completes images (inpaint-gan, ddpm, pixelcnn, ...): the same seeded masks
        h, w = x.shape[-2:]
        for kind in masks:
            mask = random_masks(kind, len(x), h, w, torch.Generator().manual_seed(seed), x.device)
            shown = x.masked_fill(mask.expand_as(x), 0.5)
            filled = model.complete(x, mask, 1, generator=torch.Generator(x.device).manual_seed(seed))[:, 0]
            for method, out in ((model.name, filled), ("mean fill", mean_fill(x, mask)),
                                ("nearest fill", nearest_fill(x, mask))):
                rows.append({"method": method, "mask": kind, **score(out, x, net, labels)})
            panels[f"mask: {kind}"] = triplet_panel(shown, filled, x)
        return rows, panels
    if model.name == "srgan":
        lr, _ = model.make_pair(batch)
        sr = model.upscale(lr)
        c = model.config
        learned = "srresnet (MSE only)" if c.adv_weight == 0 and (c.feature_weight == 0 or c.features == "none") else "srgan"
        for method, out in ((f"{learned} x{model.scale}", sr), (f"bicubic x{model.scale}", upscale_bicubic(lr, model.scale))):
            rows.append({"method": method, **score(out, x, net, labels)})
        panels[f"x{model.scale} super-resolution"] = triplet_panel(lr, sr, x)
        return rows, panels
    if model.name == "pix2pix":
        a, _ = model.make_pair(batch)
        out = model.translate(a)
        mean_target = x.mean(0, keepdim=True).expand_as(x)
        for method, o in (("pix2pix", out), ("mean target image", mean_target)):
            rows.append({"method": method, **score(o, x, net, labels)})
        panels["paired translation"] = triplet_panel(a, out, x)
        return rows, panels
    if model.name == "cyclegan":
        a, b = batch["a"].to(model.device), x
        meta = model.info.meta
        counts = meta.get("domain_sizes") or [len(a), len(b)]
        na, nb = min(len(a), counts[0]), min(len(b), counts[1])  # drop the cycled repeats of the smaller domain
        a, b = a[:na], b[:nb]
        fake_b, fake_a = model.translate(a, "AB"), model.translate(b, "BA")
        cyc_a, cyc_b = model.translate(fake_b, "BA"), model.translate(fake_a, "AB")
        for method, tb, ta in (("cyclegan", fake_b, fake_a), ("identity (input unchanged)", a, b)):
            row = {"method": method, "cycle_l1_a": float((cyc_a - a).abs().mean()) if method == "cyclegan" else 0.0,
                   "cycle_l1_b": float((cyc_b - b).abs().mean()) if method == "cyclegan" else 0.0}
            if net is not None:
                if "classes_b" in meta:
                    row["accuracy_a_to_b"] = class_accuracy(tb, torch.tensor([meta["classes_b"]]).expand(len(tb), -1), net)
                    row["accuracy_b_to_a"] = class_accuracy(ta, torch.tensor([meta["classes_a"]]).expand(len(ta), -1), net)
                row["fid_a_to_b"] = fid_to_targets(tb, b, net)
                row["fid_b_to_a"] = fid_to_targets(ta, a, net)
            rows.append(row)
        panels["A -> B (input | translation | cycle back)"] = triplet_panel(a, fake_b, cyc_a)
        panels["B -> A (input | translation | cycle back)"] = triplet_panel(b, fake_a, cyc_b)
        return rows, panels
    raise ConfigError(f"no image-to-image evaluation for model {model.name!r}")


def _test_split(model, data_cfg):
    modality = model.info.modality
    try:
        ds = load_data(data_cfg, modality, "test")
    except DataError:
        ds = load_data(data_cfg, modality, "train")
    if tuple(ds.info.shape) != tuple(model.info.shape):
        raise DataError(f"model {model.name!r} was trained on {'x'.join(map(str, model.info.shape))} images but "
                        f"{data_cfg.name!r} holds {'x'.join(map(str, ds.info.shape))}; evaluate on matching data")
    return ds


def evaluate_img2img_run(model, run_dir, data_cfg, *, n: int = 10_000, seed: int = 0, **_ignored) -> dict:
    """``genlab evaluate`` for image-to-image runs: metrics table, triplet panels, baselines."""
    test_ds = _test_split(model, data_cfg)
    n = min(n, len(test_ds))
    base = model.info.meta.get("source") if model.info.modality == "unpaired" else model.info.name
    net = _feature_net(str(base or ""), model.info.shape,
                       test_ds if model.info.modality == "paired" and "y" in test_ds.tensors else None)
    rows, panels = evaluate_outputs(model, test_ds, n=n, seed=seed, net=net)
    result = {"model": model.name, "data": data_cfg.name, "n_examples": n, "seed": seed,
              "feature_space": "genlab classifier" if net is not None else "none (no labelled feature extractor)",
              "rows": rows}
    result["_html"] = rows_html(rows) + panels_html(panels)
    return result


