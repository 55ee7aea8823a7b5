"""Raw audio: a WAV file or a folder of them, resampled and µ-law encoded to 256 levels.

Clips are read with ``soundfile`` (any PCM or float WAV, 8 to 32 bit), mixed down to mono when they have
several channels and resampled to ``data.sample_rate`` with a polyphase filter (``scipy.signal``); both are
said on the terminal, never done silently. Each clip becomes µ-law codes (uint8, 0..255); whole clips are
held out for validation. A dataset holds the start of every window of ``data.block_size + 1`` codes and
gathers windows for a batch in one indexing operation (as for text). Sub-folders, when every clip is in
one, are classes (e.g. instruments) for conditional models.
"""
from __future__ import annotations

import functools
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import Batch, DataInfo, TensorDataset
from .images import holdout_indices

MU = 255
AUDIO_EXTS = (".wav", ".flac")


def mu_law_encode(x: torch.Tensor | np.ndarray, mu: int = MU):
    """Float audio in [-1, 1] -> integer codes 0..mu (µ-law companding, then uniform quantisation)."""
    x = torch.as_tensor(x, dtype=torch.float32).clamp(-1, 1)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).floor().long().clamp(0, mu)


def mu_law_decode(codes: torch.Tensor | np.ndarray, mu: int = MU) -> torch.Tensor:
    """Integer codes 0..mu -> float audio in [-1, 1] (the centre of each code's interval)."""
    y = torch.as_tensor(codes).float() / mu * 2 - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


def read_wav(path: Path, sample_rate: int, notes: list[str] | None = None) -> np.ndarray:
    """A clip as float32 mono at ``sample_rate``; mix-down and resampling are added to ``notes``."""
    import soundfile

    try:
        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as e:
        raise DataError(f"could not read audio file {path}: {e}") from None
    if data.size == 0:
        raise DataError(f"audio file {path} holds no samples")
    if not np.isfinite(data).all():
        raise DataError(f"audio file {path} holds NaN or infinite samples")
    if data.shape[1] > 1:
        if notes is not None:
            notes.append(f"{path.name}: {data.shape[1]} channels mixed down to mono")
        data = data.mean(1, keepdims=True)
    x = data[:, 0]
    if sr != sample_rate:
        from scipy.signal import resample_poly

        if notes is not None:
            notes.append(f"{path.name}: resampled from {sr} Hz to {sample_rate} Hz")
        r = Fraction(sample_rate, sr).limit_denominator(1000)
        x = resample_poly(x, r.numerator, r.denominator).astype(np.float32)
    return np.clip(x, -1, 1)


def _audio_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTS and not p.name.startswith("."))
        if not files:
            raise DataError(f"no audio files (.wav, .flac) found in {path}")
        return files
    raise DataError(f"audio data {str(path)!r} not found: give a .wav file or a folder of them")


@functools.lru_cache(maxsize=4)
def _clips(name: str, sample_rate: int, val_fraction: float, mtime: float):
    root = Path(name).expanduser()
    files = _audio_files(root)
    notes: list[str] = []
    clips = [mu_law_encode(read_wav(f, sample_rate, notes)).to(torch.uint8) for f in files]
    for line in dict.fromkeys(notes):  # once per distinct note
        print(f"note: {line}", file=sys.stderr)
    parents = {f.parent for f in files}
    classes = sorted({f.parent.name for f in files}) if root.is_dir() and len(parents) > 1 and all(
        f.parent.parent == root for f in files) else []
    labels = [classes.index(f.parent.name) if classes else 0 for f in files]
    return clips, labels, classes, notes


def audio_split(cfg: DataConfig, split: str):
    """(clips as µ-law codes, labels, class names, notes) of ``split`` of ``cfg.name``."""
    if not 1000 <= cfg.sample_rate <= 96000:
        raise ConfigError(f"data.sample_rate must be 1000..96000 Hz, got {cfg.sample_rate}")
    root = Path(cfg.name).expanduser()
    clips, labels, classes, notes = _clips(cfg.name, cfg.sample_rate, cfg.val_fraction,
                                           root.stat().st_mtime if root.exists() else 0.0)
    if len(clips) == 1:  # one long clip: its last val_fraction is held out
        c = clips[0]
        cut = len(c) - max(1, round(len(c) * cfg.val_fraction))
        return [c[:cut] if split == "train" else c[cut:]], [0], classes, notes
    idx = holdout_indices(len(clips), cfg.val_fraction, split)
    return [clips[i] for i in idx], [labels[i] for i in idx], classes, notes


def load_audio(cfg: DataConfig, split: str) -> TensorDataset:
    clips, labels, classes, notes = audio_split(cfg, split)
    t = cfg.block_size
    starts, ys, stream, offset = [], [], [], 0
    for c, y in zip(clips, labels):
        if len(c) > t:
            s = torch.arange(0, len(c) - t, t if split != "train" else max(1, t // 2), dtype=torch.int64) + offset
            starts.append(s)
            ys.append(torch.full_like(s, y))
        stream.append(c)
        offset += len(c)
    if not starts:
        longest = max(len(c) for c in clips)
        raise DataError(f"every {split} clip of {cfg.name} is shorter than data.block_size + 1 = {t + 1} samples "
                        f"(longest: {longest}); lower data.block_size")
    stream = torch.cat(stream)
    meta = {"sample_rate": cfg.sample_rate, "block_size": t, "mu": MU, "notes": notes}
    info = DataInfo("audio", (t,), name=Path(cfg.name).name, num_classes=len(classes), class_names=classes or None,
                    meta=meta)

    on_device: dict[str, torch.Tensor] = {}

    def transform(batch: Batch) -> Batch:
        s = batch["start"]
        key = str(s.device)
        if key not in on_device:
            on_device[key] = stream.to(s.device).long()
        out = {"x": on_device[key][s[:, None] + torch.arange(t + 1, device=s.device)]}
        if "y" in batch:
            out["y"] = batch["y"]
        return out

    tensors = {"start": torch.cat(starts)}
    if classes:
        tensors["y"] = torch.cat(ys)
    return TensorDataset(tensors, info, transform=transform)


# ----------------------------------------------------------------------------- writing


def spectrogram_png(wave: np.ndarray, sample_rate: int, path) -> None:
    from matplotlib.figure import Figure
    from scipy.signal import spectrogram

    f, t, s = spectrogram(wave, fs=sample_rate, nperseg=256, noverlap=192)
    fig = Figure(figsize=(8, 3), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.pcolormesh(t, f, 10 * np.log10(s + 1e-10), shading="auto")
    ax.set_xlabel("seconds")
    ax.set_ylabel("Hz")
    fig.tight_layout()
    fig.savefig(path)


def write_audio(samples: torch.Tensor, path: Path, info: DataInfo, labels=None) -> None:
    """Float waveforms (n, L) in [-1, 1]: ``.wav`` (one after another, 0.25 s apart), ``.png`` spectrogram,
    or ``.npz`` (``x`` float32 (n, L) and the sample rate)."""
    import soundfile

    suffix = path.suffix.lower()
    sr = int(info.meta["sample_rate"])
    x = torch.as_tensor(samples).detach().float().cpu().reshape(len(samples), -1).clamp(-1, 1).numpy()
    if suffix == ".npz":
        np.savez_compressed(path, x=x, sample_rate=np.array(sr))
        return
    gap = np.zeros(sr // 4, dtype=np.float32)
    joined = np.concatenate([np.concatenate([row, gap]) for row in x])
    if suffix == ".wav":
        soundfile.write(str(path), joined, sr, subtype="PCM_16")
    elif suffix == ".png":
        spectrogram_png(joined, sr, path)
    else:
        raise ConfigError(f"audio samples are written as .wav, .png (spectrogram) or .npz, not {suffix or 'no suffix'}")
