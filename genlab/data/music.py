"""Symbolic music: MIDI files and the Bach chorales shipped in ``music21``, as token sequences.

Pieces are read into *notes* on a 16th-note grid: an int array (N, 4) of ``(pitch, start, end, voice)``
with times in steps of a 16th note (4 per quarter). Two token forms (``data.music``):

- ``events`` (all voices) / ``melody`` (the top voice only): Performance-RNN-style event streams —
  ``on60`` (note on), ``off60`` (note off), ``t1``..``t16`` (advance 1..16 steps); at one instant the
  offs come first, then the ons in rising pitch. Notes on the grid round-trip exactly, except two voices
  sounding the same pitch at once (a unison), which an event stream cannot tell apart.
- ``grid``: four voices (soprano, alto, tenor, bass) on the 16th-note grid, one token per voice per step,
  time-major (S A T B of step 0, then of step 1, ...): ``S60`` (a new note), ``S_`` (the note goes on),
  ``S.`` (rest). The unit of the JSB-chorale literature is one time step = four tokens.

Every token form is a :class:`MusicTokenizer` whose text form is the tokens separated by spaces, so the
token language models (``char-lstm``, ``transformer-lm``) train on music unchanged; ``|`` separates pieces.
Loading the ~400 chorales with ``music21`` takes minutes, so their notes are cached (keyed by the music21
version) in the genlab cache.
"""
from __future__ import annotations

import functools
import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import DataInfo, TensorDataset
from .download import cache_dir
from .images import holdout_indices

STEPS_PER_QUARTER = 4
MAX_SHIFT = 16
VOICES = "SATB"
SEP = "|"
MIDI_EXTS = (".mid", ".midi")


# ----------------------------------------------------------------------------- notes <-> tokens


def _vocab(kind: str) -> list[str]:
    if kind in ("events", "melody"):
        return [SEP] + [f"on{p}" for p in range(128)] + [f"off{p}" for p in range(128)] + \
            [f"t{k}" for k in range(1, MAX_SHIFT + 1)]
    if kind == "grid":
        return [SEP] + [f"{v}{s}" for v in VOICES for s in ("_", ".", *map(str, range(128)))]
    raise ConfigError(f"data.music must be events, melody or grid, got {kind!r}")


def melody_of(notes: np.ndarray) -> np.ndarray:
    """The top voice: at every onset the highest note sounding from there, cut where the next one starts."""
    if not len(notes):
        return notes
    order = np.lexsort((-notes[:, 0], notes[:, 1]))
    n = notes[order]
    first = np.r_[True, n[1:, 1] != n[:-1, 1]]  # highest note of each onset time
    n = n[first].copy()
    n[:-1, 2] = np.minimum(n[:-1, 2], n[1:, 1])
    n[:, 3] = 0
    return n[n[:, 2] > n[:, 1]]


def notes_to_events(notes: np.ndarray) -> list[str]:
    """Event tokens of one piece (see the module docstring); repeated same-pitch onsets close the old note."""
    ev = [(int(e), 0, int(p)) for p, s, e, _ in notes] + [(int(s), 1, int(p)) for p, s, e, _ in notes]
    ev.sort()
    out, now = [], 0
    for t, kind, p in ev:
        while t > now:
            k = min(MAX_SHIFT, t - now)
            out.append(f"t{k}")
            now += k
        out.append(f"{'on' if kind else 'off'}{p}")
    return out


def events_to_notes(tokens: list[str]) -> np.ndarray:
    """Notes from event tokens; unmatched offs are ignored, notes still on at the end are closed there."""
    now, open_, notes = 0, {}, []
    for tok in tokens:
        if tok[0] == "t":
            now += int(tok[1:])
        elif tok.startswith("on"):
            p = int(tok[2:])
            if p in open_ and open_[p] < now:
                notes.append((p, open_[p], now, 0))
            open_[p] = now
        elif tok.startswith("off"):
            p = int(tok[3:])
            s = open_.pop(p, None)
            if s is not None and s < now:
                notes.append((p, s, now, 0))
    for p, s in open_.items():
        if now > s:
            notes.append((p, s, now, 0))
    return np.array(sorted(notes, key=lambda n: (n[1], n[0])), dtype=np.int64).reshape(-1, 4)



def notes_to_grid(notes: np.ndarray) -> np.ndarray:
    """(T, 4) int grid: pitch at an onset, -1 while the note holds, -2 for rest (voices 0..3 = S A T B)."""
    length = int(notes[:, 2].max()) if len(notes) else 0
    grid = np.full((length, 4), -2, dtype=np.int64)
    for p, s, e, v in notes:
        if 0 <= v < 4:
            grid[s:e, v] = -1
            grid[s, v] = p
    return grid


def grid_to_notes(grid: np.ndarray) -> np.ndarray:
    notes = []
    for v in range(grid.shape[1]):
        col, start, pitch = grid[:, v], None, None
        for t in range(len(col) + 1):
            c = col[t] if t < len(col) else -2
            if c != -1 and start is not None:
                notes.append((pitch, start, t, v))
                start = None
            if c >= 0:
                start, pitch = t, int(c)
    return np.array(sorted(notes, key=lambda n: (n[1], n[3])), dtype=np.int64).reshape(-1, 4)


def grid_tokens(grid: np.ndarray) -> list[str]:
    sym = lambda c: "_" if c == -1 else "." if c == -2 else str(int(c))  # noqa: E731
    return [f"{VOICES[v]}{sym(c)}" for row in grid for v, c in enumerate(row)]


def tokens_grid(tokens: list[str]) -> np.ndarray:
    """Grid from tokens; a step starts at every soprano token, missing voices rest."""
    rows, row = [], None
    for tok in tokens:
        v = VOICES.index(tok[0])
        if v == 0 or row is None:
            row = [-2, -2, -2, -2]
            rows.append(row)
        s = tok[1:]
        row[v] = -1 if s == "_" else -2 if s == "." else int(s)
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


class MusicTokenizer:
    """Token ids <-> the space-separated text form of one of the token kinds (``events``, ``melody``,
    ``grid``). It offers what the token language models use of a text tokenizer."""

    def __init__(self, kind: str):
        self.kind = kind
        self.tokens = _vocab(kind)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.token_bytes = [(t + " ").encode() for t in self.tokens]
        self.vocab_size = len(self.tokens)

    def to_meta(self) -> dict:
        return {"tokenizer": "music", "music": self.kind}

    @classmethod
    def from_meta(cls, meta: dict) -> "MusicTokenizer":
        return cls(meta["music"])

    def piece_tokens(self, notes: np.ndarray) -> list[str]:
        if self.kind == "grid":
            return grid_tokens(notes_to_grid(notes))
        return notes_to_events(melody_of(notes) if self.kind == "melody" else notes)

    def tokens_notes(self, tokens: list[str]) -> np.ndarray:
        tokens = [t for t in tokens if t != SEP]
        return grid_to_notes(tokens_grid(tokens)) if self.kind == "grid" else events_to_notes(tokens)

    def unknown(self, text: str) -> list[str]:
        return sorted({t for t in text.split() if t not in self.index})

    def encode(self, text: str) -> np.ndarray:
        bad = self.unknown(text)
        if bad:
            raise ConfigError(f"not {self.kind} music tokens: {' '.join(bad[:8])} (tokens look like "
                              f"{' '.join(self.tokens[1:4])} ...)")
        return np.array([self.index[t] for t in text.split()], dtype=np.int64)

    def decode(self, ids) -> str:
        return " ".join(self.tokens[int(i)] for i in ids)

    def chars_per_token(self) -> torch.Tensor:
        """One unit per token, so the language models' per-character rate is a per-token (event) rate."""
        return torch.ones(self.vocab_size)

    def tokens_per_step(self) -> int:
        return 4 if self.kind == "grid" else 1


# ----------------------------------------------------------------------------- reading pieces


def read_midi(path: Path) -> np.ndarray:
    """Notes of a MIDI file on the 16th-note grid (voice = instrument order, drums left out)."""
    import pretty_midi

    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # pretty_midi/mido raise many kinds of errors on corrupt files
        raise DataError(f"could not read MIDI file {path}: {type(e).__name__}: {e}") from None
    res, notes = pm.resolution, []
    for v, inst in enumerate(i for i in pm.instruments if not i.is_drum):
        for n in inst.notes:
            s = round(pm.time_to_tick(n.start) * STEPS_PER_QUARTER / res)
            e = max(s + 1, round(pm.time_to_tick(n.end) * STEPS_PER_QUARTER / res))
            notes.append((n.pitch, s, e, v))
    if not notes:
        raise DataError(f"MIDI file {path} holds no notes")
    return np.array(sorted(notes, key=lambda n: (n[1], n[3], n[0])), dtype=np.int64)


def write_midi(pieces: list[np.ndarray], path, gap_steps: int = 8, bpm: float = 100.0) -> None:
    """Notes of one or more pieces to one MIDI file, one after another with ``gap_steps`` of silence; a
    piano per voice."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    sec = 60.0 / bpm / STEPS_PER_QUARTER
    voices = max([int(p[:, 3].max()) + 1 for p in pieces if len(p)] + [1])
    insts = [pretty_midi.Instrument(program=0, name=f"voice {v}") for v in range(voices)]
    offset = 0
    for notes in pieces:
        for p, s, e, v in notes:
            insts[int(v)].notes.append(pretty_midi.Note(velocity=80, pitch=int(p), start=(offset + s) * sec, end=(offset + e) * sec))
        offset += (int(notes[:, 2].max()) if len(notes) else 0) + gap_steps
    pm.instruments.extend(insts)
    pm.write(str(path))


def _chorale_notes(path: str) -> np.ndarray | None:
    """S, A, T, B notes of one chorale file (None when it does not have those four parts)."""
    from music21 import corpus

    score = corpus.parse(path)
    parts = {}
    for part in score.parts:
        name = (part.partName or "").lower()
        for v, key in enumerate(("soprano", "alto", "tenor", "bass")):
            if key in name and v not in parts:
                parts[v] = part
    if len(parts) != 4:
        return None
    notes = []
    for v, part in parts.items():
        for n in part.stripTies().flatten().notes:
            p = max(n.pitches, key=lambda q: q.midi).midi if n.isChord else n.pitch.midi
            s = round(float(n.getOffsetInHierarchy(part)) * STEPS_PER_QUARTER)
            e = s + max(1, round(float(n.duration.quarterLength) * STEPS_PER_QUARTER))
            notes.append((p, s, e, v))
    if not notes:
        return None
    a = np.array(sorted(notes, key=lambda n: (n[1], n[3])), dtype=np.int64)
    a[:, 1:3] -= a[:, 1].min()  # pickup bars start at 0
    return a


def bach_chorales(limit: int | None = None, echo=None) -> list[np.ndarray]:
    """The four-part Bach chorales of music21's corpus as notes, cached after the first (slow) parse."""
    try:
        import music21
        from music21 import corpus
    except ImportError:
        raise ConfigError("--data bach-chorales needs the music21 package: pip install 'genlab[music]'") from None
    paths = sorted(str(p) for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml", ".krn")))
    if limit:
        paths = paths[:limit]
    key = hashlib.sha256(("|".join(Path(p).name for p in paths) + music21.__version__).encode()).hexdigest()[:16]
    cache = cache_dir("music") / f"bach-chorales-{key}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return [z[k] for k in sorted(z.files, key=int)]
    if echo and len(paths) > 20:
        echo(f"reading {len(paths)} Bach chorales from music21's corpus once (a few minutes); cached in {cache}")
    pieces = [p for p in (_chorale_notes(x) for x in paths) if p is not None]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **{str(i): p for i, p in enumerate(pieces)})
    tmp.replace(cache)
    return pieces


def read_pieces(cfg: DataConfig) -> tuple[list[np.ndarray], str]:
    """All pieces named by ``cfg.name`` and a short name for them."""
    if cfg.name == "bach-chorales":
        return bach_chorales(cfg.limit, echo=lambda m: print(m, file=sys.stderr)), "bach-chorales"
    path = Path(cfg.name).expanduser()
    if path.is_file():
        if path.suffix.lower() not in MIDI_EXTS:
            raise DataError(f"{path} is not a MIDI file (.mid, .midi)")
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MIDI_EXTS and not p.name.startswith("."))
    else:
        raise DataError(f"music data {cfg.name!r} not found: give bach-chorales, a .mid file or a folder of them")
    if not files:
        raise DataError(f"no MIDI files (.mid, .midi) found in {path}")
    return [read_midi(f) for f in files], path.name


def transpose(notes: np.ndarray, k: int) -> np.ndarray | None:
    out = notes.copy()
    out[:, 0] += k
    return out if out[:, 0].min() >= 0 and out[:, 0].max() <= 127 else None


# ----------------------------------------------------------------------------- the dataset


@functools.lru_cache(maxsize=4)
def _streams(name: str, limit, kind: str, val_fraction: float, shift: int, mtime: float):
    cfg = DataConfig(name=name, limit=limit, music=kind)
    pieces, short = read_pieces(cfg)
    if len(pieces) < 2:
        raise DataError(f"{name} holds {len(pieces)} piece(s); at least 2 are needed to hold one out for validation")
    tok = MusicTokenizer(kind)
    out = {}
    for split in ("train", "test"):
        idx = holdout_indices(len(pieces), val_fraction, split)
        chosen = [pieces[i] for i in idx]
        if split == "train" and shift:
            chosen = [t for p in chosen for k in range(-shift, shift + 1) if (t := transpose(p, k)) is not None]
        ids = []
        for p in chosen:
            ids.append(tok.index[SEP])
            ids.extend(tok.index[t] for t in tok.piece_tokens(p))
        ids.append(tok.index[SEP])
        out[split] = (torch.tensor(ids, dtype=torch.int64), [pieces[i] for i in idx])
    return tok, out, short


def music_split(cfg: DataConfig, split: str):
    """(tokenizer, token stream, the split's pieces as notes, short name) of ``cfg``."""
    path = Path(cfg.name).expanduser()
    mtime = path.stat().st_mtime if path.exists() else 0.0
    tok, out, short = _streams(cfg.name, cfg.limit, cfg.music, cfg.val_fraction, cfg.transpose, mtime)
    stream, pieces = out[split]
    return tok, stream, pieces, short


def load_music(cfg: DataConfig, split: str) -> TensorDataset:
    """Windows of ``cfg.block_size`` tokens over the pieces of ``split`` (pieces are split, not windows)."""
    from .text import window_transform

    if cfg.music not in ("events", "melody", "grid"):
        raise ConfigError(f"data.music must be events, melody or grid, got {cfg.music!r}")
    if not 0 <= cfg.transpose <= 11:
        raise ConfigError(f"data.transpose must be 0..11 semitones, got {cfg.transpose}")
    tok, stream, _, short = music_split(cfg, split)
    t = cfg.block_size
    if len(stream) < t + 1:
        raise DataError(f"the {split} pieces of {cfg.name} have {len(stream)} tokens, fewer than data.block_size + 1 = "
                        f"{t + 1}; lower data.block_size")
    starts = torch.arange(0, len(stream) - t, t, dtype=torch.int64)
    meta = {**tok.to_meta(), "vocab_size": tok.vocab_size, "block_size": t, "bos": tok.index[SEP],
            "tokens_per_step": tok.tokens_per_step()}
    info = DataInfo("music", (t,), name=short, meta=meta)
    return TensorDataset({"start": starts}, info, transform=window_transform(stream, t, shift=split == "train"))


# ----------------------------------------------------------------------------- writing


def texts_to_pieces(samples, info: DataInfo) -> list[np.ndarray]:
    tok = MusicTokenizer.from_meta(info.meta)
    if isinstance(samples, str):
        samples = [samples]
    pieces = []
    for s in samples:
        for part in re.split(r"\s*\|\s*", s):
            if part.strip():
                pieces.append(tok.tokens_notes([t for t in part.split() if t in tok.index]))
    return pieces


def piano_roll(pieces: list[np.ndarray], path, title: str = "") -> None:
    """A piano-roll picture (time across, pitch up; one colour per voice), pieces stacked as rows."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 1.6 * max(1, len(pieces))), dpi=100)
    colours = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad"]
    for i, notes in enumerate(pieces or [np.zeros((0, 4), dtype=np.int64)]):
        ax = fig.add_subplot(max(1, len(pieces)), 1, i + 1)
        for p, s, e, v in notes:
            ax.barh(p, e - s, left=s, height=0.9, color=colours[int(v) % 4], linewidth=0)
        ax.set_ylabel("pitch", fontsize=7)
        ax.tick_params(labelsize=6)
        if len(notes):
            ax.set_ylim(notes[:, 0].min() - 2, notes[:, 0].max() + 2)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def synth(pieces: list[np.ndarray], sample_rate: int = 16000, bpm: float = 100.0, gap_steps: int = 8) -> np.ndarray:
    """A plain additive synthesiser (sine + two harmonics, short attack/release) for listening when no
    FluidSynth is around; float32 mono in [-1, 1]."""
    sec = 60.0 / bpm / STEPS_PER_QUARTER
    total = sum((int(p[:, 2].max()) if len(p) else 0) + gap_steps for p in pieces)
    out = np.zeros(int(total * sec * sample_rate) + sample_rate // 10, dtype=np.float32)
    offset = 0
    for notes in pieces:
        for p, s, e, _ in notes:
            a, b = int((offset + s) * sec * sample_rate), int((offset + e) * sec * sample_rate)
            t = np.arange(b - a, dtype=np.float32) / sample_rate
            f = 440.0 * 2 ** ((p - 69) / 12)
            tone = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) + 0.1 * np.sin(6 * np.pi * f * t)
            env = np.minimum(1, np.minimum(t / 0.01, (t[-1] - t + 1e-3) / 0.03)) if len(t) else t
            out[a:b] += 0.15 * tone * env
        offset += (int(notes[:, 2].max()) if len(notes) else 0) + gap_steps
    peak = np.abs(out).max()
    return out / peak * 0.9 if peak > 0.9 else out


def write_music(samples, path: Path, info: DataInfo, labels=None) -> None:
    """``.mid`` (all samples one after another), ``.png`` piano roll, ``.wav`` (built-in synth) or ``.txt``
    (the tokens)."""
    suffix = path.suffix.lower()
    if suffix not in (".mid", ".midi", ".png", ".wav", ".txt"):
        raise ConfigError(f"music samples are written as .mid, .png (piano roll), .wav or .txt, not {suffix or 'no suffix'}")
    if suffix == ".txt":
        texts = [samples] if isinstance(samples, str) else samples
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        return
    pieces = texts_to_pieces(samples, info)
    if suffix in (".mid", ".midi"):
        write_midi(pieces, path)
    elif suffix == ".png":
        piano_roll(pieces, path)
    else:
        import soundfile

        soundfile.write(str(path), synth(pieces), 16000, subtype="PCM_16")
