"""Inception-v3 features from weights on the user's disk, so that FID/KID/IS can be compared with papers.

``--features inception --weights PATH`` (``evaluate`` and ``compare``) embeds images with the
TensorFlow-compatible Inception-v3 of torch-fidelity (the network behind torch-fidelity's and
torchmetrics' FID). genlab never downloads the weights: PATH is the usual ``pt_inception-2015-12-05``
state dict (``.pth``) or the same tensors as ``.safetensors``.

Safety: the file is first read with ``torch.load(weights_only=True)`` (or safetensors), which refuses
anything but tensors; torch-fidelity is then handed a freshly written copy of those tensors only, so its
own ``torch.load`` never unpickles the user's file.

Images are given to it as 8-bit RGB (grey images repeated over three channels); it resizes them to
299 x 299 itself. The features are the 2,048-dimensional pool layer; the "logits" for the Inception Score
are its 1,008 ImageNet-class logits without bias, as in the papers. ImageNet classes are not the dataset's
classes, so class-mode coverage and conditional accuracy are not computed in this feature space.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import torch

from ..errors import ConfigError


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or ``.pth``/``.pt`` state dict, refusing pickled code or other objects."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--weights {path}: no such file (give the Inception-v3 weights, e.g. "
                          f"pt_inception-2015-12-05-6726825d.pth, downloaded beforehand)")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ConfigError(f"--weights {path} is not a readable safetensors file: {e}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means: not a plain state dict
        raise ConfigError(f"--weights {path} is not a plain PyTorch state dict of tensors (refused to unpickle "
                          f"anything else): {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"--weights {path} holds a {type(state).__name__}, not a state dict of tensors")
    return state


class InceptionFeatures(torch.nn.Module):
    """The extractor interface of :class:`genlab.eval.features.FeatureNet` (``embed``, ``head``, ``config``,
    ``meta``) over torch-fidelity's Inception-v3."""

    def __init__(self, weights: str | Path, device: str = "cpu"):
        super().__init__()
        path = Path(weights)
        state = read_state_dict(path)
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as e:
            raise ConfigError("--features inception needs the torch-fidelity package (pip install torch-fidelity; "
                              f"it needs torchvision too): {e}") from None
        with tempfile.TemporaryDirectory() as tmp:  # a copy holding nothing but the tensors read above
            clean = Path(tmp) / "inception.pth"
            torch.save({k: v.contiguous() for k, v in state.items()}, clean)
            try:
                self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                       feature_extractor_weights_path=str(clean))
            except RuntimeError as e:  # load_state_dict: missing / unexpected keys, wrong shapes
                raise ConfigError(f"--weights {path} are not Inception-v3 FID weights: "
                                  f"{str(e).splitlines()[0]}") from None
        self.net.to(device).eval()
        self.config = {"feat_dim": 2048, "num_classes": None}
        self.meta = {"dataset": "imagenet (Inception-v3 of torch-fidelity)", "weights": str(path),
                     "sha256": _sha256(path), "test_accuracy": None}

    @torch.no_grad()
    def embed(self, x, batch_size: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) uint8 or float in [0, 1] -> (pool features (N, 2048), logits (N, 1008)), on the CPU."""
        x = torch.as_tensor(x)
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {tuple(x.shape)}")
        device = next(self.net.parameters()).device
        feats, logits = [], []
        for chunk in x.split(batch_size):
            if chunk.dtype != torch.uint8:
                chunk = (chunk.float().clamp(0, 1) * 255).round().to(torch.uint8)
            f, lg = self.net(chunk.expand(-1, 3, -1, -1).contiguous().to(device))
            feats.append(f.float().cpu())
            logits.append(lg.float().cpu())
        if not feats:
            return torch.empty(0, 2048), torch.empty(0, 1008)
        return torch.cat(feats), torch.cat(logits)

    @torch.no_grad()
    def head(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits (without bias) of pool features, as the Inception Score uses them."""
        w = self.net.fc.weight
        return feats.to(w.device, w.dtype) @ w.T


def make_extractor(features: str, weights, train_ds, test_ds=None):
    """The feature extractor named by ``--features``: ``genlab`` (the dataset's own classifier) or ``inception``."""
    if features == "genlab":
        if weights is not None:
            raise ConfigError("--weights is for --features inception; genlab's own extractors are shipped or "
                              "trained on your data automatically")
        from .features import get_feature_extractor

        return get_feature_extractor(train_ds, test_data=test_ds)
    if features == "inception":
        if weights is None:
            raise ConfigError("--features inception needs --weights PATH (the Inception-v3 weights file; genlab "
                              "does not download them)")
        return InceptionFeatures(weights)
    raise ConfigError(f"unknown --features {features!r}: choose genlab or inception")
