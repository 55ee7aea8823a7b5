"""Evaluation of music and audio runs: held-out likelihood, statistics a musician reads, and listening.

Music (notes on the 16th-note grid, see :mod:`genlab.data.music`): for generated and held-out pieces,

- ``pitch_class``: duration-weighted histogram of the 12 pitch classes;
- ``interval``: melodic intervals of the top line, -12..+12 semitones (larger leaps clipped);
- ``duration``: note lengths, 1..16 sixteenths (longer clipped);
- ``note_density`` (note onsets per 4/4 bar), ``polyphony`` (notes sounding at once, where any sounds),
  ``key_consistency`` (the best correlation of a piece's pitch-class histogram with the 24 Krumhansl–Kessler
  key profiles: ~0.9 for tonal music, ~0.3 for random notes).

Histograms are compared by total-variation distance (0 = same, 1 = disjoint), scalars by the difference.
Audio: bits per sample on held-out clips, the distance between mean log-mel spectra of generated and
held-out clips, and each generated clip's nearest training window (memorisation).
"""
from __future__ import annotations

import base64
import html
import io
import math

import numpy as np
import torch


# Krumhansl & Kessler (1982) probe-tone profiles, C major and C minor
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
HISTS = ("pitch_class", "interval", "duration")


def key_consistency(pc_hist: np.ndarray) -> float:
    if pc_hist.sum() == 0 or np.ptp(pc_hist) == 0:  # no notes, or every pitch class alike: no key
        return 0.0
    profiles = [np.roll(p, k) for p in (MAJOR, MINOR) for k in range(12)]
    return float(max(np.corrcoef(pc_hist, p)[0, 1] for p in profiles))


def piece_stats(notes: np.ndarray) -> dict:
    """Histograms (counts) and scalars of one piece's notes (N, 4) = (pitch, start, end, voice)."""
    from ..data.music import melody_of

    dur = notes[:, 2] - notes[:, 1] if len(notes) else np.zeros(0, dtype=np.int64)
    pc = np.bincount(notes[:, 0] % 12, weights=dur, minlength=12) if len(notes) else np.zeros(12)
    top = melody_of(notes)
    iv = np.clip(np.diff(top[:, 0]), -12, 12) + 12 if len(top) > 1 else np.zeros(0, dtype=np.int64)
    length = int(notes[:, 2].max()) if len(notes) else 0
    sounding = np.zeros(length + 1)
    if len(notes):
        np.add.at(sounding, notes[:, 1], 1)
        np.add.at(sounding, notes[:, 2], -1)
    sounding = np.cumsum(sounding)[:length]
    return {
        "pitch_class": pc,
        "interval": np.bincount(iv, minlength=25).astype(float),
        "duration": np.bincount(np.clip(dur, 1, 16) - 1, minlength=16).astype(float),
        "note_density": 16.0 * len(notes) / max(length, 1),
        "polyphony": float(sounding[sounding > 0].mean()) if (sounding > 0).any() else 0.0,
        "key_consistency": key_consistency(pc),
    }


def corpus_stats(pieces: list[np.ndarray]) -> dict:
    stats = [piece_stats(p) for p in pieces if len(p)]
    if not stats:
        return {"pieces": 0}
    out = {"pieces": len(stats), "notes": int(sum(len(p) for p in pieces))}
    for h in HISTS:
        total = sum(s[h] for s in stats)
        out[h] = (total / max(total.sum(), 1e-12)).tolist()
    for k in ("note_density", "polyphony", "key_consistency"):
        out[k] = float(np.mean([s[k] for s in stats]))
    return out


def compare_stats(gen: dict, real: dict) -> dict:
    out = {}
    for h in HISTS:
        if h in gen and h in real:
            out[f"{h}_tv"] = 0.5 * float(np.abs(np.array(gen[h]) - np.array(real[h])).sum())
    for k in ("note_density", "polyphony", "key_consistency"):
        if k in gen and k in real:
            out[f"{k}_diff"] = gen[k] - real[k]
    return out


# ----------------------------------------------------------------------------- report pieces


def _png_b64(save) -> str:
    buf = io.BytesIO()
    save(buf)
    return base64.b64encode(buf.getvalue()).decode()


def wav_b64(wave: np.ndarray, sample_rate: int) -> str:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.clip(wave, -1, 1), sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode()


def audio_tag(wave: np.ndarray, sample_rate: int, label: str) -> str:
    return (f'<div>{html.escape(label)}<br><audio controls src="data:audio/wav;base64,'
            f'{wav_b64(wave, sample_rate)}"></audio></div>')


def img_tag(b64: str, alt: str, width: int = 900) -> str:
    return f'<img alt="{html.escape(alt)}" width="{width}" src="data:image/png;base64,{b64}">'


def stats_table(rows: dict[str, dict]) -> str:
    keys = ["pieces", "notes", "note_density", "polyphony", "key_consistency"]
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(
        f"<td>{r.get(k, ''):.3g}</td>" if isinstance(r.get(k), float) else f"<td>{r.get(k, '')}</td>" for k in keys)
        + "</tr>" for name, r in rows.items())
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


# ----------------------------------------------------------------------------- music runs


def evaluate_music_run(model, run_dir, data_cfg, *, n: int = 16, seed: int = 0, length: int | None = None, **_) -> dict:
    """Held-out NLL (nats per token; per time step for the four-voice grid) and statistics of ``n`` generated
    pieces against the held-out pieces."""
    from ..data import load_data
    from ..data.music import music_split, piano_roll, synth, texts_to_pieces
    from ..errors import ConfigError
    from ..models.autoregressive.lm import evaluate_text

    if n > 2000:
        raise ConfigError(f"-n {n} generated pieces is more than music evaluation uses (at most 2000)")
    test = load_data(data_cfg, "music", "test")
    lik = evaluate_text(model, test)
    per_step = model.info.meta.get("tokens_per_step", 1)
    likelihood = {"estimator": "exact", "unit": "nats per token",
                  "nats_per_token": lik["nats_per_token"], "bits_per_token": lik["bits_per_token"],
                  "perplexity": lik["perplexity"], "tokens": lik["tokens"]}
    if per_step > 1:
        likelihood["nats_per_step"] = lik["nats_per_token"] * per_step
        likelihood["unit_note"] = (f"one 16th-note step = {per_step} tokens (S A T B); the JSB-chorale literature's "
                                   "frame NLL is per step of a binary piano roll, which has no hold symbol")
    _, _, real_pieces, _ = music_split(data_cfg, "test")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    length = length or min(4 * model.block_size, 1024)
    texts = model.sample(n, generator=gen, length=length)
    gen_pieces = [p for p in texts_to_pieces(texts, model.info) if len(p)]
    g, r = corpus_stats(gen_pieces), corpus_stats(real_pieces)
    result = {"model": model.name, "data": data_cfg.name, "n": n, "tokens_per_sample": length,
              "likelihood": likelihood, "generated": g, "held_out": r, "distances": compare_stats(g, r)}
    shown_gen, shown_real = gen_pieces[:3], [p[p[:, 1] < 128] for p in real_pieces[:3]]
    roll = lambda ps, t: _png_b64(lambda f: piano_roll(ps, f, t))  # noqa: E731
    parts = [stats_table({"generated": g, "held-out": r}),
             "<h3>Generated (piano roll)</h3>" + img_tag(roll(shown_gen, "generated"), "generated piano roll"),
             "<h3>Held-out (first 8 bars)</h3>" + img_tag(roll(shown_real, "held-out"), "held-out piano roll")]
    if shown_gen:
        parts.append(audio_tag(synth(shown_gen[:1], 16000)[: 16000 * 20], 16000, "generated (built-in synth)"))
    result["_html"] = "\n".join(parts)
    return result


# ----------------------------------------------------------------------------- audio runs


def log_mel(wave: np.ndarray, sample_rate: int, n_mels: int = 40, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """(frames, n_mels) log-mel spectrogram: |STFT|^2 through triangular mel filters (a dozen lines here
    rather than a dependency on librosa and numba)."""
    from scipy.signal import stft

    _, _, z = stft(wave, fs=sample_rate, nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False)
    power = np.abs(z) ** 2  # (freqs, frames)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    imel = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    edges = imel(np.linspace(0, mel(sample_rate / 2), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, power.shape[0])
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return np.log(bank @ power + 1e-6).T


def evaluate_audio_run(model, run_dir, data_cfg, *, n: int = 8, seed: int = 0, length: int | None = None,
                       nll_limit: int | None = None, **_) -> dict:
    """Bits per sample on held-out windows, log-mel distance of ``n`` generated clips to held-out clips, and
    memorisation: each generated clip's nearest training window in log-mel space against the same distance
    for held-out clips."""
    from ..data import load_data
    from ..data.audio import audio_split, mu_law_decode, spectrogram_png
    from ..errors import ConfigError

    if n > 256:
        raise ConfigError(f"-n {n} generated clips is more than audio evaluation uses (at most 256)")
    sr = int(model.info.meta["sample_rate"])
    test = load_data(data_cfg, "audio", "test")
    nll, count = 0.0, 0
    for i, batch in enumerate(test.batches(32, shuffle=False, drop_last=False, device=model.device)):
        nll += float(-model.log_likelihood(batch).sum())
        count += batch["x"][:, 1:].numel()
        if nll_limit and count >= nll_limit:
            break
    likelihood = {"estimator": "exact", "unit": "bits per audio sample (8-bit µ-law)",
                  "bits_per_sample": nll / count / math.log(2), "samples": count}
    length = length or sr
    gen = torch.Generator(device=model.device).manual_seed(seed)
    labels = torch.arange(n) % model.info.num_classes if model.conditional else None
    clips = model.sample(n, labels=labels, generator=gen, length=length).cpu().numpy()
    test_clips, _, _, _ = audio_split(data_cfg, "test")
    train_clips, _, _, _ = audio_split(data_cfg, "train")
    real = [mu_law_decode(c).numpy()[:length] for c in test_clips if len(c) >= length // 2]
    if not real:
        raise ConfigError(f"no held-out clip is at least {length // 2} samples long; pass a shorter --length")
    mel = lambda w: log_mel(w, sr).mean(0)  # noqa: E731  (mean log-mel spectrum of a clip)
    g_mel = np.stack([mel(c) for c in clips])
    r_mel = np.stack([mel(c) for c in real])
    windows = [mu_law_decode(c[s:s + length]).numpy() for c in train_clips
               for s in range(0, max(1, len(c) - length + 1), max(1, length // 2))][:2000]
    t_mel = np.stack([mel(w) for w in windows])
    nearest = lambda m: np.sqrt(((m[:, None] - t_mel[None]) ** 2).mean(-1)).min(1)  # noqa: E731
    result = {
        "model": model.name, "data": data_cfg.name, "n": n, "seconds_per_clip": length / sr,
        "likelihood": likelihood,
        "log_mel_distance": float(np.sqrt(((g_mel.mean(0) - r_mel.mean(0)) ** 2).mean())),
        "log_mel_distance_held_out_vs_train": float(np.sqrt(((r_mel.mean(0) - t_mel.mean(0)) ** 2).mean())),
        "memorisation": {"nearest_train_generated": float(np.median(nearest(g_mel))),
                         "nearest_train_held_out": float(np.median(nearest(r_mel))),
                         "note": "median log-mel RMS distance to the nearest training window; generated clips much "
                                 "closer than held-out ones would suggest copying"},
    }
    parts = [audio_tag(c, sr, f"generated clip {i}") for i, c in enumerate(clips[:4])]
    parts += [audio_tag(c, sr, f"held-out clip {i}") for i, c in enumerate(real[:2])]
    parts.append(img_tag(_png_b64(lambda f: spectrogram_png(clips[0], sr, f)), "spectrogram of generated clip 0", 700))
    result["_html"] = "\n".join(parts)
    return result


def text_summary(result: dict) -> str:
    """The terminal lines of a music or audio evaluation (eval.json and report.html hold the rest)."""
    lik = result["likelihood"]
    if "bits_per_sample" in lik:
        m = result["memorisation"]
        return "\n".join([
            f"held-out likelihood  {lik['bits_per_sample']:.3f} bits per audio sample ({lik['estimator']}, "
            f"{lik['samples']:,} samples; 8 = uniform over the 256 µ-law codes)",
            f"log-mel distance     {result['log_mel_distance']:.3f} generated vs held-out mean spectrum (held-out vs "
            f"training: {result['log_mel_distance_held_out_vs_train']:.3f}; lower = closer)",
            f"memorisation         nearest training window {m['nearest_train_generated']:.3f} for generated clips, "
            f"{m['nearest_train_held_out']:.3f} for held-out clips (much smaller for generated = copying)"])
    d, g, r = result["distances"], result["generated"], result["held_out"]
    unit = (f"{lik['nats_per_step']:.3f} nats per 16th-note step, " if "nats_per_step" in lik else "")
    lines = [f"held-out likelihood  {unit}{lik['nats_per_token']:.3f} nats per token ({lik['estimator']}, "
             f"{lik['tokens']:,} tokens)",
             f"generated vs held-out ({result['n']} pieces; total variation 0 = same, 1 = disjoint):",
             f"  pitch classes {d.get('pitch_class_tv', float('nan')):.3f}   intervals "
             f"{d.get('interval_tv', float('nan')):.3f}   durations {d.get('duration_tv', float('nan')):.3f}"]
    for k, label in (("note_density", "notes per bar"), ("polyphony", "notes at once"),
                     ("key_consistency", "key consistency")):
        if k in g and k in r:
            lines.append(f"  {label:<16} {g[k]:.3f} generated, {r[k]:.3f} held-out")
    return "\n".join(lines)
