"""The server's limits: what one request may ask for and what the server holds at once."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Limits:
    max_n: int = 256                 # samples per request
    max_prompt: int = 2_000          # characters of a text prompt (any str option)
    max_length: int = 2_000          # an int option named length/steps/max_length/max_tokens
    timeout_s: float = 60.0          # a sampling request (or a whole stream) that takes longer is answered 504
    cache_models: int = 4            # models kept loaded (least recently used evicted)
    cache_bytes: int = 2 * 2**30     # bytes of weights kept loaded
    workers: int = 2                 # sampling threads
    queue: int = 32                  # sampling requests waiting or running at once; more are answered 429
    max_body: int = 64 * 1024        # bytes of a request body; more is answered 413
    max_runs: int = 5_000            # run folders listed
    compare_n: int = 1_000           # samples per run of /compare when the request gives no n
    max_compare_n: int = 10_000      # samples per run one /compare may ask for; more is answered 413
    compare_cache: int = 16          # comparisons kept (least recently used evicted)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"serve limit {f.name} must be a positive number, got {v!r}")


LENGTH_OPTIONS = ("length", "steps", "max_length", "max_tokens", "max_new_tokens")
