"""genlab against plain PyTorch loops on identical networks (same modules, same initial weights, same batches).

    python benchmarks/peer.py [--threads 1] [--rounds 4] [--workloads dcgan,vae,pixelcnn,transformer]
                              [--precisions fp32,bf16] [--sample]

For each workload the genlab side is genlab's own ``Trainer.fit`` (its ``train.precision``, fused optimisers,
one generator pass per GAN step, logging); the peer is a loop written here in plain PyTorch the way the
reference examples write it (pytorch/examples' DCGAN loop, a VAE loop, a PixelCNN loop, a nanoGPT-style loop):
a deep copy of the same networks, ``torch.optim.Adam``/``AdamW`` with the same hyper-parameters (PyTorch's
default implementation), the loss written by hand, and for bf16 ``torch.autocast("cpu", bfloat16)`` around
forward and loss (backward outside), as the PyTorch AMP recipe does.

Timing: process CPU seconds (``time.process_time``) of the training steps only (batches are drawn outside
the timed region on both sides, checkpoints/previews are switched off), in rounds of ``--steps`` steps that
alternate A/B (genlab first in odd rounds, the peer first in even ones); the figure is the median over rounds.
Quality at equal steps: the mean training loss over the last round for genlab fp32, genlab bf16 and the peers
(same initial weights and the same batches; only the random noise streams differ). ``--sample`` also times
``genlab sample RUN -n 1000`` as a whole process against a plain script (torch + the network module + safetensors)
for a DCGAN and a VAE. Writes ``benchmarks/results/peer.json``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from genlab.config import DataConfig, TrainConfig  # noqa: E402
from genlab.data import load_data  # noqa: E402
from genlab.training import build_model  # noqa: E402
from genlab.training.hardware import cpu_has_bf16  # noqa: E402
from genlab.training.trainer import Trainer, seed_everything  # noqa: E402

WORKLOADS = {
    # name: (genlab model, model config, data config, modality, batch size, step unit)
    "dcgan": ("dcgan", {}, {"name": "mnist"}, "image", 128, "images"),
    "vae": ("vae", {"decoder": "bernoulli"}, {"name": "mnist"}, "image", 128, "images"),
    "pixelcnn": ("pixelcnn", {}, {"name": "mnist", "binarize": "static"}, "image", 32, "images"),
    # nanoGPT's shakespeare-char model (6 layers, 6 heads, width 384, block 256), batch 16
    "transformer": ("transformer-lm", {"layers": 6, "heads": 6, "width": 384},
                    {"name": str(SHARED / "text" / "tinyshakespeare.txt"), "block_size": 256}, "text", 16, "tokens"),
}


# ----------------------------------------------------------------------------- plain PyTorch peers
def _plain_opt(genlab_opt: torch.optim.Optimizer, params) -> torch.optim.Optimizer:
    g = genlab_opt.param_groups[0]
    return type(genlab_opt)(params, lr=g["lr"], betas=g["betas"], eps=g["eps"], weight_decay=g["weight_decay"])


class PeerDCGAN:
    """pytorch/examples' DCGAN loop: D on real and on G(z).detach(), then G through D on the same fake batch."""

    def __init__(self, model, trainer):
        self.G, self.D = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
        self.latent = model.latent_dim
        self.opt_g = _plain_opt(trainer.optimizers["g"], self.G.parameters())
        self.opt_d = _plain_opt(trainer.optimizers["d"], self.D.parameters())

    def step(self, batch, bf16: bool) -> float:
        real = batch["x"] * 2 - 1
        n = len(real)
        ones, zeros = torch.ones(n), torch.zeros(n)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            fake = self.G(torch.randn(n, self.latent))
            loss_d = (F.binary_cross_entropy_with_logits(self.D(real).adv.float(), ones)
                      + F.binary_cross_entropy_with_logits(self.D(fake.detach()).adv.float(), zeros))
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss_g = F.binary_cross_entropy_with_logits(self.D(fake).adv.float(), ones)
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        return float(loss_d.detach())


class PeerVAE:
    """A VAE loop: Gaussian encoder, reparameterised sample, Bernoulli decoder, analytic KL."""

    def __init__(self, model, trainer):
        self.enc, self.dec = copy.deepcopy(model.encoder), copy.deepcopy(model.decoder)
        self.opt = _plain_opt(trainer.optimizers["main"], list(self.enc.parameters()) + list(self.dec.parameters()))

    def step(self, batch, bf16: bool) -> float:
        x = batch["x"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            mu, logvar = self.enc(x).float().chunk(2, dim=1)
            logvar = logvar.clamp(-12, 8)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            logits = self.dec(z).float().view_as(x)
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
            loss = (rec + kl).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())


class PeerPixelCNN:
    """A PixelCNN loop: masked-conv network on [-1, 1] pixels, Bernoulli logits, summed BCE per image."""

    def __init__(self, model, trainer):
        self.m = copy.deepcopy(model)  # the network is model.net (body + head); nothing else of genlab runs
        self.opt = _plain_opt(trainer.optimizers["main"], self.m.parameters())

    def step(self, batch, bf16: bool) -> float:
        x = batch["x"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = self.m.net(x * 2 - 1, None).float().view_as(x)
            loss = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())


class PeerTransformer:
    """A nanoGPT-style loop: logits for x[:, :-1], cross-entropy against x[:, 1:]."""

    def __init__(self, model, trainer):
        self.m = copy.deepcopy(model)
        self.opt = _plain_opt(trainer.optimizers["main"], self.m.parameters())

    def step(self, batch, bf16: bool) -> float:
        x = batch["x"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = self.m.logits(x[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


PEERS = {"dcgan": PeerDCGAN, "vae": PeerVAE, "pixelcnn": PeerPixelCNN, "transformer": PeerTransformer}
LOSS_KEY = {"dcgan": "loss_d", "vae": "loss", "pixelcnn": "loss", "transformer": "loss"}


# ----------------------------------------------------------------------------- one workload
def _genlab_side(name, ds, precision, tmp, batch):
    model_name, mcfg = WORKLOADS[name][0], WORKLOADS[name][1]
    seed_everything(0)
    model = build_model(model_name, mcfg, ds.info)
    cfg = TrainConfig(batch_size=batch, progress=False, precision=precision, epochs=10**6, seed=0,
                      checkpoint_every=10**9, sample_every=10**9, log_every=10, val_batches=0)
    run = Path(tmp) / f"{name}-{precision}"
    run.mkdir(parents=True)
    trainer = Trainer(model, ds, None, cfg, run, torch.device("cpu"))
    trainer.save = trainer.preview = lambda *a, **k: None  # checkpoints and previews are not part of a step
    trainer._end_of_epoch = lambda: None
    return model, trainer


def _units(name, batch) -> int:
    b = batch["x"]
    return b[:, 1:].numel() if name == "transformer" else len(b)


def run_workload(name: str, precisions: list[str], rounds: int, steps: int, root: str) -> dict:
    model_name, _, dcfg, modality, bs, unit = WORKLOADS[name]
    ds = load_data(DataConfig(**{"root": root, **dcfg}), modality, "train")
    out = {"model": model_name, "batch_size": bs, "unit": unit, "steps_per_round": steps, "rounds": rounds}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in precisions:
            model, trainer = _genlab_side(name, ds, precision, tmp, bs)
            peer = PEERS[name](model, trainer)  # same modules, same initial weights, same optimiser settings
            # the peer gets the same batches genlab's trainer draws (same seed, same order)
            gen = torch.Generator().manual_seed(0)
            peer_batches = iter(())
            g_rates, p_rates, g_loss, p_loss = [], [], [], []
            units = None
            for r in range(rounds + 1):  # round 0 warms up (allocator, oneDNN kernels) and is not counted
                order = ("genlab", "peer") if r % 2 else ("peer", "genlab")
                for side in order:
                    if side == "genlab":
                        c0, s0 = trainer.cpu_time, trainer.step
                        trainer.total_steps = trainer.step + steps
                        trainer.fit()
                        dt = trainer.cpu_time - c0
                        if r:
                            g_rates.append(steps / dt)
                        recs = [m[LOSS_KEY[name]] for m in _metrics(trainer) if m.get("step", 0) > s0 and LOSS_KEY[name] in m]
                        if r == rounds:
                            g_loss = recs
                    else:
                        batches = []
                        for _ in range(steps):
                            b = next(peer_batches, None)
                            if b is None:
                                peer_batches = iter(ds.batches(bs, generator=gen))
                                b = next(peer_batches)
                            batches.append(b)
                        units = _units(name, batches[0])
                        losses = []
                        c0 = time.process_time()
                        for b in batches:
                            losses.append(peer.step(b, precision == "bf16"))
                        dt = time.process_time() - c0
                        if r:
                            p_rates.append(steps / dt)
                        if r == rounds:
                            p_loss = losses
            g, p = statistics.median(g_rates), statistics.median(p_rates)
            out[precision] = {
                "genlab_steps_per_cpu_s": round(g, 3), "peer_steps_per_cpu_s": round(p, 3),
                f"genlab_{unit}_per_cpu_s": round(g * units), f"peer_{unit}_per_cpu_s": round(p * units),
                "ratio": round(g / p, 3), "genlab_rounds": [round(v, 3) for v in g_rates],
                "peer_rounds": [round(v, 3) for v in p_rates], "steps_total": trainer.step,
                "genlab_last_round_loss": round(statistics.mean(g_loss), 4) if g_loss else None,
                "peer_last_round_loss": round(statistics.mean(p_loss), 4) if p_loss else None,
                "genlab_precision": trainer.precision,
            }
            print(name, precision, json.dumps(out[precision]), flush=True)
    if "fp32" in out:
        base = out["fp32"]["peer_steps_per_cpu_s"]
        for precision in precisions:
            out[precision]["ratio_vs_peer_fp32"] = round(out[precision]["genlab_steps_per_cpu_s"] / base, 3)
    return out


def _metrics(trainer):
    from genlab.training import checkpoint as ck

    return [m for m in ck.read_metrics(trainer.run_dir) if m.get("split") == "train"]


# ----------------------------------------------------------------------------- whole-process sampling
PLAIN_SAMPLE = r'''
import json, sys
import numpy as np
import torch
from safetensors.torch import load_file
cfg = json.load(open(sys.argv[1] + "/config.json"))
info, mc = cfg["data_info"], cfg["model_config"]
shape = tuple(info["shape"])
weights = load_file(sys.argv[1] + "/ckpt/model.safetensors")
torch.manual_seed(0)
with torch.no_grad():
    if cfg["model"] == "dcgan":
        from genlab.models.gan.networks import Generator
        net = Generator(mc["latent_dim"], shape, "conv", mc.get("width") or 32, norm=mc.get("norm_g", "batch"))
        net.load_state_dict({k[len("generator."):]: v for k, v in weights.items() if k.startswith("generator.")})
        x = (net.eval()(torch.randn(int(sys.argv[3]), mc["latent_dim"])) + 1) / 2
    else:
        from genlab.models.vae.networks import build_decoder
        net = build_decoder(mc["latent_dim"], shape, 1, "conv", mc["width"], mc["hidden"], mc.get("act", "relu"))
        net.load_state_dict({k[len("decoder."):]: v for k, v in weights.items() if k.startswith("decoder.")})
        x = torch.sigmoid(net.eval()(torch.randn(int(sys.argv[3]), mc["latent_dim"])).view(-1, *shape))
np.savez_compressed(sys.argv[2], x=x.numpy())
'''


def _child_cpu(cmd: list[str], env: dict) -> float:
    before = os.times()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def run_sampling(root: str, threads: int, n: int = 1000, repeats: int = 3) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    genlab = [sys.executable, "-c", "from genlab.cli import main; main()"] \
        if not (Path(sys.executable).parent / "genlab").exists() else [str(Path(sys.executable).parent / "genlab")]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("dcgan", "vae"):
            run = Path(tmp) / model
            subprocess.run(genlab + ["train", model, "--data", "mnist", "--root", root, "--max-steps", "2", "--out",
                                     str(run), "--quiet", "--threads", str(threads)], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            script = Path(tmp) / "plain.py"
            script.write_text(PLAIN_SAMPLE)
            g, p = [], []
            for r in range(repeats):  # A/B alternating
                cmds = [("genlab", genlab + ["sample", str(run), "-n", str(n), "-o", str(Path(tmp) / "g.npz"),
                                             "--threads", str(threads)]),
                        ("plain", [sys.executable, str(script), str(run), str(Path(tmp) / "p.npz"), str(n)])]
                for side, cmd in (cmds if r % 2 == 0 else cmds[::-1]):
                    (g if side == "genlab" else p).append(_child_cpu(cmd, env))
            gm, pm = statistics.median(g), statistics.median(p)
            out[model] = {"genlab_cpu_s": round(gm, 3), "plain_cpu_s": round(pm, 3),
                          "genlab_samples_per_cpu_s": round(n / gm), "plain_samples_per_cpu_s": round(n / pm),
                          "ratio": round(pm / gm, 3), "genlab_runs": [round(v, 3) for v in g],
                          "plain_runs": [round(v, 3) for v in p]}
            print("sample", model, json.dumps(out[model]), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", default="dcgan=20,vae=40,pixelcnn=10,transformer=10",
                   help="steps per round, per workload")
    p.add_argument("--workloads", default="dcgan,vae,pixelcnn,transformer")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--sample", action="store_true", help="also time `genlab sample -n 1000` against a plain script")
    p.add_argument("--sample-repeats", type=int, default=3, help="A/B rounds of the whole-process sampling timing")
    p.add_argument("--root", default=str(SHARED))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "peer.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    steps = dict(kv.split("=") for kv in args.steps.split(","))
    c_start = time.process_time()
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {platform.processor()}".strip(),
              "cpu_bf16": cpu_has_bf16(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "timing": "process CPU seconds of training steps, median over A/B-alternating rounds", "workloads": {}}
    for name in filter(None, args.workloads.split(",")):  # --workloads "" with --sample: sampling only
        result["workloads"][name] = run_workload(name, args.precisions.split(","), args.rounds, int(steps[name]),
                                                 args.root)
    if args.sample:
        result["sample_1000"] = run_sampling(args.root, args.threads, repeats=args.sample_repeats)
    result["benchmark_cpu_s"] = round(time.process_time() - c_start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out} ({result['benchmark_cpu_s']} CPU s in this process)")


if __name__ == "__main__":
    main()
