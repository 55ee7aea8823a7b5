"""Hidden Markov model over symbol sequences (characters or BPE tokens of the text modality).

``K`` hidden states (``model.states``), a start distribution, a ``K x K`` transition matrix and a
``K x V`` categorical emission matrix. Everything the text models offer works the same way, because the
HMM is a :class:`~genlab.models.autoregressive.lm.LanguageModel` whose next-token distribution comes from the
forward algorithm: the filtered state distribution ``p(z_t | x_≤t)`` pushed through the transition and
emission matrices gives ``p(x_t+1 | x_≤t)`` exactly. So the log-likelihood of a window (``log p(x_1..T | x_0)``,
the quantity the LSTM and Transformer report), bits/char, sampling with a prompt, temperature and top-k/top-p,
and streaming are those of the other text models, and the numbers are directly comparable.

Training: Baum–Welch (EM) with scaled forward–backward, run as *online* (stepwise) EM inside the ordinary
trainer: every batch of windows gives expected counts (start states, transitions, emissions, per token);
running statistics move towards them with step size ``(step + 2) ** -model.step_decay`` (Cappé & Moulines
2009; Liang & Klein 2009) and the parameters are the normalised statistics (plus ``model.smoothing``). No
gradients. The statistics are buffers, so checkpoints and ``genlab resume`` continue exactly.

Why not hmmlearn's ``CategoricalHMM``: it is CPU/NumPy only, runs its forward–backward one sequence at a
time, samples from NumPy's global ``RandomState`` rather than a ``torch.Generator``, and would be a new
dependency; here a batch of windows is one ``(B, K) x (K, K)`` product per position (GPU when present), and
sampling, scoring and checkpoints follow the genlab contract.

``viterbi(text)`` gives the most likely state path; ``save_state_path_picture`` draws it over the text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...config import ModelConfig, TrainConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from ..autoregressive.lm import LanguageModel


@dataclass
class HMMConfig(ModelConfig):
    states: int = 64
    step_decay: float = 0.6  # online EM step size (step + 2) ** -step_decay, in (0.5, 1]
    smoothing: float = 1e-3  # share of pseudo-counts spread evenly over every row's cells

    def validate(self) -> None:
        if self.states < 1:
            raise ConfigError(f"model.states must be >= 1, got {self.states}")
        if self.states > 4096:
            raise ConfigError(f"model.states={self.states} is too many (K x K transitions per token); use <= 4096")
        if not 0.5 < self.step_decay <= 1:
            raise ConfigError(f"model.step_decay must be in (0.5, 1], got {self.step_decay}")
        if not 0 < self.smoothing < 1:
            raise ConfigError(f"model.smoothing must be in (0, 1), got {self.smoothing}")


def _normalise(s: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Rows of ``s`` (last dim) with ``smoothing`` of each row's mass spread evenly, summing to 1."""
    s = s + smoothing * s.sum(-1, keepdim=True).clamp_min(1e-30) / s.shape[-1] + 1e-30
    return s / s.sum(-1, keepdim=True)


@register_model
class HMM(LanguageModel):
    name = "hmm"
    family = "classical"
    description = "Hidden Markov model over characters/tokens: online Baum-Welch, exact forward likelihood, Viterbi paths"
    Config = HMMConfig
    likelihood_estimator = "exact"
    density = "exact"

    def __init__(self, config: HMMConfig, info: DataInfo):
        super().__init__(config, info)
        k, v = config.states, self.vocab_size
        # random start: rows drawn from Dirichlet(1) (near-uniform rows leave EM at a saddle for long)
        self.register_buffer("start", torch.full((k,), 1.0 / k))
        self.register_buffer("trans", _normalise(-torch.rand(k, k).clamp_min(1e-12).log(), 0.0))
        self.register_buffer("emit", _normalise(-torch.rand(k, v).clamp_min(1e-12).log(), 0.0))
        # running expected counts (per token / per window) of online EM
        self.register_buffer("stat_start", self.start.clone())
        self.register_buffer("stat_trans", self.trans / k)
        self.register_buffer("stat_emit", self.emit / k)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def configure_optimizers(self, train: TrainConfig) -> dict:
        return {}  # EM: no gradients

    # ------------------------------------------------------------------ forward algorithm
    def _check_length(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] < 2:
            raise ConfigError(f"the HMM scores sequences of at least 2 tokens (the first conditions the rest); got "
                              f"shape {tuple(x.shape)}")
        if len(x) and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ConfigError(f"token ids must be in 0..{self.vocab_size - 1}")

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scaled forward pass over windows ``x`` (B, L): normalised ``alpha`` (B, L, K), ``log c`` (B, L)
        with ``c_t = p(x_t | x_<t)``, and the emission probabilities of the observed tokens (B, L, K)."""
        e = self.emit.t()[x]  # (B, L, K)
        a = self.start * e[:, 0]
        alphas, cs = [], []
        for t in range(x.shape[1]):
            if t:
                a = (a @ self.trans) * e[:, t]
            c = a.sum(-1, keepdim=True).clamp_min(1e-38)
            a = a / c
            alphas.append(a)
            cs.append(c[:, 0])
        return torch.stack(alphas, 1), torch.stack(cs, 1).log(), e

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        """``log p(x_t+1 | x_≤t)`` over the vocabulary for every position of ``idx`` (B, T) -> (B, T, V)."""
        alphas, _, _ = self._forward(idx)
        return ((alphas @ self.trans) @ self.emit).clamp_min(1e-38).log()

    def step(self, idx: torch.Tensor, state):
        """Filter the new tokens ``idx`` (B, P) into the state distribution; next-token logits and the state."""
        a = state
        for t in range(idx.shape[1]):
            e = self.emit[:, idx[:, t]].t()
            a = self.start * e if a is None else (a @ self.trans) * e
            a = a / a.sum(-1, keepdim=True).clamp_min(1e-38)
        return ((a @ self.trans) @ self.emit).clamp_min(1e-38).log(), a

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        """Exact ``log p(x_1..T | x_0)`` (nats) of each window ``x`` (B, T + 1), by the forward algorithm."""
        x = batch["x"]
        self._check_length(x)
        _, log_c, _ = self._forward(x)
        return log_c[:, 1:].sum(1)

    @torch.no_grad()
    def log_prob_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x_0..T)`` of whole sequences (B, L) (the first token included)."""
        if x.dim() != 2 or x.shape[1] < 1:
            raise ConfigError(f"expected token ids of shape (B, L) with L >= 1, got {tuple(x.shape)}")
        return self._forward(x)[1].sum(1)

    @torch.no_grad()
    def score_text(self, text: str) -> dict:
        """Bits per character of ``text`` after its first token (exact)."""
        ids = torch.as_tensor(self.tokenizer.encode(text), device=self.device)[None]
        self._check_length(ids)
        nll = -float(self.log_likelihood({"x": ids})[0])
        chars = float(self.chars_per_token[ids[0, 1:]].sum())
        return {"nats": nll, "bits_per_char": nll / chars / math.log(2), "tokens": ids.shape[1]}

    # ------------------------------------------------------------------ online Baum-Welch
    def on_train_start(self, data: TensorDataset) -> None:
        if bool(self.initialised):
            return
        x = data.all(device=self.device, limit=4096)["x"]
        unigram = torch.bincount(x.flatten(), minlength=self.vocab_size).float() + 1.0
        with torch.no_grad():  # emissions: the unigram distribution, perturbed differently in every state
            self.emit.copy_(_normalise(self.emit * unigram, 0.0))
            self.stat_emit.copy_(self.emit / self.config.states)
            self.initialised.fill_(True)

    @torch.no_grad()
    def training_step(self, batch: Batch, step: int) -> dict:
        x = batch["x"]
        b, length = x.shape
        k = self.config.states
        alphas, log_c, e = self._forward(x)
        # backward pass (scaled with the same c_t): beta_t = A (e_t+1 * beta_t+1) / c_t+1
        c = log_c.exp()
        beta = torch.ones(b, k, device=x.device)
        betas = [beta]
        for t in range(length - 1, 0, -1):
            beta = ((e[:, t] * beta) @ self.trans.t()) / c[:, t, None]
            betas.append(beta)
        betas = torch.stack(betas[::-1], 1)  # (B, L, K)
        gamma = alphas * betas  # p(z_t | x), rows sum to 1
        nxt = (e[:, 1:] * betas[:, 1:] / c[:, 1:, None]).reshape(-1, k)
        trans = self.trans * (alphas[:, :-1].reshape(-1, k).t() @ nxt)
        emit = torch.zeros(self.vocab_size, k, device=x.device).index_add_(0, x.reshape(-1), gamma.reshape(-1, k)).t()
        eta = (step + 2) ** -self.config.step_decay
        self.stat_start.mul_(1 - eta).add_(gamma[:, 0].mean(0), alpha=eta)
        self.stat_trans.mul_(1 - eta).add_(trans / max(1, b * (length - 1)), alpha=eta)
        self.stat_emit.mul_(1 - eta).add_(emit / (b * length), alpha=eta)
        s = self.config.smoothing
        self.start.copy_(_normalise(self.stat_start, s))
        self.trans.copy_(_normalise(self.stat_trans, s))
        self.emit.copy_(_normalise(self.stat_emit, s))
        nll = -log_c[:, 1:].mean()  # per token, given the window's first token (as the language models report)
        return {"loss": nll, "bits_per_token": nll / math.log(2)}

    # ------------------------------------------------------------------ Viterbi
    @torch.no_grad()
    def viterbi(self, text: str | torch.Tensor) -> torch.Tensor:
        """Most likely state path (L,) of a text (or token ids (L,))."""
        ids = torch.as_tensor(self.tokenizer.encode(text) if isinstance(text, str) else text, device=self.device)
        if ids.dim() != 1 or len(ids) < 1:
            raise ConfigError("viterbi needs a non-empty text (one sequence of at least 1 token)")
        log_a, log_e = self.trans.log(), self.emit.log()
        d = self.start.log() + log_e[:, ids[0]]
        back = []
        for t in range(1, len(ids)):
            best, arg = (d[:, None] + log_a).max(0)
            d = best + log_e[:, ids[t]]
            back.append(arg)
        path = [int(d.argmax())]
        for arg in reversed(back):
            path.append(int(arg[path[-1]]))
        return torch.tensor(path[::-1])

    def save_state_path_picture(self, text: str, path, width: int = 60) -> None:
        """PNG: ``text`` (character tokenizer) in lines of ``width`` characters, each cell coloured by its
        Viterbi state, with the state number under it."""
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        if getattr(self.tokenizer, "kind", None) != "char":
            raise ConfigError("the state-path picture draws one cell per character; this model uses BPE tokens")
        states = self.viterbi(text).tolist()
        rows = [(text[i:i + width], states[i:i + width]) for i in range(0, len(text), width)]
        fig = Figure(figsize=(width * 0.16 + 0.4, len(rows) * 0.42 + 0.4))
        ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
        ax.set_xlim(0, width)
        ax.set_ylim(len(rows), 0)
        ax.axis("off")
        palette = [c for name in ("tab20", "tab20b") for c in matplotlib.colormaps[name].colors]
        for r, (chars, ss) in enumerate(rows):
            for i, (ch, s) in enumerate(zip(chars, ss)):
                ax.add_patch(Rectangle((i, r), 1, 0.62, color=palette[s % len(palette)], alpha=0.55, lw=0))
                shown = {"\n": "⏎", " ": "·"}.get(ch, ch)
                ax.text(i + 0.5, r + 0.33, shown, ha="center", va="center", family="monospace", fontsize=9)
                ax.text(i + 0.5, r + 0.8, str(s), ha="center", va="center", fontsize=4.5, color="0.3")
        fig.savefig(path, dpi=130)
