"""Bad inputs for music (MIDI, token forms, completion) and audio (WAV, WaveNet). See
benchmarks/bad_input_catalogue.py."""
from __future__ import annotations

import numpy as np


def _midi(fx, name, notes):
    from genlab.data.music import write_midi

    path = fx.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_midi([np.array(notes, dtype=np.int64).reshape(-1, 4)], path)
    return str(path)


def _wav(fx, name, sr=8000, seconds=0.3, channels=1, subtype="PCM_16"):
    import soundfile

    path = fx.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.4 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(str(path), np.stack([x] * channels, 1) if channels > 1 else x, sr, subtype=subtype)
    return str(path)


def cases(fx):
    t = fx.tmp
    scale = [[60 + i, 2 * i, 2 * i + 2, 0] for i in range(24)]
    for i in range(3):
        _midi(fx, f"music/ok/p{i}.mid", [[p + i, s, e, v] for p, s, e, v in scale])
    ok = str(t / "music/ok")
    run = fx.run("char-lstm", ok, "data.music=grid", "data.block_size=16", "model.hidden=16", "model.layers=1")
    (t / "music/corrupt").mkdir(parents=True, exist_ok=True)
    (t / "music/corrupt/a.mid").write_bytes(b"MThd\x00\x00\x00\x06" + b"\xff" * 20)
    (t / "music/corrupt/b.mid").write_bytes(b"MThd\x00\x00\x00\x06" + b"\x00" * 3)
    _midi(fx, "music/empty/a.mid", [])
    _midi(fx, "music/empty/b.mid", [])
    (t / "music/none").mkdir(parents=True, exist_ok=True)
    fx.file("music/none/readme.md", "no music here")
    one = _midi(fx, "music/one/only.mid", scale)
    melody = _midi(fx, "music/melody.mid", scale[:8])
    not_midi = fx.file("music/fake.mid", "this is text")
    _wav(fx, "audio/ok/a.wav")
    _wav(fx, "audio/ok/b.wav")
    (t / "audio/corrupt").mkdir(parents=True, exist_ok=True)
    (t / "audio/corrupt/a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt junk")
    (t / "audio/empty").mkdir(parents=True, exist_ok=True)
    _wav(fx, "audio/zero/a.wav", seconds=0.0)
    _wav(fx, "audio/zero/b.wav", seconds=0.0)
    _wav(fx, "audio/short/a.wav", seconds=0.01)
    _wav(fx, "audio/short/b.wav", seconds=0.01)
    audio_ok = str(t / "audio/ok")
    wn = fx.run("wavenet", audio_ok, "model.layers=3", "model.residual=4", "model.skip=8", "data.block_size=64")
    train = ["train", "char-lstm", "--max-steps", "1", "--quiet", "--out"]
    wtrain = ["train", "wavenet", "--max-steps", "1", "--quiet", "--out"]
    return [
        ("music: corrupt MIDI files", [*train, str(t / "r1"), "--data", str(t / "music/corrupt")]),
        ("music: MIDI files with no notes", [*train, str(t / "r2"), "--data", str(t / "music/empty")]),
        ("music: folder with no MIDI", [*train, str(t / "r3"), "--data", str(t / "music/none")]),
        ("music: a single piece (nothing to hold out)", [*train, str(t / "r4"), "--data", one]),
        ("music: text file named .mid", [*train, str(t / "r5"), "--data", not_midi]),
        ("music: unknown token form", [*train, str(t / "r6"), "--data", ok, "--set", "data.music=chords"]),
        ("music: transpose out of range", [*train, str(t / "r7"), "--data", ok, "--set", "data.transpose=40"]),
        ("music: block longer than the pieces", [*train, str(t / "r8"), "--data", ok, "--set", "data.block_size=100000"]),
        ("music: wavenet on MIDI", [*wtrain, str(t / "r9"), "--data", ok]),
        ("music: sample to .jpg", ["sample", run, "-n", "1", "-o", str(t / "x.jpg")]),
        ("music: sample with a negative length", ["sample", run, "-n", "1", "--length", "-3", "-o", str(t / "x.mid")]),
        ("music: prompt with unknown tokens", ["sample", run, "-n", "1", "--prompt", "S60 Q99", "-o", str(t / "x.mid")]),
        ("music: complete with an image mask", ["complete", run, "--input", melody, "--mask", "centre", "-o", str(t / "c.mid")]),
        ("music: complete a corrupt MIDI", ["complete", run, "--input", str(t / "music/corrupt/a.mid"), "--mask", "continue",
                                            "-o", str(t / "c.mid")]),
        ("music: complete to .txt", ["complete", run, "--input", melody, "--mask", "harmonize", "-o", str(t / "c.txt")]),
        ("audio: corrupt WAV", [*wtrain, str(t / "a1"), "--data", str(t / "audio/corrupt")]),
        ("audio: folder with no audio", [*wtrain, str(t / "a2"), "--data", str(t / "audio/empty")]),
        ("audio: WAV files with no samples", [*wtrain, str(t / "a3"), "--data", str(t / "audio/zero")]),
        ("audio: clips shorter than a block", [*wtrain, str(t / "a4"), "--data", str(t / "audio/short")]),
        ("audio: absurd sample rate", [*wtrain, str(t / "a5"), "--data", audio_ok, "--set", "data.sample_rate=5"]),
        ("audio: wavenet with 40 layers", [*wtrain, str(t / "a6"), "--data", audio_ok, "--set", "model.layers=40"]),
        ("audio: conditional wavenet without classes", [*wtrain, str(t / "a7"), "--data", audio_ok, "--set",
                                                        "model.conditional=true"]),
        ("audio: sample to .mid", ["sample", wn, "-n", "1", "--length", "10", "-o", str(t / "x.mid")]),
        ("audio: sample zero temperature", ["sample", wn, "-n", "1", "--temperature", "0", "-o", str(t / "x.wav")]),
        ("audio: sample absurd length", ["sample", wn, "-n", "1", "--length", "100000000000", "-o", str(t / "x.wav")]),
        ("audio: evaluate with absurd -n", ["evaluate", wn, "-n", "100000"]),
    ]
