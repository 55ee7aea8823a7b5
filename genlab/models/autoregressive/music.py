"""Music completion with the token language models: continue an opening, or harmonise a soprano line.

Both use the models' incremental interface (``init_state`` / ``step``), so they work for ``char-lstm`` and
``transformer-lm`` alike. Harmonisation needs the four-voice grid (``data.music=grid``): at every 16th-note
step the given soprano token is fed, then alto, tenor and bass are drawn in turn, each restricted to its
own voice's tokens. The model reads left to right, so it harmonises knowing the melody so far, not the
melody to come (DeepBach's Gibbs sampling sees both; this is the causal version).
"""
from __future__ import annotations

import numpy as np
import torch

from ...data.music import SEP, VOICES, MusicTokenizer, melody_of
from ...errors import ConfigError
from .lm import filter_logits


def _tokenizer(model) -> MusicTokenizer:
    if model.info.modality != "music":
        raise ConfigError(f"model {model.name!r} was not trained on music")
    return model.tokenizer


@torch.no_grad()
def continue_piece(model, notes: np.ndarray, n: int, length: int, generator=None, temperature: float = 1.0,
                   top_p: float | None = None) -> list[np.ndarray]:
    """``n`` continuations of ``notes`` (the opening kept as it is), ``length`` tokens each."""
    tok = _tokenizer(model)
    ids = tok.encode(" ".join([SEP] + tok.piece_tokens(notes)))
    x = torch.tensor(ids, device=model.device).expand(n, -1)
    new = torch.stack(list(model.generate(x, length, temperature, None, top_p, generator)), 1).tolist()
    return [tok.tokens_notes(tok.decode(list(ids) + row).split()) for row in new]


@torch.no_grad()
def harmonize(model, soprano: np.ndarray, n: int, generator=None, temperature: float = 1.0) -> list[np.ndarray]:
    """``n`` four-voice settings of the top line of ``soprano`` (notes), as notes with voices 0..3."""
    from ...data.music import grid_tokens, notes_to_grid

    tok = _tokenizer(model)
    if tok.kind != "grid":
        raise ConfigError(f"harmonising needs a model trained on the four-voice grid (data.music=grid); this one "
                          f"was trained on {tok.kind}")
    line = melody_of(soprano)
    if not len(line):
        raise ConfigError("the soprano has no notes to harmonise")
    grid = notes_to_grid(line)[:, :1]  # soprano column
    s_ids = [tok.index[t] for t in grid_tokens(np.pad(grid, ((0, 0), (0, 3)), constant_values=-2))[::4]]
    allowed = torch.full((3, tok.vocab_size), float("-inf"), device=model.device)
    for v in range(1, 4):
        allowed[v - 1, [i for t, i in tok.index.items() if t[0] == VOICES[v]]] = 0.0
    x = torch.full((n, 1), tok.index[SEP], dtype=torch.long, device=model.device)
    logits, state = model.step(x, model.init_state(n))
    steps = []
    for s in s_ids:
        row = [torch.full((n,), s, dtype=torch.long, device=model.device)]
        logits, state = model.step(row[0][:, None], state)
        for v in range(3):
            probs = filter_logits(logits + allowed[v], temperature).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            row.append(nxt)
            logits, state = model.step(nxt[:, None], state)
        steps.append(torch.stack(row, 1))
    ids = torch.stack(steps, 1).reshape(n, -1).tolist()
    return [tok.tokens_notes(tok.decode(r).split()) for r in ids]


def complete_files(model, inputs: list[str], mode: str, n: int, output, generator=None, length: int = 256) -> str:
    """``genlab complete`` for music: each input MIDI file continued (``continue``) or its top line
    harmonised (``harmonize``) ``n`` times; all results, the input first, written to one ``.mid`` / ``.png``
    / ``.wav`` (see :func:`genlab.data.music.write_music`). Returns a one-line summary."""
    from pathlib import Path

    from ...data.music import piano_roll, read_midi, synth, write_midi

    if mode in ("bottom-half", "continue"):
        mode = "continue"
    elif mode not in ("harmonize", "harmonise"):
        raise ConfigError(f"music runs complete with --mask continue (go on from an opening) or --mask harmonize "
                          f"(add alto, tenor and bass to a soprano), not {mode!r}")
    out = Path(output)
    if out.suffix.lower() not in (".mid", ".midi", ".png", ".wav"):
        raise ConfigError(f"music completions are written as .mid, .png or .wav, not {out.suffix or 'no suffix'}")
    pieces = []
    for p in inputs:
        notes = read_midi(Path(p))
        pieces.append(notes)
        pieces.extend(continue_piece(model, notes, n, length, generator) if mode == "continue"
                      else harmonize(model, notes, n, generator))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        piano_roll(pieces, out, f"input, then {n} completion(s) ({mode})")
    elif out.suffix.lower() == ".wav":
        import soundfile

        soundfile.write(str(out), synth(pieces), 16000, subtype="PCM_16")
    else:
        write_midi(pieces, out)
    return f"wrote {len(inputs)} input(s) and {n} {mode} completion(s) each to {out}"
