"""Reader for IDX files, the format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout: two zero bytes, a dtype code, the number of dims, one big-endian uint32 per dim, then the payload.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _corrupt(path: Path, what: str) -> DataError:
    return DataError(f"{path} is truncated or corrupt ({what}); delete it and download it again")


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (``.gz`` or raw, detected from its first bytes) into a numpy array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"could not read {path}: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise _corrupt(path, f"broken gzip stream: {e}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise _corrupt(path, "bad magic number, not an IDX file")
    code, ndim = raw[2], raw[3]
    if code not in DTYPES:
        raise _corrupt(path, f"unknown IDX dtype code 0x{code:02x}")
    if not 1 <= ndim <= 4 or len(raw) < 4 + 4 * ndim:
        raise _corrupt(path, f"bad header with {ndim} dims")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(DTYPES[code])
    start = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - start != expected:
        raise _corrupt(path, f"header says {dims} = {expected} bytes of data, file has {len(raw) - start}")
    return np.frombuffer(raw, dtype, offset=start).reshape(dims).astype(dtype.newbyteorder("="))  # writable copy
