"""One training loop for every model.

The model supplies ``configure_optimizers`` and ``training_step`` (calling ``self.optimize(loss, name)``
for each update); the trainer supplies batches, devices, mixed precision, gradient clipping, learning-rate
schedules, EMA weights, logging, sample previews, divergence checks and exact resume.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..config import TrainConfig
from ..data.base import TensorDataset
from ..errors import TrainingDiverged
from ..models.base import GenerativeModel
from . import checkpoint as ck
from . import distributed as dist
from . import hardware as hw


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a fit in one call (gmm, gaussian-copula, ...): the run is marked interrupted."""


# epochs shorter than these validate / preview and save only every few epochs (and always at the end)
MIN_STEPS_PER_VALIDATION = 10
MIN_STEPS_PER_EPOCH_WORK = 50  # previews and checkpoints: writing files is what costs on tiny epochs


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from ..errors import ConfigError

        raise ConfigError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _lr_lambda(cfg: TrainConfig, total: int):
    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.lr_schedule == "constant":
            return 1.0
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0 - progress  # linear

    return f


class Trainer:
    def __init__(self, model: GenerativeModel, train: TensorDataset, val: TensorDataset | None,
                 cfg: TrainConfig, run_dir: Path, device: torch.device):
        self.model, self.train_ds, self.val_ds, self.cfg = model, train, val, cfg
        self.run_dir, self.device = Path(run_dir), device
        self.model.to(device)
        # torch.distributed (torchrun): rank 0's weights everywhere, a shard of every batch per rank, gradients
        # averaged before each optimiser step (see genlab/training/distributed.py); world 1: nothing changes
        self.world, self.rank = dist.world_size(), dist.rank()
        self.is_main = self.rank == 0
        if self.world > 1:
            dist.broadcast_module(model)
            self.batches_per_epoch = max(1, len(train) // dist.global_batch(len(train), cfg.batch_size, self.world)[0])
            torch.manual_seed(cfg.seed + 1_000_003 * self.rank)  # each rank its own noise (z, dropout, t)
        else:
            self.batches_per_epoch = max(1, train.num_batches(min(cfg.batch_size, len(train))))
        self.total_steps = cfg.max_steps or cfg.epochs * self.batches_per_epoch
        self.optimizers = model.configure_optimizers(cfg) if model.iterative else {}
        self.schedulers = {
            k: torch.optim.lr_scheduler.LambdaLR(o, _lr_lambda(cfg, self.total_steps)) for k, o in self.optimizers.items()
        }
        self.ema = None
        if cfg.ema_decay and model.iterative and self.is_main:  # EMA of identical weights: rank 0 only
            self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        self._ema_lists = None  # (EMA floats, model floats, other pairs), built at the first update
        self.data_gen = torch.Generator().manual_seed(cfg.seed)
        self.step = self.epoch = self.batch_in_epoch = 0
        self.elapsed = 0.0  # wall-clock seconds spent in training steps
        self.cpu_time = 0.0  # process CPU seconds spent in training steps (all threads)
        self.epoch_gen_state = self.data_gen.get_state()
        self.last_ckpt_step = None
        self._last_save_step = self._last_preview_step = self._last_val_step = None
        # end-of-epoch work at most once per MIN_STEPS_PER_EPOCH_WORK steps when epochs are tiny
        self.epoch_period = max(1, math.ceil(MIN_STEPS_PER_EPOCH_WORK / self.batches_per_epoch))
        self.val_period = max(1, math.ceil(MIN_STEPS_PER_VALIDATION / self.batches_per_epoch))
        self._step_logs: dict[str, list[float]] = defaultdict(list)
        self.threads = hw.set_threads(cfg.threads) if cfg.threads is not None else torch.get_num_threads()
        self.precision = hw.resolve_precision(cfg.precision, device, cfg.amp)  # fp32 | bf16
        self._fused_optimizers()
        self.tb = self._tensorboard() if cfg.tensorboard else None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        state = {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "elapsed": self.elapsed, "cpu_time": self.cpu_time, "epoch_gen_state": self.epoch_gen_state,
            "world_size": self.world,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": [int(v) for v in np.random.get_state()[1]] + [int(np.random.get_state()[2])],
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.ema is not None:
            state["ema_n_averaged"] = self.ema.n_averaged.cpu()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch, self.elapsed = int(state["batch_in_epoch"]), float(state["elapsed"])
        self.cpu_time = float(state.get("cpu_time", 0.0))
        self.epoch_gen_state = state["epoch_gen_state"]
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self._fused_optimizers()  # checkpoints from before fused updates keep their optimisers' flags
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        torch.set_rng_state(state["torch_rng"])
        mt = np.array(state["numpy_rng"][:-1], dtype=np.uint32)
        np.random.set_state(("MT19937", mt, state["numpy_rng"][-1]))
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if self.ema is not None and "ema_n_averaged" in state:
            self.ema.n_averaged.copy_(state["ema_n_averaged"])
        self.last_ckpt_step = self.step
        saved_world = int(state.get("world_size", 1))
        if self.rank:
            torch.manual_seed(self.cfg.seed + 1_000_003 * self.rank + self.step)
        if saved_world != self.world and self.batch_in_epoch:
            # another world size splits an epoch into other batches: continue at the next epoch boundary
            self.data_gen.set_state(self.epoch_gen_state)
            torch.randperm(len(self.train_ds), generator=self.data_gen)  # this epoch's permutation, consumed
            skipped = self.batch_in_epoch
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self.epoch_gen_state = self.data_gen.get_state()
            if self.is_main:
                import sys

                msg = (f"note: the checkpoint was written by {saved_world} process(es), this run has {self.world}; "
                       f"the data order restarts at the next epoch boundary (epoch {self.epoch}; the rest of the "
                       f"interrupted epoch after its first {skipped} batches is skipped)")
                print(msg, file=sys.stderr)
                ck.append_metrics(self.run_dir, {"step": self.step, "epoch": self.epoch, "split": "note", "note": msg})

    def save(self) -> None:
        """Write a checkpoint, only of finite weights: a diverged run keeps its last finite checkpoint."""
        if not self.is_main:  # weights are identical on every rank: rank 0 writes them
            self.last_ckpt_step = self._last_save_step = self.step
            return
        ema = self.ema.module if self.ema is not None else None
        for what, module in (("weights", self.model), ("EMA weights", ema)):
            bad = ck.nonfinite_tensors(module.state_dict()) if module is not None else []
            if bad:
                raise TrainingDiverged(self._diverged_msg(f"{what} became non-finite ({', '.join(bad[:3])})"))
        ck.save_checkpoint(self.run_dir, self.model, ema, self.state_dict())
        self.last_ckpt_step = self.step
        self._last_save_step = self.step
        ck.write_json_atomic(self.run_dir / ck.STATE, {**ck.read_state(self.run_dir), "step": self.step,
                                                      "epoch": self.epoch, "checkpoint_step": self.step,
                                                      "updated": ck.now()})

    # ------------------------------------------------------------------ one update
    def _optimize(self, loss: torch.Tensor, name: str) -> None:
        if name not in self.optimizers:
            raise KeyError(f"model asked to step optimiser {name!r}; it declared {list(self.optimizers)}")
        finite = bool(torch.isfinite(loss.detach()).all())
        if not finite and self.world == 1:
            raise TrainingDiverged(self._diverged_msg(f"loss for optimiser {name!r} became {loss.item()}"))
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        if finite:
            loss.backward()
        if self.world > 1:  # average the gradients over the ranks (what DDP does), in any update order
            params = [p for g in opt.param_groups for p in g["params"]]
            if dist.average_gradients(params, bad_loss=not finite):
                raise TrainingDiverged(self._diverged_msg(
                    f"loss for optimiser {name!r} became non-finite on "
                    f"{'this rank' if not finite else 'another rank'} (all ranks stopped)"))
        if self.cfg.grad_clip:
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
            self._step_logs[f"grad_norm/{name}"].append(float(norm))
        opt.step()

    def _time_budget(self):
        """(unit, total, used()) of the run's time budget (the CPU one when both are set), or None."""
        if self.cfg.max_cpu_time is not None:
            return "CPU s", float(self.cfg.max_cpu_time), lambda: self.cpu_time
        if self.cfg.max_time is not None:
            return "s", float(self.cfg.max_time), lambda: self.elapsed
        return None

    def _fused_optimizers(self) -> None:
        """Adam/AdamW/SGD over fp32 weights on one CPU or CUDA device: the fused kernels (one pass over all
        weights per step) where this torch has them. Same arithmetic; only the update's speed changes."""
        if self.device.type not in ("cpu", "cuda"):
            return
        for opt in self.optimizers.values():
            if not isinstance(opt, (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)):
                continue
            params = [p for g in opt.param_groups for p in g["params"]]
            if not params or any(p.dtype != torch.float32 or p.device != self.device for p in params):
                continue
            if any(g.get("differentiable") or g.get("capturable") for g in opt.param_groups):
                continue
            for g in opt.param_groups:
                if "fused" in g and g.get("foreach") is not True:
                    g["fused"] = True

    def _diverged_msg(self, what: str) -> str:
        kept = (f"the last good checkpoint (step {self.last_ckpt_step}) is kept in {self.run_dir / ck.CKPT}"
                if self.last_ckpt_step is not None else "no checkpoint had been written yet")
        return (f"training diverged at step {self.step}: {what}. Stopped; {kept}. "
                f"Try a lower train.lr, train.grad_clip=1.0, or a different seed.")

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict:
        if self.is_main:
            ck.write_json_atomic(self.run_dir / ck.STATE, {**ck.read_state(self.run_dir), "status": "running",
                                                          "checkpoint_step": self.last_ckpt_step, "pid": os.getpid(),
                                                          **self._world_info()})
        if not self.model.iterative:
            return self._fit_direct()
        from tqdm.auto import tqdm

        budget = self._time_budget()
        if budget is None:
            bar = tqdm(total=self.total_steps, initial=self.step, disable=not (self.cfg.progress and self.is_main),
                       desc=self.model.name, unit="step", dynamic_ncols=True, leave=True)
        else:  # a time budget: the bar shows the budget used, not steps out of an epoch count that does not apply
            unit, total, used = budget
            bar = tqdm(total=total, initial=used(), disable=not (self.cfg.progress and self.is_main), desc=self.model.name,
                       dynamic_ncols=True, leave=True,
                       bar_format="{l_bar}{bar}| {n:.%df}/{total:.%df} " % ((0, 0) if total >= 20 else (1, 1))
                                  + unit + " [{elapsed}<{remaining}{postfix}]")
        self.model._optimize_hook = self._optimize
        # bf16: autocast inside the networks' forwards only; the model's losses and statistics stay fp32
        mixed = hw.MixedPrecision(self.model, self.device) if self.precision == "bf16" else contextlib.nullcontext()
        self.model.on_train_start(self.train_ds)
        status = "finished"
        self._stop_requested = False
        previous_handlers = self._install_sigint()
        first_step = True
        try:
            while not self._done():
                self.data_gen.set_state(self.epoch_gen_state)
                if self.world > 1:
                    batches = dist.shard_batches(self.train_ds, self.cfg.batch_size, generator=self.data_gen,
                                                 device=self.device, start=self.batch_in_epoch, world=self.world,
                                                 rank_=self.rank)
                else:
                    batches = self.train_ds.batches(min(self.cfg.batch_size, len(self.train_ds)),
                                                    generator=self.data_gen, device=self.device,
                                                    start=self.batch_in_epoch)
                for batch in batches:
                    t0, c0 = time.perf_counter(), time.process_time()
                    self.model.train()
                    with mixed:
                        logs = self.model.training_step(batch, self.step)
                    for s in self.schedulers.values():
                        s.step()
                    if self.ema is not None:
                        self._update_ema()
                    self.step += 1
                    self.batch_in_epoch += 1
                    bad = None
                    for k, v in logs.items():
                        v = float(v)
                        if not math.isfinite(v):
                            bad = bad or f"{k} became {v}"
                        self._step_logs[k].append(v)
                    if self.world > 1:  # every rank stops at the same step (a signal or a bad value on any rank)
                        # time budgets are measured per rank: the first rank over it stops them all
                        over = self._over_time_budget()
                        stop, any_bad, over = dist.step_sync(self.model, self._stop_requested, bad is not None, over)
                        self._budget_over = over
                        if first_step:  # weights initialised from the first batch (act-norm): rank 0's everywhere
                            dist.broadcast_module(self.model)
                            first_step = False
                        self._stop_requested = stop
                        if any_bad and bad is None:
                            bad = "a logged value became non-finite on another rank"
                    if bad is not None:
                        raise TrainingDiverged(self._diverged_msg(bad))
                    self.elapsed += time.perf_counter() - t0
                    self.cpu_time += time.process_time() - c0
                    if budget is None:
                        bar.update(1)
                    elif self.cfg.progress:
                        bar.update(min(budget[2](), budget[1]) - bar.n)
                        bar.set_description(f"{self.model.name} step {self.step}", refresh=False)
                    if self.step % self.cfg.log_every == 0:
                        bar.set_postfix(self._flush_logs(), refresh=False)
                    if self.cfg.sample_every and self.step % self.cfg.sample_every == 0 and self.is_main:
                        self.preview()
                    if self.step % self.cfg.checkpoint_every == 0:
                        self.save()
                    if self._done() or self._stop_requested:
                        break
                if self._stop_requested:
                    status = "interrupted"
                    break
                if self.batch_in_epoch >= self.batches_per_epoch:  # epoch finished
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    self.epoch_gen_state = self.data_gen.get_state()
                    self._end_of_epoch()
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, keep the last checkpoint
            if self.is_main:
                ck.write_json_atomic(self.run_dir / ck.STATE, {**ck.read_state(self.run_dir), "status": "interrupted",
                                                          "step": self.step, "checkpoint_step": self.last_ckpt_step})
            raise
        except TrainingDiverged:
            if self.is_main:
                ck.write_json_atomic(self.run_dir / ck.STATE, {**ck.read_state(self.run_dir), "status": "diverged",
                                                          "step": self.step})
            raise
        finally:
            bar.close()
            self.model._optimize_hook = None
            if isinstance(mixed, hw.MixedPrecision):
                mixed.remove()
            for signum, previous in previous_handlers.items():
                signal.signal(signum, previous)
        if self._step_logs:
            self._flush_logs()
        refitted = status == "finished" and any([m.on_train_end(self.train_ds) for m in {self.model, self.sampling_model()}])
        if self._last_save_step != self.step or refitted:
            self.save()
        if status == "finished" and self.is_main and self._last_val_step != self.step:
            val = self.validate()  # a run that stopped between epoch ends still reports where it ended
            if val:
                self._log({"split": "val", **val})
        if status == "finished" and (refitted or self._last_preview_step != self.step) and self.is_main:
            self.preview()
        return self._finish(status)

    def _install_sigint(self) -> dict:
        """First Ctrl-C or SIGTERM (docker stop, systemd, batch schedulers): finish the current step, save,
        stop cleanly with status "interrupted". A second one: stop at once, keeping the last checkpoint."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return {}

        first = []

        def handler(signum, frame):
            # under torchrun a terminal's Ctrl-C reaches a rank twice (the terminal's SIGINT and the launcher's
            # SIGTERM): a second signal within 2 s is the same request
            if self._stop_requested and not (self.world > 1 and first and time.monotonic() - first[0] < 2.0):
                raise KeyboardInterrupt
            self._stop_requested = True
            first.append(time.monotonic())

        return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _done(self) -> bool:
        over = getattr(self, "_budget_over", None)
        if self.world > 1 and over is not None:  # time budgets: the flag all ranks agreed at the last step
            return over or self.step >= self.total_steps
        return self._over_time_budget() or self.step >= self.total_steps

    def _update_ema(self) -> None:
        """``AveragedModel.update_parameters`` (EMA of parameters and buffers) with the tensor lists built once:
        PyTorch's rebuilds and regroups them every step (~0.9 ms, 8% of a quickstart DCGAN step). Floating
        tensors: the first update copies, later ones ``lerp`` towards the model by ``1 - decay`` (the same
        arithmetic); integer buffers (batch-norm counters) are copied."""
        if self._ema_lists is None:
            ema_all = [*self.ema.module.parameters(), *self.ema.module.buffers()]
            model_all = [*self.model.parameters(), *self.model.buffers()]
            pairs = [(a.detach(), m.detach()) for a, m in zip(ema_all, model_all, strict=True)]
            floats = [(a, m) for a, m in pairs if a.is_floating_point()]
            self._ema_lists = ([a for a, _ in floats], [m for _, m in floats],
                               [(a, m) for a, m in pairs if not a.is_floating_point()], bool(self.ema.n_averaged > 0))
        ema_f, model_f, others, started = self._ema_lists
        if not ema_f:
            pass
        elif started:
            torch._foreach_lerp_(ema_f, model_f, 1.0 - self.cfg.ema_decay)
        else:
            torch._foreach_copy_(ema_f, model_f)
            self._ema_lists = (ema_f, model_f, others, True)
        for a, m in others:
            a.copy_(m)
        self.ema.n_averaged += 1

    def _over_time_budget(self) -> bool:
        if self.cfg.max_time is not None and self.elapsed >= self.cfg.max_time:
            return True
        return self.cfg.max_cpu_time is not None and self.cpu_time >= self.cfg.max_cpu_time

    def _end_of_epoch(self) -> None:
        """Validation, preview and checkpoint. When an epoch is only a few steps (a table smaller than a few
        batches, 8x8 digits) validation runs every ``val_period`` epochs and the preview and checkpoint every
        ``epoch_period`` (about every 10 and 50 steps), so that tiny data does not write files every step;
        the period depends only on the data size, so runs stay reproducible and resume exactly."""
        done = self._done()
        files = done or self.epoch % self.epoch_period == 0
        if not (files or self.epoch % self.val_period == 0):
            return
        if not self.is_main:
            if files:
                self.save()  # records the step; rank 0 writes
            return
        val = self.validate()
        self._last_val_step = self.step
        if val:
            self._log({"split": "val", **val})
        if files:
            if self.cfg.sample_every == 0:
                self.preview()
            self.save()

    def _flush_logs(self) -> dict:
        means = {k: float(np.mean(v)) for k, v in self._step_logs.items()}
        self._step_logs.clear()
        self._log({"split": "train", **means})
        return {k: f"{v:.4g}" for k, v in means.items() if not k.startswith("grad_norm")}

    def _log(self, record: dict) -> None:
        if not self.is_main:
            return
        rec = {"step": self.step, "epoch": self.epoch, "time": round(self.elapsed, 3), **record}
        ck.append_metrics(self.run_dir, rec)
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{record.get('split', 'train')}/{k}", v, self.step)

    @torch.no_grad()
    def validate(self) -> dict:
        if self.val_ds is None:
            return {}
        model = self.sampling_model()
        model.eval()
        gen = torch.Generator().manual_seed(12345)
        sums: dict[str, float] = defaultdict(float)
        n = 0
        bs = min(self.cfg.batch_size, len(self.val_ds))
        with torch.random.fork_rng(devices=self._cuda_devices()):  # must not shift the training random stream
            for i, batch in enumerate(self.val_ds.batches(bs, generator=gen, device=self.device)):
                if i >= self.cfg.val_batches:
                    break
                for k, v in model.validation_step(batch).items():
                    sums[k] += float(v)
                n += 1
        return {k: v / n for k, v in sums.items()} if n else {}

    def _cuda_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def sampling_model(self) -> GenerativeModel:
        return self.ema.module if self.ema is not None else self.model

    @torch.no_grad()
    def preview(self) -> Path | None:
        """Write a sample preview to ``samples/step_NNNNNNN.*`` with a fixed seed."""
        from ..outputs import write_samples

        model = self.sampling_model()
        if "sample" not in model.capabilities():
            return None
        model.eval()
        from ..modalities import get_modality

        kind = get_modality(model.info.modality)
        n = min(self.cfg.grid_size, kind.preview_count or self.cfg.grid_size)
        gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed)
        labels = torch.arange(n, device=self.device) % model.info.num_classes if model.conditional else None
        with torch.random.fork_rng(devices=self._cuda_devices()):
            x = model.sample(n, labels=labels, generator=gen)
        suffix = kind.default_suffix
        path = self.run_dir / "samples" / f"step_{self.step:07d}{suffix}"
        write_samples(x, path, model.info, labels)
        write_samples(x, self.run_dir / f"samples{suffix}", model.info, labels)
        self._last_preview_step = self.step
        return path

    def _fit_direct(self) -> dict:
        if self.world > 1:  # fitted once, on rank 0; the other ranks take its saved weights
            if self.is_main:
                import sys

                msg = (f"note: {self.model.name} is fitted in one call, not by gradient steps: rank 0 fits it alone, "
                       f"the other {self.world - 1} process(es) wait and load its weights (more processes do not "
                       "make it faster)")
                print(msg, file=sys.stderr)
                ck.append_metrics(self.run_dir, {"step": 0, "epoch": 0, "split": "note", "note": msg})
            state = dist.main_first(lambda: self._fit_direct_main())
            if not self.is_main:
                ck.load_weights(self.model, ck.checkpoint_dir(self.run_dir) / "model.safetensors")
                self.step = self.epoch = 1
                state = self._finish("finished")
            return state
        return self._fit_direct_main()

    def _fit_direct_main(self) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        with self._interruptible_fit():
            metrics = self.model.fit(self.train_ds) or {}
        self.elapsed, self.cpu_time = time.perf_counter() - t0, time.process_time() - c0
        self.step, self.epoch = 1, 1
        self._log({"split": "train", **metrics})
        val = self.validate()
        if val:
            self._log({"split": "val", **val})
        self.save()
        self.preview()
        return self._finish("finished")

    @contextlib.contextmanager
    def _interruptible_fit(self):
        """A fit in one call has no step to finish: Ctrl-C or SIGTERM stops it at once, marks the run
        ``interrupted`` (it has no checkpoint, so the same ``genlab train`` restarts it in place) and raises
        :class:`FitInterrupted` (the command exits with status 130)."""
        import threading

        def handler(signum, frame):
            raise FitInterrupted(f"{self.run_dir} was stopped ({signal.Signals(signum).name}) before its "
                                 f"{self.model.name} fit finished; nothing was saved. Run the same `genlab train "
                                 f"... --out {self.run_dir}` again to start it in place")

        main = threading.current_thread() is threading.main_thread()
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            yield
        except KeyboardInterrupt:
            if self.is_main:
                ck.write_json_atomic(self.run_dir / ck.STATE, {**ck.read_state(self.run_dir), "status": "interrupted",
                                                              "step": 0, "checkpoint_step": None, "updated": ck.now()})
            raise
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _finish(self, status: str) -> dict:
        metrics = ck.read_metrics(self.run_dir)
        last = {}
        for r in metrics:
            last.setdefault(r.get("split", "train"), {}).update({k: v for k, v in r.items() if k not in ("split",)})
        state = {"status": status, "step": self.step, "epoch": self.epoch, "train_time_s": round(self.elapsed, 2),
                 "cpu_time_s": round(self.cpu_time, 2), "checkpoint_step": self.last_ckpt_step,
                 "precision": self.precision, "threads": self.threads, **self._world_info(),
                 "final_metrics": last, "updated": ck.now()}
        if self.is_main:
            ck.write_json_atomic(self.run_dir / ck.STATE, state)
        return state

    def _world_info(self) -> dict:
        """Processes, per-process and effective batch size (recorded in state.json)."""
        per = self.cfg.batch_size if self.world == 1 else dist.global_batch(len(self.train_ds), self.cfg.batch_size, self.world)[1]
        per = min(per, len(self.train_ds))
        return {"world_size": self.world, "batch_size_per_process": per, "effective_batch_size": per * self.world}

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            import warnings

            warnings.warn("train.tensorboard=true but the tensorboard package is not installed; logging to metrics.jsonl only")
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))
