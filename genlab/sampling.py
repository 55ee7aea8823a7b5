"""Drawing many samples with bounded memory: sample in chunks and write each chunk as it comes.

:func:`sample_to_file` is what ``genlab sample`` runs. Before any sample is drawn it checks the output path
(the folder exists or can be made, is writable, the suffix suits the data) and the size (``n`` within what the
format can hold, the output within the free disk space); then it samples ``chunk`` examples at a time and
appends them to the file, so memory stays that of one chunk whatever ``n`` is:

- images: ``.npz`` (uint8 array ``x`` streamed into the archive, labels ``y``), ``.png`` (one grid, so only for
  grid-sized ``n``);
- vectors: ``.npz``, ``.csv`` (rows appended), ``.png`` (a scatter plot, bounded ``n``);
- tables: ``.csv`` / ``.tsv`` (rows appended, formatted by the table writer), ``.parquet`` (one row group per
  chunk);
- text: ``.txt`` (or ``-`` for the terminal), written sample by sample;
- anything else: the modality's own writer, with ``n`` capped.

Samples holding NaN or infinity are refused (a diverged or damaged model), as ``genlab evaluate`` does.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import ConfigError, RunError
from .modalities import get_modality

MAX_SAMPLES = 100_000_000  # no format or use of genlab needs more in one call
GRID_MAX_IMAGES = 4096  # a .png grid: 64 x 64 cells
GRID_MAX_PIXELS = 64 * 2**20
SCATTER_MAX_POINTS = 1_000_000
GATHER_MAX_BYTES = 512 * 2**20  # formats written in one piece hold at most this much in memory
CHUNK_BYTES = 16 * 2**20  # float32 bytes of one chunk of samples
MAX_CHUNK = 4096

def suffixes(modality: str) -> tuple[str, ...]:
    """The output files samples of ``modality`` can be written as (its record in ``genlab/modalities/``)."""
    return get_modality(modality).suffixes


def default_suffix(modality: str) -> str:
    """The file kind samples of ``modality`` are written as when no ``-o`` is given (also training previews)."""
    return get_modality(modality).default_suffix


def _human(n: float) -> str:
    from .training.checkpoint import human_bytes

    return human_bytes(n)


def sample_bytes(info) -> tuple[int, int]:
    """(bytes one sample takes as float32 in memory, bytes it takes in the output file, roughly)."""
    d = math.prod(info.shape) if info.shape else 1
    if info.modality == "image":
        return 4 * d, d
    if info.modality == "text":
        return 4 * d, 4 * d
    if info.modality == "table":
        cols = len(info.meta.get("columns", [])) or d
        return 4 * d + 64 * cols, 16 * cols
    return 4 * d, 12 * d if info.modality == "vector" else 4 * d


def chunk_size(info, n: int) -> int:
    mem, _ = sample_bytes(info)
    return max(1, min(n, MAX_CHUNK, CHUNK_BYTES // max(1, mem)))


# ----------------------------------------------------------------------------- checks before sampling


def check_output_path(path: str | Path, modality: str) -> Path:
    """The output file as a Path, after checking (without sampling) that it can be written: a known suffix for
    the modality, a parent folder that is a folder (created when missing) and writable, not a folder itself."""
    if str(path) == "-":
        if not get_modality(modality).terminal:
            raise ConfigError(f"-o - (the terminal) is for text samples; {modality} samples need a file")
        return Path("-")
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"-o {path} is a folder; give a file name, e.g. {path / ('samples' + default_suffix(modality))}")
    suffix = path.suffix.lower()
    allowed = suffixes(modality)
    if suffix not in allowed:
        names = ", ".join(s or "no suffix" for s in allowed)
        raise ConfigError(f"{modality} samples are written as {names}, not {path.suffix or 'no suffix'} ({path})")
    parent = path.parent
    existing = next((p for p in [parent, *parent.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"-o {path}: {existing} is a file, not a folder")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"-o {path}: cannot create the folder {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"-o {path}: {path if path.exists() else parent} is not writable")
    return path


def check_count(info, n: int, path: Path | None = None, what: str = "samples") -> None:
    """Refuse, before sampling, an ``n`` the output format cannot hold or that is above the sane cap, with
    the size it would take."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"-n must be a positive number of {what}, got {n!r}")
    mem, out = sample_bytes(info)
    if n > MAX_SAMPLES:
        raise ConfigError(f"-n {n:,} is above the limit of {MAX_SAMPLES:,} {what} per call "
                          f"({_human(n * out)} of output, {_human(n * mem)} as float32); draw them in several calls")
    if path is None or str(path) == "-":
        return
    suffix = path.suffix.lower()
    if info.modality == "image" and suffix == ".png":
        c, h, w = (tuple(info.shape) + (1, 1, 1))[:3]
        side = math.ceil(math.sqrt(n))
        cell = max(h, w, 28) + 2
        pixels = (side * cell) ** 2
        if n > GRID_MAX_IMAGES or pixels > GRID_MAX_PIXELS:
            raise ConfigError(f"a .png grid of {n:,} images would be {side * cell:,} x {side * cell:,} pixels; a grid "
                              f"holds at most {GRID_MAX_IMAGES:,} images (or {GRID_MAX_PIXELS // 2**20}M pixels). "
                              "Write .npz for more")
    elif info.modality == "vector" and suffix == ".png" and n > SCATTER_MAX_POINTS:
        raise ConfigError(f"a scatter plot of {n:,} points is unreadable; at most {SCATTER_MAX_POINTS:,} "
                          "(write .npz or .csv for more)")
    elif not get_modality(info.modality).streamed and n * mem > GATHER_MAX_BYTES:
        raise ConfigError(f"{n:,} {info.modality} samples would take {_human(n * mem)} in memory; at most "
                          f"{_human(GATHER_MAX_BYTES)} per call")
    elif info.modality == "words" and suffix == ".npz" and n * mem > GATHER_MAX_BYTES:
        raise ConfigError(f"{n:,} samples as .npz would take {_human(n * mem)} in memory; write .txt for more")
    try:
        free = shutil.disk_usage(path.parent if str(path.parent) else ".").free
    except OSError:
        return
    if n * out > free:
        raise ConfigError(f"{n:,} {what} would take about {_human(n * out)} in {path}, more than the "
                          f"{_human(free)} free on that disk")


def check_eval_count(info, n: int, copies: int = 3) -> None:
    """Evaluation holds its samples (and features of them) in memory: refuse ``n`` that cannot fit."""
    from .training.checkpoint import available_memory

    check_count(info, n)
    mem, _ = sample_bytes(info)
    need, avail = n * mem * copies, available_memory()
    if need > 0.5 * avail:
        raise ConfigError(f"evaluating {n:,} samples needs about {_human(need)} of memory (samples and their "
                          f"features), more than half of the {_human(avail)} available; use a smaller -n "
                          "(10,000 is the usual count for FID-type metrics)")


# ----------------------------------------------------------------------------- streaming writers


class _NpyStream:
    """One array member of a .npz archive written chunk by chunk (the header holds the final shape)."""

    def __init__(self, zf: zipfile.ZipFile, name: str, dtype, shape: tuple[int, ...]):
        self.f = zf.open(name + ".npy", "w", force_zip64=True)
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_2_0(self.f, header)
        self.dtype, self.rows, self.expected = np.dtype(dtype), 0, shape[0]

    def write(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a, dtype=self.dtype)
        self.f.write(a.tobytes())
        self.rows += len(a)

    def close(self) -> None:
        self.f.close()
        if self.rows != self.expected:
            raise RuntimeError(f"wrote {self.rows} rows of {self.expected}")


class _NpzWriter:
    def __init__(self, path: Path, n: int, info, labels: bool, dtype):
        self.path, self.n, self.info, self.dtype, self.labels = path, n, info, dtype, labels
        self.tmp = path.with_name(f".{path.name}.part")
        self.zf = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True)
        self.x = _NpyStream(self.zf, "x", dtype, (n, *info.shape))
        self.ys: list[np.ndarray] = []

    def write(self, x, y) -> None:
        x = x.detach().float().cpu()
        if self.dtype == np.uint8:
            x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        self.x.write(x.numpy())
        if y is not None:
            self.ys.append(y.cpu().numpy())

    def close(self) -> None:
        self.x.close()
        if self.ys:
            with self.zf.open("y.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.concatenate(self.ys), allow_pickle=False)
        self.zf.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        for f in (self.x.f, self.zf):
            try:
                f.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)


class _AppendWriter:
    """Text formats (CSV, TSV, text): each chunk formatted by ``fmt(samples, labels, first_index)`` and appended."""

    def __init__(self, path: Path, fmt: Callable):
        self.path, self.fmt, self.i = path, fmt, 0
        self.stdout = str(path) == "-"
        self.tmp = None if self.stdout else path.with_name(f".{path.name}.part")
        self.f = sys.stdout if self.stdout else open(self.tmp, "w", encoding="utf-8", newline="")

    def write(self, x, y) -> None:
        text, count = self.fmt(x, y, self.i)
        self.f.write(text)
        self.f.flush()
        self.i += count

    def close(self) -> None:
        if not self.stdout:
            self.f.close()
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if not self.stdout:
            self.f.close()
            self.tmp.unlink(missing_ok=True)


class _ParquetWriter:
    def __init__(self, path: Path):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("writing .parquet needs pyarrow: pip install pyarrow") from None
        self.path, self.tmp, self.writer, self.schema = path, path.with_name(f".{path.name}.part"), None, None

    def write(self, df, y) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        else:
            table = table.cast(self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


class _GatherWriter:
    """Formats written in one piece (a .png grid, a scatter plot, other modalities): bounded by check_count."""

    def __init__(self, path: Path, info):
        self.path, self.info, self.parts, self.labels = path, info, [], []

    def write(self, x, y) -> None:
        self.parts.append(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
        if y is not None:
            self.labels.append(y.cpu())

    def close(self) -> None:
        from .outputs import write_samples

        p = self.parts
        if isinstance(p[0], torch.Tensor):
            x = torch.cat(p)
        elif isinstance(p[0], list):
            x = [s for part in p for s in part]
        else:
            try:
                import pandas as pd

                x = pd.concat(p, ignore_index=True) if isinstance(p[0], pd.DataFrame) else p[0]
            except ImportError:
                x = p[0]
        write_samples(x, self.path, self.info, torch.cat(self.labels) if self.labels else None)

    def abort(self) -> None:
        pass


def _csv_vectors(info, sep=","):
    def fmt(x, y, i0):
        import io

        a = x.detach().float().cpu().numpy()
        buf = io.StringIO()
        if i0 == 0:
            cols = [f"x{j}" for j in range(a.shape[1])] + (["label"] if y is not None else [])
            buf.write(sep.join(cols) + "\n")
        table = a if y is None else np.column_stack([a, y.cpu().numpy()])
        np.savetxt(buf, table, delimiter=sep, fmt=["%.7g"] * a.shape[1] + (["%d"] if y is not None else []))
        return buf.getvalue(), len(a)

    return fmt


def _csv_table(info, path: Path):
    """Chunks written by the table writer to a scratch file (so every column is formatted as in the input),
    appended without repeating the header."""
    from .outputs import write_samples

    scratch = path.with_name(f".{path.name}.chunk{path.suffix}")

    def fmt(df, y, i0):
        write_samples(df, scratch, info)
        text = scratch.read_text(encoding="utf-8")
        scratch.unlink(missing_ok=True)
        if i0 > 0:
            text = text.split("\n", 1)[1] if "\n" in text else ""
        return text, len(df)

    return fmt


def _text(n: int):
    def fmt(samples, y, i0):
        samples = [samples] if isinstance(samples, str) else samples
        if n == 1:
            s = samples[0]
            return (s if s.endswith("\n") else s + "\n"), 1
        return "".join(f"----- sample {i0 + i} -----\n{s}\n" for i, s in enumerate(samples)), len(samples)

    return fmt


def _words(samples, y, i0):
    if isinstance(samples, torch.Tensor):
        raise TypeError
    return "".join(s + "\n" for s in samples), len(samples)


def _writer(path: Path, info, n: int, labels: bool):
    suffix = path.suffix.lower()
    m = info.modality
    if m in ("image", "vector") and suffix == ".npz":
        return _NpzWriter(path, n, info, labels, np.uint8 if m == "image" else np.float32)
    if m == "vector" and suffix == ".csv":
        return _AppendWriter(path, _csv_vectors(info))
    if m == "table" and suffix in (".csv", ".tsv"):
        return _AppendWriter(path, _csv_table(info, path))
    if m == "table" and suffix in (".parquet", ".pq"):
        return _ParquetWriter(path)
    if m == "text":
        return _AppendWriter(path, _text(n))
    if m == "words" and suffix in (".txt", ""):
        return _AppendWriter(path, _words)
    return _GatherWriter(path, info)


# ----------------------------------------------------------------------------- sampling


def check_finite(x, what: str = "the model") -> None:
    """Refuse samples holding NaN or infinity (tensors, or the numeric columns of a table)."""
    bad = False
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        bad = not bool(torch.isfinite(x).all())
    elif hasattr(x, "select_dtypes"):
        num = x.select_dtypes(include=["number"]).to_numpy(dtype=float, na_value=0.0)
        bad = num.size > 0 and not np.isfinite(num).all()
    if bad:
        raise RunError(f"{what} produced NaN or infinite samples (its weights or sampling settings are broken); "
                       "nothing was written. Check `genlab info` for a diverged run, or retrain with a lower train.lr")


def sample_to_file(model, n: int, path: str | Path, *, label: int | None = None, generator=None,
                   options: dict | None = None, chunk: int | None = None, progress: bool | None = None) -> Path:
    """Draw ``n`` samples from ``model`` in chunks and write them to ``path`` as they come (see module doc)."""
    info = model.info
    path = check_output_path(path, info.modality)
    check_count(info, n, path)
    chunk = chunk or chunk_size(info, n)
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    writer = _writer(path, info, n, label is not None)
    from tqdm.auto import tqdm

    bar = tqdm(total=n, disable=(True if n <= chunk else None) if progress is None else not progress, unit="sample",
               desc=f"sampling {getattr(model, 'name', '')}".strip(), dynamic_ncols=True, file=sys.stderr)
    try:
        done = 0
        while done < n:
            k = min(chunk, n - done)
            labels = None if label is None else torch.full((k,), int(label), dtype=torch.long)
            with torch.no_grad():
                x = model.sample(k, labels=labels, generator=generator, **opts)
            check_finite(x, f"model {getattr(model, 'name', '')!r}")
            writer.write(x, labels)
            done += k
            bar.update(k)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    return path


__all__ = ["sample_to_file", "check_output_path", "check_count", "check_eval_count", "check_finite", "chunk_size"]
