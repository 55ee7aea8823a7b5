"""`genlab serve`: a web gallery and a sampling API over a folder of runs (needs `pip install 'genlab[serve]'`)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from . import main


@main.command()
@click.argument("folder", type=click.Path())
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (0.0.0.0: every interface; then use --token)")
@click.option("--token", default=None, envvar="GENLAB_SERVE_TOKEN",
              help="require 'Authorization: Bearer TOKEN' on the /v1 API (or set $GENLAB_SERVE_TOKEN)")
@click.option("--max-n", type=int, default=256, show_default=True, help="samples per request")
@click.option("--cache", "cache", type=int, default=4, show_default=True, help="models kept loaded")
@click.option("--cache-mb", type=int, default=2048, show_default=True, help="MB of weights kept loaded")
@click.option("--workers", type=int, default=2, show_default=True, help="sampling threads")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="seconds one sampling request may take")
@click.option("--max-compare-n", type=int, default=10_000, show_default=True,
              help="samples per run one /compare may ask for (its default: 1000, or this if lower)")
def serve(folder, port, host, token, max_n, cache, cache_mb, workers, timeout, max_compare_n) -> None:
    """Serve the runs under FOLDER: a gallery at / , a page per run with a sampling panel, and a REST API
    (/v1/runs, POST /v1/runs/ID/samples; its description at /docs and /openapi.json). Read-only."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise ConfigError(f"{folder} does not exist; give the folder that holds your runs")
    if not root.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder; give the folder that holds your runs")
    if (root / "config.json").is_file():
        raise ConfigError(f"{folder} is one run; serve the folder that holds runs: genlab serve {root.resolve().parent}")
    for name, value in (("--max-n", max_n), ("--cache", cache), ("--cache-mb", cache_mb), ("--workers", workers),
                        ("--max-compare-n", max_compare_n)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if workers > 64:
        raise ConfigError(f"--workers must be at most 64, got {workers}")
    if not timeout > 0 or timeout > 24 * 3600:
        raise ConfigError(f"--timeout must be between 0 and 86400 seconds, got {timeout}")
    if token is not None and len(token.strip()) < 8:
        raise ConfigError("--token must be at least 8 characters (or leave it out)")
    from ..serve import missing_dependency

    missing = missing_dependency()
    if missing:
        raise ConfigError(missing)
    _check_listen(host, port)
    import uvicorn

    from ..serve import Limits, create_app

    app = create_app(root, token=token, limits=Limits(max_n=max_n, cache_models=cache, cache_bytes=cache_mb * 2**20,
                                                      workers=workers, timeout_s=timeout,
                                                      max_compare_n=max_compare_n))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"genlab serve: {app.state.server.index.root} at http://{shown}:{port}/  (API: /docs; Ctrl-C stops)")
    if host not in ("127.0.0.1", "localhost", "::1") and token is None:
        click.echo("warning: listening beyond this machine without --token: anyone who can reach it can sample",
                   err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_listen(host: str, port: int) -> None:
    """Refuse, with one line, an address that cannot be listened on (unknown host, port taken, no permission)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(f"--host {host}: not an address of this machine ({e})") from None
    family, kind, proto, _, addr = infos[0]
    s = socket.socket(family, kind, proto)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    finally:
        s.close()
