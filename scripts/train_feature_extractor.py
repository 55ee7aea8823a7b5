"""Train the feature extractors shipped in genlab/assets/features/ (MNIST and Fashion-MNIST).

    python scripts/train_feature_extractor.py [--dataset mnist|fashion-mnist|all] [--root ../shared/data]

Writes <name>.safetensors (float32 weights) and <name>.json (settings, augmentation, seed, epochs, test
accuracy, extractor version, date, torch and genlab versions, CPU seconds) and fails if the test accuracy
is below the target (MNIST 99%, Fashion-MNIST 90%). Training uses the light augmentation of
``genlab.eval.features.augment_batch`` (extractor version 2; ``--no-augment`` gives the version-1 recipe).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from genlab.config import DataConfig
from genlab.data import load_data
from genlab.eval.features import ASSETS, DEFAULTS, save_feature_net, train_feature_net

TARGETS = {"mnist": 0.99, "fashion-mnist": 0.90}
ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=[*TARGETS, "all"], default="all")
    p.add_argument("--root", default=str(ROOT.parent / "shared" / "data"), help="where mnist/ and fashion-mnist/ live")
    p.add_argument("--out", default=str(ASSETS))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-augment", action="store_true", help="train without augmentation (extractor version 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ok = True
    for name in TARGETS if args.dataset == "all" else [args.dataset]:
        cfg = DataConfig(name=name, root=args.root, download=False)
        train, test = load_data(cfg, "image", "train"), load_data(cfg, "image", "test")
        print(f"{name}: {len(train)} train, {len(test)} test images")
        net = train_feature_net(train.tensors["x"], train.tensors["y"], test.tensors["x"], test.tensors["y"],
                                **{**DEFAULTS, "epochs": args.epochs, "min_steps": 0, "seed": args.seed,
                                   "augment": not args.no_augment},
                                num_classes=train.info.num_classes, log=print)
        acc = net.meta["test_accuracy"]
        path = save_feature_net(net, Path(args.out) / f"{name}.safetensors", dataset=name, target_accuracy=TARGETS[name],
                                script="scripts/train_feature_extractor.py", threads=args.threads)
        print(f"{name}: test accuracy {acc:.4f} (target {TARGETS[name]}), wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
        ok &= acc >= TARGETS[name]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
