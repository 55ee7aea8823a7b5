"""Music and audio benchmark: token models on the Bach chorales, WaveNet on rendered chorales.

    python benchmarks/music_audio.py [--budget 120] [--wavenet-budget 240] [--out benchmarks/results/music_audio.json]

Music: char-LSTM and Transformer on the chorales as note events and as the four-voice grid, each for the same
budget of process CPU seconds (one thread), scored on the held-out chorales (split by piece): exact NLL per
token and per note (comparable across token forms), and statistics of 16 generated pieces against the
held-out ones (genlab.eval.music). Audio: 40 chorales rendered to 8 kHz WAV (FluidSynth with the FluidR3 GM
soundfont when installed, else genlab's built-in synth), WaveNet trained for its budget, held-out bits per
sample, and generation speed with and without the cache.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.data.music import bach_chorales, music_split, piano_roll, synth, texts_to_pieces, write_midi
from genlab.eval.music import compare_stats, corpus_stats
from genlab.models.autoregressive.lm import evaluate_text

ROOT = Path(__file__).resolve().parents[1]
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def music_row(model: str, form: str, budget: float, out: Path) -> dict:
    data = DataConfig(name="bach-chorales", music=form, block_size=256)
    run = out / f"{model}-{form}"
    shutil.rmtree(run, ignore_errors=True)
    c0 = time.process_time()
    m = genlab.train(model, data, run, epochs=10_000, max_cpu_time=budget, progress=False, seed=0, threads=1,
                     log_every=100)
    train_cpu = time.process_time() - c0
    test = load_data(data, "music", "test")
    lik = evaluate_text(m, test)
    _, stream, pieces, _ = music_split(data, "test")
    notes = sum(len(p) for p in pieces)
    total_nats = lik["nats_per_token"] * lik["tokens"]
    gen = torch.Generator().manual_seed(0)
    g0 = time.process_time()
    texts = m.sample(16, generator=gen, length=512)
    sample_cpu = time.process_time() - g0
    generated = [p for p in texts_to_pieces(texts, m.info) if len(p)]
    g, r = corpus_stats(generated), corpus_stats(pieces)
    return {"model": model, "form": form, "train_cpu_s": round(train_cpu, 1), "steps": json.loads((run / "state.json").read_text()).get("step"),
            "nats_per_token": round(lik["nats_per_token"], 4), "nats_per_note": round(total_nats * len(stream) /
            lik["tokens"] / notes, 4), "held_out_tokens": lik["tokens"], "held_out_notes": notes,
            "sample_cpu_s_16x512_tokens": round(sample_cpu, 2),
            "generated": {k: g[k] for k in ("pieces", "notes", "note_density", "polyphony", "key_consistency") if k in g},
            "held_out": {k: r[k] for k in ("pieces", "notes", "note_density", "polyphony", "key_consistency")},
            "distances": {k: round(v, 4) for k, v in compare_stats(g, r).items()}, "_pieces": generated}


def render_corpus(folder: Path, pieces: list[np.ndarray], sample_rate: int = 8000) -> str:
    """Chorales to WAV: FluidSynth + FluidR3 GM when installed (a real instrument sample set), else the
    built-in synth. Returns which renderer was used."""
    import soundfile
    from scipy.signal import resample_poly

    folder.mkdir(parents=True, exist_ok=True)
    fluid = shutil.which("fluidsynth") and SOUNDFONT.is_file()
    for i, p in enumerate(pieces):
        wav = folder / f"chorale{i:03d}.wav"
        if fluid:
            with tempfile.TemporaryDirectory() as tmp:
                mid = Path(tmp) / "p.mid"
                write_midi([p], mid)
                subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", "16000", str(SOUNDFONT), str(mid)],
                               check=True, capture_output=True)
            x, sr = soundfile.read(str(wav), dtype="float32", always_2d=True)
            x = resample_poly(x.mean(1), 1, 2).astype(np.float32)
            soundfile.write(str(wav), x / max(1e-6, np.abs(x).max()) * 0.9, sample_rate, subtype="PCM_16")
        else:
            x = synth([p], sample_rate=16000)
            soundfile.write(str(wav), resample_poly(x, 1, 2).astype(np.float32), sample_rate, subtype="PCM_16")
    return "fluidsynth FluidR3_GM" if fluid else "genlab built-in synth"


def wavenet_row(budget: float, out: Path) -> dict:
    corpus = out / "chorale-wavs"
    shutil.rmtree(corpus, ignore_errors=True)
    renderer = render_corpus(corpus, bach_chorales()[:40])
    data = DataConfig(name=str(corpus), sample_rate=8000, block_size=2048)
    run = out / "wavenet"
    shutil.rmtree(run, ignore_errors=True)
    c0 = time.process_time()
    m = genlab.train("wavenet", data, run, epochs=10_000, max_cpu_time=budget, progress=False, seed=0, threads=1,
                     batch_size=8, lr=1e-3, log_every=50)
    train_cpu = time.process_time() - c0
    test = load_data(data, "audio", "test")
    nll = count = 0.0
    with torch.no_grad():
        for b in test.batches(16, shuffle=False, drop_last=False):
            nll += float(-m.log_likelihood(b).sum())
            count += b["x"][:, 1:].numel()
    speed = {}
    for n, cache, length in ((1, True, 8000), (16, True, 8000), (1, False, 400)):
        c0 = time.process_time()
        m.generate_codes(n, length, generator=torch.Generator().manual_seed(0), cache=cache)
        speed[f"{'cached' if cache else 'uncached'}_batch{n}_samples_per_cpu_s"] = round(n * length / (time.process_time() - c0))
    c0 = time.process_time()
    m.generate_codes(1, 2000, generator=torch.Generator().manual_seed(0), cache=True, numpy=False)
    speed["cached_torch_loop_batch1_samples_per_cpu_s"] = round(2000 / (time.process_time() - c0))
    clip = m.sample(1, generator=torch.Generator().manual_seed(1), length=16000)
    genlab.outputs.write_samples(clip, out / "wavenet_sample.wav", m.info)
    return {"renderer": renderer, "train_cpu_s": round(train_cpu, 1),
            "steps": json.loads((run / "state.json").read_text()).get("step"),
            "receptive_field": m.receptive_field, "parameters": sum(p.numel() for p in m.parameters()),
            "test_bits_per_sample": round(nll / count / math.log(2), 4), "test_samples": int(count), **speed}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=120.0, help="process CPU seconds per music model")
    ap.add_argument("--wavenet-budget", type=float, default=240.0)
    ap.add_argument("--work", default="/tmp/genlab-music-bench")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/music_audio.json"))
    ap.add_argument("--skip-music", action="store_true")
    ap.add_argument("--skip-audio", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result = {"date": str(date.today()), "machine": f"{platform.machine()} CPU, 1 thread, no GPU",
              "torch": torch.__version__, "budget_cpu_s": args.budget, "music": [], "wavenet": None}
    if Path(args.out).is_file():
        result = {**json.loads(Path(args.out).read_text()), **{k: result[k] for k in ("date", "torch")}}
    if not args.skip_music:
        rows = [music_row(m, f, args.budget, work) for m, f in
                (("char-lstm", "events"), ("transformer-lm", "events"), ("char-lstm", "grid"), ("transformer-lm", "grid"))]
        best = min(rows, key=lambda r: r["nats_per_note"])
        real = music_split(DataConfig(name="bach-chorales", music="grid"), "test")[2][:3]
        img = ROOT / "docs/img/music_chorales.png"
        piano_roll([p[p[:, 1] < 128] for p in best["_pieces"][:3]] + [p[p[:, 1] < 128] for p in real], img,
                   f"top: 3 pieces from {best['model']} ({best['form']}); bottom: 3 held-out chorales (first 8 bars)")
        for r in rows:
            r.pop("_pieces")
        result["music"] = rows
        result["budget_cpu_s"] = args.budget
    if not args.skip_audio:
        result["wavenet"] = wavenet_row(args.wavenet_budget, work)
        result["wavenet_budget_cpu_s"] = args.wavenet_budget
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
