"""Music (MIDI, token forms, completion) and audio (µ-law, WaveNet) on tiny data the tests write."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import music as M
from genlab.data.audio import mu_law_decode, mu_law_encode
from genlab.data.base import DataInfo
from genlab.eval.music import corpus_stats, key_consistency, log_mel, piece_stats
from genlab.models.autoregressive.wavenet import WaveNet, WaveNetConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def random_notes(seed: int, voices: int = 4, steps: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    notes = []
    for v in range(voices):
        t = 0
        while t < steps:
            d = int(rng.integers(1, 8))
            if rng.random() < 0.8:
                notes.append((int(rng.integers(36 + 12 * (3 - v), 48 + 12 * (3 - v))), t, t + d, v))  # voices never share a pitch
            t += d
    return np.array(sorted(notes, key=lambda n: (n[1], n[3])), dtype=np.int64)


def as_set(notes: np.ndarray, cols=slice(None)) -> list:
    return sorted(map(tuple, notes[:, cols].tolist()))


def genlab(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True, cwd=cwd)


# ----------------------------------------------------------------------------- representations


def test_midi_and_token_forms_round_trip_exactly(tmp_path):
    notes = random_notes(0)
    M.write_midi([notes], tmp_path / "a.mid")
    back = M.read_midi(tmp_path / "a.mid")
    assert as_set(back) == as_set(notes)  # MIDI -> notes keeps pitch, start, end and voice
    grid = M.MusicTokenizer("grid")
    ids = grid.encode(" ".join(grid.piece_tokens(back)))
    assert as_set(grid.tokens_notes(grid.decode(ids).split())) == as_set(notes)
    events = M.MusicTokenizer("events")
    ids = events.encode(" ".join(events.piece_tokens(back)))
    again = events.tokens_notes(events.decode(ids).split())
    assert as_set(again, slice(0, 3)) == as_set(notes, slice(0, 3))  # events keep every note (not its voice)
    M.write_midi([again], tmp_path / "b.mid")
    assert as_set(M.read_midi(tmp_path / "b.mid"), slice(0, 3)) == as_set(notes, slice(0, 3))


def test_melody_is_the_top_line_and_long_rests_split_into_shifts():
    chord = np.array([[60, 0, 4, 0], [64, 0, 4, 1], [67, 0, 8, 2], [72, 20, 24, 0]])
    top = M.melody_of(chord)
    assert top[:, :3].tolist() == [[67, 0, 8], [72, 20, 24]]
    tokens = M.notes_to_events(top)
    assert tokens == ["on67", "t8", "off67", "t12", "on72", "t4", "off72"]
    assert M.events_to_notes(tokens)[:, :3].tolist() == [[67, 0, 8], [72, 20, 24]]


def test_unknown_tokens_are_named():
    tok = M.MusicTokenizer("events")
    with pytest.raises(Exception, match="on999"):
        tok.encode("on60 on999 t4")


def test_mu_law_round_trip():
    codes = torch.arange(256)
    assert torch.equal(mu_law_encode(mu_law_decode(codes)), codes)
    x = torch.linspace(-1, 1, 10001)
    err = (mu_law_decode(mu_law_encode(x)) - x).abs()
    assert err.max() < 0.035 and err[4900:5100].max() < 1e-3  # fine steps near zero, coarse near full scale


# ----------------------------------------------------------------------------- metrics


def test_music_statistics_on_known_pieces():
    scale = np.array([[p, 4 * i, 4 * i + 4, 0] for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])])
    s = piece_stats(scale)
    assert s["pitch_class"][[0, 2, 4, 5, 7, 9, 11]].tolist() == [8, 4, 4, 4, 4, 4, 4]
    assert s["note_density"] == pytest.approx(4.0) and s["polyphony"] == 1.0
    assert s["interval"][12 + 2] == 5 and s["interval"][12 + 1] == 2  # whole and half steps
    assert s["key_consistency"] > 0.8
    chord = np.array([[60, 0, 16, 0], [64, 0, 16, 1], [67, 0, 16, 2]])
    assert piece_stats(chord)["polyphony"] == 3.0
    rng = np.random.default_rng(0)
    assert key_consistency(np.ones(12)) == 0.0  # every pitch class alike: no key
    atonal = np.array([[p, i, i + 1, 0] for i, p in enumerate(rng.integers(48, 84, 400))])
    assert piece_stats(atonal)["key_consistency"] < 0.6
    c = corpus_stats([scale, chord])
    assert c["pieces"] == 2 and abs(sum(c["pitch_class"]) - 1) < 1e-9


def test_log_mel_peaks_at_the_tone():
    sr = 8000
    t = np.arange(sr) / sr
    low, high = log_mel(np.sin(2 * np.pi * 300 * t), sr).mean(0), log_mel(np.sin(2 * np.pi * 2500 * t), sr).mean(0)
    assert low.argmax() < high.argmax()


# ----------------------------------------------------------------------------- WaveNet


def tiny_wavenet(conditional=False, classes=0):
    torch.manual_seed(0)
    info = DataInfo("audio", (64,), num_classes=classes, meta={"sample_rate": 8000, "block_size": 64})
    return WaveNet(WaveNetConfig(layers=4, stacks=2, residual=8, skip=16, conditional=conditional), info).eval()


def test_wavenet_is_causal():
    m = tiny_wavenet()
    x = torch.randint(0, 256, (2, 60))
    y = x.clone()
    y[:, 30:] = torch.randint(0, 256, (2, 30))
    a, b = m.logits(x), m.logits(y)
    assert torch.equal(a[:, :, :30], b[:, :, :30])
    assert not torch.allclose(a[:, :, 30:], b[:, :, 30:])


@pytest.mark.parametrize("conditional", [False, True])
def test_cached_generation_equals_the_plain_loop(conditional):
    m = tiny_wavenet(conditional, classes=3 if conditional else 0)
    labels = torch.tensor([0, 2, 1]) if conditional else None
    runs = []
    for cache, numpy in ((False, None), (True, False), (True, True)):
        g = torch.Generator().manual_seed(5)
        runs.append(m.generate_codes(3, 80, labels, 1.0, g, cache=cache, numpy=numpy))
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])
    assert runs[0].shape == (3, 80) and runs[0].min() >= 0 and runs[0].max() <= 255


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("midi")
    for i in range(6):
        M.write_midi([random_notes(i)], root / f"piece{i}.mid")
    return root


def test_music_run_trains_samples_evaluates_and_completes(midi_folder, tmp_path):
    run = tmp_path / "run"
    r = genlab("train", "char-lstm", "--data", str(midi_folder), "--set", "data.music=grid", "--set",
               "data.block_size=64", "--set", "model.hidden=32", "--set", "model.layers=1", "--max-steps", "40",
               "--batch-size", "8", "--set", "train.lr=3e-3", "--set", "train.log_every=10", "--set", "train.grid_size=4", "--out", str(run), "--quiet",
               "--seed", "1")
    assert r.returncode == 0, r.stderr
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
              if '"loss"' in line and '"split": "train"' in line]
    assert losses[-1] < losses[0]
    r = genlab("sample", str(run), "-n", "2", "-o", str(tmp_path / "s.mid"), "--length", "64")
    assert r.returncode == 0, r.stderr
    notes = M.read_midi(tmp_path / "s.mid")
    assert len(notes) > 0 and notes[:, 3].max() <= 3
    r = genlab("evaluate", str(run), "-n", "2")
    assert r.returncode == 0, r.stderr
    ev = json.loads((run / "eval.json").read_text())
    assert ev["likelihood"]["estimator"] == "exact" and ev["likelihood"]["nats_per_step"] > 0
    assert 0 <= ev["distances"]["pitch_class_tv"] <= 1
    assert "<audio" in (run / "report.html").read_text()
    # harmonise a melody: the soprano comes back unchanged under three generated voices
    melody = np.array([[p, 4 * i, 4 * i + 4, 0] for i, p in enumerate([72, 74, 76, 77, 79])])
    M.write_midi([melody], tmp_path / "soprano.mid")
    r = genlab("complete", str(run), "--input", str(tmp_path / "soprano.mid"), "--mask", "harmonize", "-n", "1",
               "-o", str(tmp_path / "h.mid"))
    assert r.returncode == 0, r.stderr
    from genlab.models.autoregressive.music import harmonize
    from genlab.training import load

    model = load(run)
    out = harmonize(model, melody, 2, torch.Generator().manual_seed(0))
    for piece in out:
        assert as_set(piece[piece[:, 3] == 0], slice(0, 3)) == as_set(melody, slice(0, 3))
        assert set(piece[:, 3].tolist()) <= {0, 1, 2, 3}


def write_tone(path, sr=8000, seconds=0.5, channels=1, subtype="PCM_16", freq=440.0):
    import soundfile

    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    soundfile.write(str(path), np.stack([x] * channels, 1) if channels > 1 else x, sr, subtype=subtype)


def test_audio_run_trains_and_samples(tmp_path):
    data = tmp_path / "wav"
    data.mkdir()
    for i, f in enumerate([220, 330, 440, 550]):
        write_tone(data / f"tone{i}.wav", freq=f)
    run = tmp_path / "run"
    r = genlab("train", "wavenet", "--data", str(data), "--set", "model.layers=5", "--set", "model.residual=8",
               "--set", "model.skip=16", "--set", "data.block_size=128", "--max-steps", "30", "--batch-size", "8",
               "--set", "train.lr=3e-3", "--set", "train.grid_size=2", "--out", str(run), "--quiet")
    assert r.returncode == 0, r.stderr
    r = genlab("sample", str(run), "-n", "2", "--length", "400", "-o", str(tmp_path / "s.wav"))
    assert r.returncode == 0, r.stderr
    import soundfile

    wave, sr = soundfile.read(str(tmp_path / "s.wav"))
    assert sr == 8000 and len(wave) == 2 * (400 + 2000) and np.abs(wave).max() <= 1
    from genlab.training import load

    a = load(run).sample(2, generator=torch.Generator().manual_seed(3), length=50)
    b = load(run).sample(2, generator=torch.Generator().manual_seed(3), length=50)
    assert torch.equal(a, b)  # save -> load -> same samples for a seed


def test_audio_notes_stereo_and_other_rates(tmp_path):
    from genlab.config import DataConfig
    from genlab.data.audio import audio_split

    data = tmp_path / "wav"
    data.mkdir()
    write_tone(data / "a.wav", sr=16000, channels=2, subtype="PCM_24")
    write_tone(data / "b.wav")
    clips, _, _, notes = audio_split(DataConfig(name=str(data), sample_rate=8000), "train")
    assert any("mixed down" in n for n in notes) and any("resampled from 16000" in n for n in notes)
    assert all(abs(len(c) - 4000) < 10 for c in clips + audio_split(DataConfig(name=str(data)), "test")[0])


@pytest.mark.parametrize("case", ["corrupt-midi", "empty-midi", "no-music", "bad-wav", "no-audio"])
def test_bad_music_and_audio_input_is_one_clear_line(tmp_path, case):
    d = tmp_path / "d"
    d.mkdir()
    model, expect = "char-lstm", None
    if case == "corrupt-midi":
        (d / "x.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
        (d / "y.mid").write_bytes(b"not midi at all")
        expect = "could not read MIDI file"
    elif case == "empty-midi":
        M.write_midi([np.zeros((0, 4), dtype=np.int64)], d / "x.mid")
        expect = "holds no notes"
    elif case == "no-music":
        expect = "no MIDI files"
    elif case == "bad-wav":
        model = "wavenet"
        (d / "x.wav").write_bytes(b"RIFF1234WAVEjunk")
        expect = "could not read audio file"
    else:
        model = "wavenet"
        expect = "no audio files"
    extra = ["--set", "data.music=events"] if model == "char-lstm" else []
    r = genlab("train", model, "--data", str(d), *extra, "--max-steps", "1", "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and expect in r.stderr
