"""Several processes (CPUs, GPUs, nodes) through ``torch.distributed``, launched by ``torchrun``.

Design (see docs/distributed.md):

- every rank builds the same model from the same seed, then rank 0's parameters and buffers are broadcast, so
  all ranks start identical;
- each rank trains on a disjoint shard of every epoch's batches: the same permutation (the trainer's data
  generator, same seed everywhere), rank ``r`` takes the ``r``-th slice of ``batch_size`` examples out of each
  global batch of ``world_size * batch_size``; ``batch_size`` is per process;
- instead of wrapping networks in ``DistributedDataParallel``, the trainer averages (all-reduces) the gradients
  of an optimiser's parameters right before that optimiser steps, in one flat bucket per optimiser. That is the
  arithmetic DDP performs in every backward, but it holds for any update order: GANs alternating D and G
  updates, several critic steps per generator step, losses that back-propagate through both players; no
  ``no_sync`` bookkeeping. The same bucket carries a "non-finite loss" flag, so divergence on any rank stops
  every rank at the same update;
- after every step rank 0's buffers (BatchNorm statistics, spectral-norm vectors) are broadcast, as DDP's
  default ``broadcast_buffers=True`` does, together with a stop flag (SIGINT/SIGTERM on any rank, a non-finite
  logged value) so all ranks stop at the same step and rank 0 saves;
- EMA, logs, previews, validation and checkpoints come from rank 0 only; weights are identical on all ranks,
  so a checkpoint does not depend on the world size.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from ..errors import ConfigError, GenlabError, RunError

_OWNED = False  # this module called init_process_group (and so destroys it)


# ----------------------------------------------------------------------------- world
def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment (0, 1, 0 outside it)."""
    def num(key: str, default: int) -> int:
        try:
            return int(os.environ.get(key, default) or default)
        except ValueError:
            raise ConfigError(f"${key}={os.environ[key]!r} is not a number (set by torchrun; unset it for one process)") from None

    return num("RANK", 0), num("WORLD_SIZE", 1), num("LOCAL_RANK", 0)


def active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def rank() -> int:
    return torch.distributed.get_rank() if active() else 0


def world_size() -> int:
    return torch.distributed.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def setup(device: str = "auto") -> bool:
    """Join the process group when launched with WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA); True when in one."""
    global _OWNED
    if active():
        return True
    r, w, _ = env_world()
    if w <= 1:
        return False
    if not torch.distributed.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise ConfigError(f"WORLD_SIZE={w} but ${' and $'.join(missing)} (the rendezvous endpoint) is not set; launch "
                          "with torchrun (--standalone on one node, --rdzv-endpoint HOST:PORT on several)")
    if not 0 <= r < w:
        raise ConfigError(f"RANK={r} is outside WORLD_SIZE={w}")
    cuda = torch.cuda.is_available() and device != "cpu" and not device.startswith("cpu")
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(device_for(device))
    try:
        torch.distributed.init_process_group(backend=backend)
    except Exception as e:  # a wrong endpoint, a port in use, a peer that never came
        raise ConfigError(f"could not join the torch.distributed group ({backend}, "
                          f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}): {str(e).splitlines()[0]}") from None
    _OWNED = True
    return True


def cleanup() -> None:
    global _OWNED
    if _OWNED and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _OWNED = False


def device_for(name: str) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for a CUDA run under torchrun, else ``name``."""
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", env_world()[2] % max(1, torch.cuda.device_count()))
    return torch.device("cpu") if name == "auto" else torch.device(name)


def barrier() -> None:
    if active():
        torch.distributed.barrier()


def main_first(fn):
    """Run ``fn`` on rank 0 while the others wait; a genlab error there is raised on every rank (one line each)."""
    if not active():
        return fn()
    err, out = None, None
    if is_main():
        try:
            out = fn()
        except GenlabError as e:
            err = (type(e).__name__, str(e))
        except BaseException as e:
            err = ("RunError", f"rank 0 failed during setup: {type(e).__name__}: {e}")
    box = [err]
    torch.distributed.broadcast_object_list(box, src=0)
    if box[0] is not None:
        from .. import errors

        cls = getattr(errors, box[0][0], RunError)
        raise cls(box[0][1])
    return out


# ----------------------------------------------------------------------------- weights and gradients
def broadcast_tensors(tensors: list[torch.Tensor], src: int = 0) -> None:
    """Rank ``src``'s values into ``tensors`` on every rank (one flat bucket per dtype and device)."""
    if not active() or not tensors:
        return
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    groups: dict = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for ts in groups.values():
        flat = _flatten_dense_tensors([t.detach() for t in ts])
        torch.distributed.broadcast(flat, src)
        with torch.no_grad():
            for t, v in zip(ts, _unflatten_dense_tensors(flat, ts)):
                t.copy_(v)


def broadcast_module(module: torch.nn.Module) -> None:
    broadcast_tensors(list(module.parameters()) + [b for b in module.buffers() if b.numel()])


def average_gradients(params: list[torch.Tensor], bad_loss: bool) -> bool:
    """Average the gradients of ``params`` over the ranks in place (one all-reduce); True when any rank's loss
    was non-finite. A parameter without a gradient on every rank keeps none (so Adam skips it, as on one
    process); with a gradient on some ranks it gets the average, those without counting as zero (as DDP)."""
    if not params:
        flag = torch.tensor([float(bad_loss)])
        torch.distributed.all_reduce(flag)
        return bool(flag.item() > 0)
    dev, dtype = params[0].device, torch.float32
    parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1).to(dtype) for p in params]
    has = torch.tensor([float(p.grad is not None) for p in params] + [float(bad_loss)], device=dev, dtype=dtype)
    bucket = torch.cat(parts + [has])
    torch.distributed.all_reduce(bucket)
    if bucket[-1].item() > 0:
        return True
    present = bucket[-1 - len(params):-1]
    bucket = bucket[:-1 - len(params)] / world_size()
    i = 0
    for p, seen in zip(params, present.tolist()):
        n = p.numel()
        if seen > 0:
            g = bucket[i:i + n].view_as(p).to(p.dtype)
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)
        i += n
    return False


def step_sync(module: torch.nn.Module, stop: bool, bad: bool, over: bool = False) -> tuple[bool, bool, bool]:
    """End of a step: (any rank asked to stop, any rank saw a non-finite value, any rank is over its time
    budget), in one all-reduce; then rank 0's buffers to all."""
    flags = torch.tensor([float(stop), float(bad), float(over)],
                         device=next(iter(module.parameters()), torch.empty(0)).device)
    torch.distributed.all_reduce(flags)
    broadcast_tensors([b for b in module.buffers() if b.numel() and b.is_floating_point()])
    return bool(flags[0].item() > 0), bool(flags[1].item() > 0), bool(flags[2].item() > 0)


# ----------------------------------------------------------------------------- data shards
def global_batch(n: int, batch_size: int, world: int) -> tuple[int, int]:
    """(examples per global batch, per rank) for ``n`` examples: ``world * batch_size``, less for tiny data."""
    if n < world:
        raise ConfigError(f"the training data has {n} examples, fewer than the {world} processes; "
                          "use fewer processes (each needs at least one example per step)")
    per = min(batch_size, n // world)
    return per * world, per


def shard_batches(ds, batch_size: int, *, generator, device, start: int, world: int, rank_: int):
    """This rank's batches of one epoch: the same permutation on every rank (``generator``), the ``rank_``-th
    slice of each global batch; batches from ``start`` (exact resume)."""
    n = len(ds)
    gb, per = global_batch(n, batch_size, world)
    data = ds._on(device)
    order = torch.randperm(n, generator=generator)
    for b in range(start, n // gb):
        idx = order[b * gb + rank_ * per: b * gb + (rank_ + 1) * per].to(device)
        batch = {k: v.index_select(0, idx) for k, v in data.items()}
        yield ds.transform(batch) if ds.transform else batch


# ----------------------------------------------------------------------------- sharded sampling
def shard_seeds(seed: int, shards: int) -> list[int]:
    """One 63-bit seed per shard from ``seed`` (NumPy SeedSequence children: independent, distinct streams)."""
    import numpy as np

    seeds = [int(c.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1)) for c in np.random.SeedSequence(seed).spawn(shards)]
    if len(set(seeds)) != len(seeds):  # 2^-63 odds; refuse rather than write correlated shards
        raise RunError("shard seeds collided; use another --seed")
    return seeds


def is_folder_output(output: str | None) -> bool:
    """``-o rows/``: a name ending in a slash asks for shards (an existing folder without one stays an error)."""
    return output is not None and str(output).endswith(("/", os.sep))


def sample_shards(model, n: int, folder: str | Path, *, seed: int, shards: int | None, label: int | None,
                  options: dict, device: torch.device, echo=print) -> Path:
    """Write ``n`` samples as shards ``part-00000.*`` in ``folder`` plus ``manifest.json``: shard ``k`` holds
    rows ``k`` of an even split, drawn with seed ``shard_seeds(seed, K)[k]``. Under torchrun rank ``r``
    writes the shards ``k`` with ``k % world == r``; alone, one process writes them one after another."""
    import json

    from .checkpoint import now, write_json_atomic
    from ..sampling import check_count, sample_to_file

    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"-o {folder} is a file; a folder (ending in /) receives the shards")
    world, r = world_size(), rank()
    k_total = shards or world
    if not 1 <= k_total <= 100_000:
        raise ConfigError(f"--shards must be between 1 and 100000, got {k_total}")
    if k_total > n:
        raise ConfigError(f"{k_total} shards for {n} samples: every shard needs at least one sample; use fewer shards")
    from ..modalities import get_modality

    suffix = get_modality(model.info.modality).shard_suffix
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            suffix = ".csv"
    check_count(model.info, n)
    seeds = shard_seeds(seed, k_total)
    rows = [n // k_total + (k < n % k_total) for k in range(k_total)]
    names = [f"part-{k:05d}{suffix}" for k in range(k_total)]

    def prepare():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"-o {folder}: cannot create the folder: {e.strerror}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"-o {folder} is not writable")
        (folder / "manifest.json").unlink(missing_ok=True)  # a manifest only once every shard is written

    main_first(prepare)
    for k in range(r, k_total, world):
        gen = torch.Generator(device=device).manual_seed(seeds[k])
        sample_to_file(model, rows[k], folder / names[k], label=label, generator=gen, options=options,
                       progress=False)
    barrier()
    if is_main():
        manifest = {"model": getattr(model, "name", None), "rows": n, "seed": seed, "shards": [
            {"file": names[k], "rows": rows[k], "seed": seeds[k]} for k in range(k_total)],
            "world_size": world, "label": label, "options": {k: v for k, v in options.items() if v is not None},
            "created": now()}
        write_json_atomic(folder / "manifest.json", json.loads(json.dumps(manifest, default=str)))
        echo(f"wrote {n} samples as {k_total} shards to {folder} (manifest.json lists them)")
    return folder


# ----------------------------------------------------------------------------- `genlab train --nproc N`
def strip_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    return out


def check_nproc(nproc: int, device: str | None) -> None:
    if nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {nproc}")
    cuda = device is not None and device.startswith("cuda")
    if cuda:
        count = torch.cuda.device_count()
        if nproc > count:
            raise ConfigError(f"--nproc {nproc} with --device cuda needs {nproc} GPUs; PyTorch sees {count}")
    else:
        cores = os.cpu_count() or 1
        if nproc > cores:
            raise ConfigError(f"--nproc {nproc} is more than the {cores} CPU cores of this machine; use at most "
                              f"{cores} (or --device cuda with one process per GPU)")
    if env_world()[1] > 1:
        raise ConfigError("--nproc is for launching from a plain shell; this process already runs under torchrun")


def launch(argv: list[str], nproc: int, threads: int | None) -> int:
    """Run ``genlab ARGV`` under torchrun (``python -m genlab.training.launch --standalone --nproc-per-node N``:
    torchrun's ``run``, ending a failure with the failed rank's one line, see genlab/training/launch.py); signals
    are forwarded to the launcher (which stops every rank with a final checkpoint); returns its exit code."""
    cmd = [sys.executable, "-m", "genlab.training.launch", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "genlab", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads or 1)}
    # its own session: a terminal's Ctrl-C reaches only us, and we pass one signal on (the ranks then get one)
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)

    signalled = []

    def forward(signum, frame):
        signalled.append(signum)
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                rc = proc.wait()
                # stopped by a signal: the ranks saved and exited 130; torchrun itself reports a failure
                return 130 if signalled and rc != 0 else rc
            except KeyboardInterrupt:
                continue
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if proc.poll() is None:  # we are leaving (an exception): no orphan launcher behind us
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


__all__ = ["setup", "cleanup", "active", "rank", "world_size", "is_main", "barrier", "main_first",
           "broadcast_module", "average_gradients", "step_sync", "shard_batches", "sample_shards", "launch",
           "global_batch", "shard_seeds"]
