"""Bad inputs for the core commands (train, resume, sample, info, evaluate, compare, complete, fit-latent) and
the run folder itself: damaged, crafted, locked, moved or absurd. See benchmarks/bad_input_catalogue.py."""
from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np


class _Evil:
    """A pickle that would run a shell command when unpickled without weights_only."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _png(path: Path, size=(8, 8), mode="L", seed=0):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3 if mode == "RGB" else 1), dtype=np.uint8)
    Image.fromarray(a[..., 0] if mode == "L" else a, mode).save(path)
    return str(path)


def _npz(fx, name, **arrays):
    path = fx.tmp / name
    np.savez(path, **arrays)
    return str(path)


def _safetensors_with_header(path: Path, header_len: int, header: bytes = b"") -> None:
    path.write_bytes(struct.pack("<Q", header_len) + header)


def cases(fx):
    t = fx.tmp
    vae = fx.run("vae", "digits", "model.width=4")
    gmm = fx.run("gmm", "digits", "model.n_components=2")
    pix = fx.run("pixelcnn", "digits", "model.width=8", "model.layers=2", "data.binarize=dynamic")
    text_file = fx.file("data/tiny.txt", "the quick brown fox jumps over the lazy dog.\n" * 80)
    lstm = fx.run("char-lstm", text_file, "model.hidden=16", "data.block_size=16")
    ring = fx.run("flow-mlp", "ring8")

    # ---------------------------------------------------------------- data files
    empty_dir = t / "data/empty"
    empty_dir.mkdir(parents=True, exist_ok=True)
    bad_png_dir = t / "data/badpng"
    _png(bad_png_dir / "a.png")
    (bad_png_dir / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    mixed = t / "data/mixed"
    _png(mixed / "a.png", (8, 8))
    _png(mixed / "b.png", (9, 7))
    nan_npz = _npz(fx, "data/nan.npz", x=np.full((20, 8, 8), np.nan, dtype=np.float32))
    no_x_npz = _npz(fx, "data/nox.npz", images2=np.zeros((10, 8, 8), np.uint8))
    five_d = _npz(fx, "data/5d.npz", x=np.zeros((4, 1, 1, 8, 8), np.uint8))
    obj_npz = str(t / "data/obj.npz")
    with zipfile.ZipFile(obj_npz, "w") as z:
        with z.open("x.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    not_zip = fx.file("data/fake.npz", "this is not a zip")
    wide_float = _npz(fx, "data/range.npz", x=np.full((10, 8, 8), 7.5, np.float32))
    neg_labels = _npz(fx, "data/neglab.npz", x=np.zeros((10, 8, 8), np.uint8), y=-np.ones(10, np.int64))
    short_labels = _npz(fx, "data/shortlab.npz", x=np.zeros((10, 8, 8), np.uint8), y=np.zeros(3, np.int64))
    empty_npz = _npz(fx, "data/emptyx.npz", x=np.zeros((0, 8, 8), np.uint8))
    nan_npy = str(t / "data/nan.npy")
    np.save(nan_npy, np.array([[np.nan, 1.0]] * 10, dtype=np.float32))
    empty_txt = fx.file("data/empty.txt", "")
    binary_txt = fx.file("data/binary.txt", bytes(range(256)) * 4)
    csv_for_images = fx.file("data/table.csv", "a,b\n1,2\n3,4\n")
    split_only_test = t / "data/onlytest"
    _png(split_only_test / "test/a/1.png")
    loop = t / "data/loop"
    loop.mkdir(parents=True, exist_ok=True)
    if not (loop / "self").exists():
        os.symlink(loop, loop / "self")
    _png(loop / "a.png")

    # ---------------------------------------------------------------- config files
    cfg_missing = str(t / "nope.yaml")
    cfg_bad_yaml = fx.file("cfg/bad.yaml", "model: [unclosed\n")
    cfg_list = fx.file("cfg/list.yaml", "- 1\n- 2\n")
    cfg_section = fx.file("cfg/section.yaml", "modle:\n  latent_dim: 3\n")
    cfg_bad_json = fx.file("cfg/bad.json", "{not json")
    cfg_binary = fx.file("cfg/bin.yaml", b"\x00\xff\xfe" * 50)
    cfg_type = fx.file("cfg/type.yaml", "train:\n  epochs: [1, 2]\n")
    cfg_nan = fx.file("cfg/nan.yaml", "train:\n  lr: .nan\n")

    # ---------------------------------------------------------------- output locations
    a_file = fx.file("out/afile", "x")
    not_a_run = t / "out/notarun"
    not_a_run.mkdir(parents=True, exist_ok=True)
    (not_a_run / "notes.txt").write_text("mine")

    # ---------------------------------------------------------------- damaged / crafted run folders
    def damaged(name, src=vae):
        return fx.copy(src, name)

    nan_run = damaged("nan")
    from safetensors.torch import load_file, save_file

    w = load_file(str(nan_run / "ckpt/model.safetensors"))
    for k in w:
        if w[k].is_floating_point():
            w[k] = w[k] * float("nan")
    save_file(w, str(nan_run / "ckpt/model.safetensors"))
    nan_gmm = damaged("nan_gmm", gmm)
    w = load_file(str(nan_gmm / "ckpt/model.safetensors"))
    w["means"] = w["means"] * float("inf")
    save_file(w, str(nan_gmm / "ckpt/model.safetensors"))

    pickle_run = damaged("pickle")
    (pickle_run / "ckpt/trainer.pt").write_bytes(pickle.dumps({"step": _Evil(t / "PWNED")}))
    torch_pickle_run = damaged("torchpickle")
    import torch

    torch.save({"step": 3, "evil": _Evil(t / "PWNED2")}, torch_pickle_run / "ckpt/trainer.pt")
    trunc_trainer = damaged("trunc_trainer")
    p = trunc_trainer / "ckpt/trainer.pt"
    p.write_bytes(p.read_bytes()[:100])
    header_huge = damaged("header_huge")
    _safetensors_with_header(header_huge / "ckpt/model.safetensors", 2**62)
    header_bad = damaged("header_bad")
    _safetensors_with_header(header_bad / "ckpt/model.safetensors", 40, b'{"w": {"dtype": "F32", "shape": [1e18]}}')
    header_shape = damaged("header_shape")
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 40000000000]}}).encode()
    _safetensors_with_header(header_shape / "ckpt/model.safetensors", len(hdr), hdr)
    empty_weights = damaged("empty_weights")
    (empty_weights / "ckpt/model.safetensors").write_bytes(b"")
    wrong_keys = damaged("wrong_keys")
    save_file({"nothing": torch.zeros(3)}, str(wrong_keys / "ckpt/model.safetensors"))
    symlink_weights = damaged("symlink_weights")
    (symlink_weights / "ckpt/model.safetensors").unlink()
    os.symlink("/dev/zero", symlink_weights / "ckpt/model.safetensors")
    symlink_dir = damaged("symlink_ckpt")
    import shutil

    shutil.rmtree(symlink_dir / "ckpt")
    os.symlink("/proc/self", symlink_dir / "ckpt")
    no_ckpt = damaged("no_ckpt")
    shutil.rmtree(no_ckpt / "ckpt")
    corrupt_cfg = damaged("corrupt_cfg")
    (corrupt_cfg / "config.json").write_text("{ broken")
    list_cfg = damaged("list_cfg")
    (list_cfg / "config.json").write_text("[1, 2, 3]")
    huge_cfg = damaged("huge_cfg")
    with open(huge_cfg / "config.json", "w") as f:
        f.write('{"pad": "')
        f.write("x" * (70 * 2**20))
        f.write('"}')
    deep_cfg = damaged("deep_cfg")
    (deep_cfg / "config.json").write_text("[" * 100000 + "]" * 100000)
    nokey_cfg = damaged("nokey_cfg")
    c = json.loads((nokey_cfg / "config.json").read_text())
    del c["data_info"]
    (nokey_cfg / "config.json").write_text(json.dumps(c))
    unknown_model_cfg = damaged("unknown_model")
    c = json.loads((unknown_model_cfg / "config.json").read_text())
    c["model"] = "no-such-model"
    (unknown_model_cfg / "config.json").write_text(json.dumps(c))
    typo_cfg = damaged("typo_cfg")
    c = json.loads((typo_cfg / "config.json").read_text())
    c["model_config"]["latnt_dim"] = 3
    (typo_cfg / "config.json").write_text(json.dumps(c))
    bad_value_cfg = damaged("bad_value_cfg")
    c = json.loads((bad_value_cfg / "config.json").read_text())
    c["model_config"]["latent_dim"] = -4
    (bad_value_cfg / "config.json").write_text(json.dumps(c))
    big_layer_cfg = damaged("big_layer")
    c = json.loads((big_layer_cfg / "config.json").read_text())
    c["model_config"].update(arch="mlp", hidden=[30_000_000])
    (big_layer_cfg / "config.json").write_text(json.dumps(c))
    data_info_cfg = damaged("data_info_cfg")
    c = json.loads((data_info_cfg / "config.json").read_text())
    c["data_info"] = {"modality": "image"}
    (data_info_cfg / "config.json").write_text(json.dumps(c))
    lr_cfg = damaged("lr_cfg")
    c = json.loads((lr_cfg / "config.json").read_text())
    c["train_config"]["lr"] = "fast"
    (lr_cfg / "config.json").write_text(json.dumps(c))
    corrupt_state = damaged("corrupt_state")
    (corrupt_state / "state.json").write_text("{{{")
    moved_data = damaged("moved_data", fx.run("vae", str(_moved_folder(t)), "model.width=4"))
    shutil.rmtree(t / "data/moveme")
    locked = damaged("locked")
    fx.hold_lock(locked)
    finished = damaged("finished")
    file_run = fx.file("out/run_is_a_file", "x")

    png_in = _png(t / "in/digit.png")
    txt_in = fx.file("in/notimage.png", "not an image")
    mask_bad = fx.file("in/mask.txt", "no")

    c = []
    add = lambda name, *argv: c.append((name, [str(a) for a in argv]))  # noqa: E731

    # ---------------------------------------------------------------- train: names, flags and values
    out = t / "runs/new"
    add("train unknown model", "train", "vea", "--out", out)
    add("train unknown dataset", "train", "vae", "--data", "no-such-data", "--out", out)
    add("train missing npz", "train", "vae", "--data", t / "missing.npz", "--out", out)
    add("train set without =", "train", "vae", "--set", "model.latent_dim", "--out", out)
    add("train set without section", "train", "vae", "--set", "latent_dim=3", "--out", out)
    add("train set unknown section", "train", "vae", "--set", "optim.lr=1", "--out", out)
    add("train set unknown model key", "train", "vae", "--set", "model.latnt_dim=3", "--out", out)
    add("train set unknown train key", "train", "vae", "--set", "train.epoch=3", "--out", out)
    add("train set unknown data key", "train", "vae", "--set", "data.size=3", "--out", out)
    add("train epochs not a number", "train", "vae", "--set", "train.epochs=many", "--out", out)
    add("train lr nan", "train", "vae", "--set", "train.lr=nan", "--out", out)
    add("train lr inf", "train", "vae", "--set", "train.lr=inf", "--out", out)
    add("train lr negative", "train", "vae", "--lr", "-1e-3", "--out", out)
    add("train lr zero", "train", "vae", "--lr", "0", "--out", out)
    add("train lr 1e6", "train", "vae", "--lr", "1e6", "--out", out)
    add("train batch size 0", "train", "vae", "--batch-size", "0", "--out", out)
    add("train batch size negative", "train", "vae", "--batch-size", "-8", "--out", out)
    add("train epochs 0", "train", "vae", "--epochs", "0", "--out", out)
    add("train max steps negative", "train", "vae", "--max-steps", "-5", "--out", out)
    add("train max steps 0", "train", "vae", "--max-steps", "0", "--out", out)
    add("train max time negative", "train", "vae", "--max-time", "-1", "--out", out)
    add("train max time nan", "train", "vae", "--max-time", "nan", "--out", out)
    add("train checkpoint_every 0", "train", "vae", "--set", "train.checkpoint_every=0", "--out", out)
    add("train log_every 0", "train", "vae", "--set", "train.log_every=0", "--out", out)
    add("train sample_every negative", "train", "vae", "--set", "train.sample_every=-1", "--out", out)
    add("train betas out of range", "train", "vae", "--set", "train.betas=[2,3]", "--out", out)
    add("train betas one value", "train", "vae", "--set", "train.betas=[0.9]", "--out", out)
    add("train betas nan", "train", "vae", "--set", "train.betas=[nan,0.9]", "--out", out)
    add("train weight decay negative", "train", "vae", "--set", "train.weight_decay=-1", "--out", out)
    add("train ema decay 1.5", "train", "vae", "--set", "train.ema_decay=1.5", "--out", out)
    add("train grad clip 0", "train", "vae", "--set", "train.grad_clip=0", "--out", out)
    add("train warmup negative", "train", "vae", "--set", "train.warmup_steps=-3", "--out", out)
    add("train val batches negative", "train", "vae", "--set", "train.val_batches=-1", "--out", out)
    add("train grid size 0", "train", "vae", "--set", "train.grid_size=0", "--out", out)
    add("train grid size huge", "train", "vae", "--set", "train.grid_size=1000000", "--out", out)
    add("train schedule unknown", "train", "vae", "--set", "train.lr_schedule=exp", "--out", out)
    add("train seed beyond int64", "train", "vae", "--seed", str(2**70), "--out", out)
    add("train device cuda without GPU", "train", "vae", "--device", "cuda", "--out", out)
    add("train device unknown", "train", "vae", "--device", "tpu", "--out", out)
    add("train latent dim 0", "train", "vae", "--set", "model.latent_dim=0", "--out", out)
    add("train latent dim negative", "train", "vae", "--set", "model.latent_dim=-2", "--out", out)
    add("train conv vae with model.hidden", "train", "vae", "--set", "model.hidden=[64]", "--out", out)
    add("train mlp vae with model.width", "train", "vae", "--set", "model.arch=mlp", "--set", "model.width=8", "--out", out)
    add("train 30M-unit layer", "train", "vae", "--set", "model.arch=mlp", "--set", "model.hidden=[30000000]", "--out", out)
    add("train vae arch unknown", "train", "vae", "--set", "model.arch=transformer", "--out", out)
    add("train gmm more components than rows", "train", "gmm", "--set", "model.n_components=5000", "--out", out)
    add("train gmm zero components", "train", "gmm", "--set", "model.n_components=0", "--out", out)
    add("train text model on images", "train", "char-lstm", "--data", "digits", "--out", out)
    add("train image model on text", "train", "dcgan", "--data", text_file, "--out", out)
    # data
    add("train empty folder", "train", "vae", "--data", empty_dir, "--out", out)
    add("train corrupt png", "train", "vae", "--data", bad_png_dir, "--out", out)
    add("train mixed image sizes", "train", "vae", "--data", mixed, "--out", out)
    add("train folder with a fake .png", "train", "vae", "--data", t / "in", "--out", out)
    add("train npz with NaN", "train", "vae", "--data", nan_npz, "--out", out)
    add("train npz without x", "train", "vae", "--data", no_x_npz, "--out", out)
    add("train npz 5-d array", "train", "vae", "--data", five_d, "--out", out)
    add("train npz object array (pickle)", "train", "vae", "--data", obj_npz, "--out", out)
    add("train npz not a zip", "train", "vae", "--data", not_zip, "--out", out)
    add("train npz floats outside [0,1]", "train", "vae", "--data", wide_float, "--out", out)
    add("train npz negative labels", "train", "vae", "--data", neg_labels, "--out", out)
    add("train npz labels too short", "train", "vae", "--data", short_labels, "--out", out)
    add("train npz empty x", "train", "vae", "--data", empty_npz, "--out", out)
    add("train npy with NaN (vectors)", "train", "flow-mlp", "--data", nan_npy, "--out", out)
    add("train empty text", "train", "char-lstm", "--data", empty_txt, "--out", out)
    add("train binary text", "train", "char-lstm", "--data", binary_txt, "--set", "data.tokenizer=bpe",
        "--set", "data.vocab_size=0", "--out", out)
    add("train csv for image model", "train", "vae", "--data", csv_for_images, "--out", out)
    add("train split folder with only test", "train", "vae", "--data", split_only_test, "--out", out)
    add("train image size 0", "train", "vae", "--set", "data.image_size=0", "--out", out)
    add("train image size 100000", "train", "vae", "--set", "data.image_size=100000", "--out", out)
    add("train channels 2", "train", "vae", "--set", "data.channels=2", "--out", out)
    add("train limit 0", "train", "vae", "--set", "data.limit=0", "--out", out)
    add("train binarize unknown", "train", "vae", "--set", "data.binarize=maybe", "--out", out)
    add("train val fraction 1.5", "train", "vae", "--set", "data.val_fraction=1.5", "--out", out)
    add("train mnist missing without download", "train", "vae", "--data", "mnist", "--root", t / "nowhere",
        "--set", "data.download=false", "--out", out)
    # config files
    add("train config missing", "train", "vae", "--config", cfg_missing, "--out", out)
    add("train config bad yaml", "train", "vae", "--config", cfg_bad_yaml, "--out", out)
    add("train config is a list", "train", "vae", "--config", cfg_list, "--out", out)
    add("train config unknown section", "train", "vae", "--config", cfg_section, "--out", out)
    add("train config bad json", "train", "vae", "--config", cfg_bad_json, "--out", out)
    add("train config binary", "train", "vae", "--config", cfg_binary, "--out", out)
    add("train config wrong type", "train", "vae", "--config", cfg_type, "--out", out)
    add("train config lr nan", "train", "vae", "--config", cfg_nan, "--out", out)
    # output folders
    add("train out is a file", "train", "vae", "--out", a_file)
    add("train out under a file", "train", "vae", "--out", Path(a_file) / "run")
    add("train out unwritable", "train", "vae", "--out", "/proc/genlab-run")
    add("train out not a run", "train", "vae", "--out", not_a_run)
    add("train out holds a run", "train", "vae", "--out", finished)
    add("train out locked by a live writer", "train", "vae", "--out", locked, "--overwrite")

    # ---------------------------------------------------------------- resume
    add("resume missing folder", "resume", t / "missing-run")
    add("resume not a run", "resume", not_a_run)
    add("resume a file", "resume", file_run)
    add("resume no checkpoint", "resume", no_ckpt)
    add("resume finished run", "resume", finished)
    add("resume finished one-pass model", "resume", damaged("gmm_done", gmm))
    add("resume NaN weights", "resume", nan_run, "--max-steps", 10)
    add("resume crafted pickle trainer.pt", "resume", pickle_run, "--max-steps", 10)
    add("resume torch.save pickle with object", "resume", torch_pickle_run, "--max-steps", 10)
    add("resume truncated trainer.pt", "resume", trunc_trainer, "--max-steps", 10)
    add("resume absurd safetensors header length", "resume", header_huge, "--max-steps", 10)
    add("resume corrupt config", "resume", corrupt_cfg)
    add("resume config is a list", "resume", list_cfg)
    add("resume config 70 MB", "resume", huge_cfg)
    add("resume config nested 100k deep", "resume", deep_cfg)
    add("resume config without data_info", "resume", nokey_cfg)
    add("resume config unknown model", "resume", unknown_model_cfg)
    add("resume config typo key", "resume", typo_cfg)
    add("resume config lr not a number", "resume", lr_cfg, "--max-steps", 10)
    add("resume max steps negative", "resume", vae, "--max-steps", -5)
    add("resume epochs 0", "resume", vae, "--epochs", 0)
    add("resume data moved", "resume", moved_data, "--max-steps", 10)
    add("resume --data that does not exist", "resume", vae, "--max-steps", 10, "--data", t / "nowhere")
    add("resume --data of another shape", "resume", vae, "--max-steps", 10, "--data", "mnist", "--root", t / "nowhere",
        )
    add("resume locked by a live writer", "resume", locked, "--max-steps", 10)
    add("resume device cuda", "resume", vae, "--max-steps", 10, "--device", "cuda")

    # ---------------------------------------------------------------- sample
    add("sample n 0", "sample", vae, "-n", 0)
    add("sample n negative", "sample", vae, "-n", -3)
    add("sample n not a number", "sample", vae, "-n", "lots")
    add("sample n 1e12", "sample", vae, "-n", 10**12, "-o", t / "s.npz")
    add("sample n 1e9 default png", "sample", gmm, "-n", 10**9)
    add("sample png grid too large", "sample", vae, "-n", 100000, "-o", t / "s.png")
    add("sample wrong suffix", "sample", vae, "-o", t / "s.csv")
    add("sample no suffix", "sample", vae, "-o", t / "samples")
    add("sample output is a folder", "sample", vae, "-o", t)
    add("sample output under a file", "sample", vae, "-o", Path(a_file) / "s.png")
    add("sample output unwritable", "sample", vae, "-o", "/proc/s.png")
    add("sample output to terminal for images", "sample", vae, "-o", "-")
    add("sample label on unconditional", "sample", vae, "--label", 3)
    add("sample unknown option", "sample", vae, "--temperature", 0.5)
    add("sample NaN weights", "sample", nan_run, "-o", t / "nan.png")
    add("sample inf weights gmm", "sample", nan_gmm, "-o", t / "nan.npz")
    add("sample absurd safetensors header length", "sample", header_huge)
    add("sample safetensors header bad json", "sample", header_bad)
    add("sample safetensors header 40 GB tensor", "sample", header_shape)
    add("sample empty weights file", "sample", empty_weights)
    add("sample weights with wrong keys", "sample", wrong_keys)
    add("sample weights symlink to /dev/zero", "sample", symlink_weights)
    add("sample ckpt symlink to /proc/self", "sample", symlink_dir)
    add("sample no checkpoint", "sample", no_ckpt)
    add("sample config bad value", "sample", bad_value_cfg)
    add("sample config 30M-unit layer", "sample", big_layer_cfg)
    add("sample config broken data_info", "sample", data_info_cfg)
    add("sample run is a file", "sample", file_run)
    add("sample not a run", "sample", not_a_run)
    add("sample device cuda", "sample", vae, "--device", "cuda")
    add("sample text to png", "sample", lstm, "-o", t / "t.png")
    add("sample text length 0", "sample", lstm, "--length", 0)
    add("sample text temperature negative", "sample", lstm, "--temperature", -1)
    add("sample text n 1e12", "sample", lstm, "-n", 10**12, "-o", t / "t.txt")
    add("sample vectors scatter too many", "sample", ring, "-n", 5_000_000, "-o", t / "r.png")
    add("sample vectors wrong suffix", "sample", ring, "-o", t / "r.parquet")

    # ---------------------------------------------------------------- info
    add("info missing folder", "info", t / "missing-run")
    add("info not a run", "info", not_a_run)
    add("info a file", "info", file_run)
    add("info corrupt config", "info", corrupt_cfg)
    add("info config is a list", "info", list_cfg)
    add("info config 70 MB", "info", huge_cfg)
    add("info corrupt state", "info", corrupt_state)
    add("info config without data_info", "info", nokey_cfg)

    # ---------------------------------------------------------------- evaluate / compare
    add("evaluate n 0", "evaluate", gmm, "-n", 0)
    add("evaluate n 1e9", "evaluate", gmm, "-n", 10**9)
    add("evaluate n 1e12", "evaluate", gmm, "-n", 10**12)
    add("evaluate not a run", "evaluate", not_a_run)
    add("evaluate NaN weights", "evaluate", nan_run, "-n", 10)
    add("evaluate unknown data", "evaluate", gmm, "--data", "no-such-data", "-n", 10)
    add("evaluate other image shape", "evaluate", gmm, "--data", mixed, "-n", 10)
    add("evaluate inception without weights", "evaluate", gmm, "--features", "inception", "-n", 10)
    add("evaluate inception weights missing", "evaluate", gmm, "--features", "inception", "--weights", t / "none.pt", "-n", 10)
    add("evaluate features on text run", "evaluate", lstm, "--features", "inception")
    add("compare no runs", "compare")
    add("compare a run and a non-run", "compare", gmm, not_a_run)
    add("compare n 0", "compare", gmm, gmm, "-n", 0)
    add("compare n 1e12", "compare", gmm, gmm, "-n", 10**12)
    add("compare NaN run", "compare", gmm, nan_gmm, "-n", 10)

    # ---------------------------------------------------------------- complete / fit-latent
    add("complete with a model that cannot", "complete", vae, "--input", png_in)
    add("complete input missing", "complete", pix, "--input", t / "none.png")
    add("complete input not an image", "complete", pix, "--input", txt_in)
    add("complete n 0", "complete", pix, "--input", png_in, "-n", 0)
    add("complete mask unknown", "complete", pix, "--input", png_in, "--mask", "diagonal")
    add("complete mask file not an image", "complete", pix, "--input", png_in, "--mask", mask_bad)
    add("complete output wrong suffix", "complete", pix, "--input", png_in, "-o", t / "c.csv")
    add("complete output under a file", "complete", pix, "--input", png_in, "-o", Path(a_file) / "c.png")
    add("complete label on unconditional", "complete", pix, "--input", png_in, "--label", 2)
    add("fit-latent on a gmm", "fit-latent", gmm)
    add("fit-latent components 0", "fit-latent", vae, "--components", 0)
    add("fit-latent on a locked run", "fit-latent", locked)
    add("fit-latent no checkpoint", "fit-latent", no_ckpt)
    return c


def _moved_folder(t: Path) -> Path:
    """A folder of 24 small images that the cases delete after training on it (a moved dataset)."""
    d = t / "data/moveme"
    for i in range(24):
        _png(d / f"{i}.png", seed=i)
    return d
