"""What the machine offers and how training uses it: CPU threads and bf16 mixed precision.

Threads: ``--threads`` / ``train.threads`` sets torch's intra-op threads before any work. Without it the
command line uses ``$OMP_NUM_THREADS`` when set, else the physical cores (one per process under
``torch.distributed``), so jobs sharing a machine do not oversubscribe it when each is given its share; the
Python API leaves torch's own setting alone unless ``threads`` is given.

Precision: ``train.precision = auto | fp32 | bf16``. ``auto`` is bf16 where the hardware computes it natively
(a CPU with AMX or AVX-512-BF16, a CUDA GPU with bf16) and fp32 elsewhere. Under bf16, autocast is on only
inside the forward passes of the model's networks (:class:`MixedPrecision`), where it runs matrix products and
convolutions in bf16; each network hands back fp32 tensors, so everything the model computes from them
(losses, log-likelihoods, log-softmax over vocabularies, KL terms, running statistics) is fp32. Spectral-norm
estimates, normalisation statistics, EMA weights and optimiser state stay fp32; the weights are never cast
(autocast makes bf16 copies per forward); backward passes and optimiser steps run outside autocast.
"""
from __future__ import annotations

import os
from functools import lru_cache

import torch

PRECISIONS = ("auto", "fp32", "bf16")


# ----------------------------------------------------------------------------- threads
@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once)."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        allowed = set(range(os.cpu_count() or 1))
    cores, cpu, phys = set(), None, "0"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "processor":
                    cpu = int(value)
                elif key == "physical id":
                    phys = value
                elif key == "core id" and cpu in allowed:
                    cores.add((phys, value))
    except (OSError, ValueError):
        cores = set()
    return max(1, min(len(cores) or len(allowed), len(allowed)))


def distributed_world() -> bool:
    """True inside a multi-process ``torch.distributed`` job (launched by torchrun or initialised)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size() > 1
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def default_threads() -> int:
    return 1 if distributed_world() else physical_cores()


def set_threads(n: int | None) -> int:
    """Use ``n`` intra-op CPU threads (None: :func:`default_threads`); returns the number set."""
    n = default_threads() if n is None else int(n)
    if n < 1:
        from ..errors import ConfigError

        raise ConfigError(f"threads must be >= 1, got {n}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# ----------------------------------------------------------------------------- precision
def _cpuinfo_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """The CPU computes bf16 natively (AMX tiles or AVX-512-BF16), so bf16 autocast is a speed-up."""
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        f = getattr(torch.cpu, probe, None)
        if f is not None:
            try:
                if f():
                    return True
            except Exception:  # noqa: BLE001 - a probe that fails means "not known to be there"
                pass
    return bool({"amx_bf16", "avx512_bf16"} & _cpuinfo_flags())


def resolve_precision(precision: str, device: torch.device, amp: bool | None = None) -> str:
    """``fp32`` or ``bf16`` for ``train.precision`` on ``device``; ``amp`` is the old flag of old run folders."""
    if precision not in PRECISIONS:
        from ..errors import ConfigError

        raise ConfigError(f"train.precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "auto" and amp is False:
        return "fp32"  # a run written before train.precision existed: it trained in fp32
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"


def _to_fp32(out):
    if isinstance(out, torch.Tensor):
        return out.float() if out.dtype in (torch.bfloat16, torch.float16) else out
    if isinstance(out, tuple) and hasattr(out, "_fields"):  # named tuples (e.g. a discriminator's outputs)
        return type(out)(*(_to_fp32(o) for o in out))
    if isinstance(out, (tuple, list)):
        return type(out)(_to_fp32(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_fp32(v) for k, v in out.items()}
    return out


def _fp32_module_types() -> tuple[type, ...]:
    """Modules that always run in fp32, even inside a bf16 network: weight re-parametrisations such as
    spectral normalisation (their power iteration and norm estimates are statistics)."""
    from torch.nn.utils import parametrize

    return (parametrize.ParametrizationList,)


class MixedPrecision:
    """bf16 autocast inside the model's networks, fp32 around them.

    Every forward of a sub-module that the model's own code calls (a generator, an encoder, a Transformer block)
    runs under bf16 autocast and hands back fp32 tensors; the model's code around those calls (losses,
    log-likelihoods, log-softmax, KL terms, running statistics) is not under autocast, so it runs in fp32 with
    no per-model changes. Active only inside ``with mixed:`` (one training step); sampling and validation
    are untouched. ``remove()`` takes the hooks off.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.device_type = device.type
        self.root = model
        self.active = False
        self.depth = 0
        self.stack: list[tuple[torch.nn.Module, object]] = []
        fp32_types = _fp32_module_types()
        self.handles = []
        for m in model.modules():
            if m is model:
                continue
            fp32 = isinstance(m, fp32_types)
            self.handles.append(m.register_forward_pre_hook(self._pre_fp32 if fp32 else self._pre))
            self.handles.append(m.register_forward_hook(self._post_fp32 if fp32 else self._post))

    def _pre(self, module, args):
        if not self.active:
            return
        if self.depth == 0:
            ctx = torch.autocast(self.device_type, dtype=torch.bfloat16)
            ctx.__enter__()
            self.stack.append((module, ctx))
        self.depth += 1

    def _post(self, module, args, output):
        if not self.active:
            return None
        self.depth -= 1
        if self.depth > 0:
            return None
        if self.stack and self.stack[-1][0] is module:
            self.stack.pop()[1].__exit__(None, None, None)
        return _to_fp32(output)

    def _pre_fp32(self, module, args):
        if not self.active:
            return
        ctx = torch.autocast(self.device_type, enabled=False)
        ctx.__enter__()
        self.stack.append((module, ctx))

    def _post_fp32(self, module, args, output):
        if not self.active:
            return None
        if self.stack and self.stack[-1][0] is module:
            self.stack.pop()[1].__exit__(None, None, None)
        return None

    def __enter__(self):
        self.active = True
        return self

    def __exit__(self, *exc):
        while self.stack:  # a forward that raised left its autocast context open
            self.stack.pop()[1].__exit__(None, None, None)
        self.depth = 0
        self.active = False
        return False

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
