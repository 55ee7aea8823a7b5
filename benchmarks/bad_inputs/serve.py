"""Bad-input cases for `genlab serve` (genlab/cli/cmd_serve.py). Every case must fail before the server
starts listening, with one clear `error: ...` line (exit 2): none of them may start a server.
"""
from __future__ import annotations


def cases(fx) -> list[tuple[str, list[str]]]:
    folder = str(fx.tmp / "serve-root")
    (fx.tmp / "serve-root").mkdir(exist_ok=True)
    a_file = fx.file("serve-not-a-folder.txt", "runs are folders\n")
    return [
        ("serve: folder does not exist", ["serve", str(fx.tmp / "no-such-runs")]),
        ("serve: a file instead of a folder", ["serve", a_file]),
        ("serve: one run instead of a folder of runs", ["serve", fx.run("gmm")]),
        ("serve: port 0", ["serve", folder, "--port", "0"]),
        ("serve: port above 65535", ["serve", folder, "--port", "70000"]),
        ("serve: port not a number", ["serve", folder, "--port", "http"]),
        ("serve: --max-n 0", ["serve", folder, "--max-n", "0"]),
        ("serve: --max-n negative", ["serve", folder, "--max-n", "-5"]),
        ("serve: --cache 0", ["serve", folder, "--cache", "0"]),
        ("serve: --cache-mb 0", ["serve", folder, "--cache-mb", "0"]),
        ("serve: --workers 0", ["serve", folder, "--workers", "0"]),
        ("serve: --max-compare-n 0", ["serve", folder, "--max-compare-n", "0"]),
        ("serve: --workers absurd", ["serve", folder, "--workers", "100000"]),
        ("serve: --timeout 0", ["serve", folder, "--timeout", "0"]),
        ("serve: --timeout nan", ["serve", folder, "--timeout", "nan"]),
        ("serve: --token too short", ["serve", folder, "--token", "abc"]),
        ("serve: unknown host", ["serve", folder, "--host", "no-such-host.invalid"]),
        ("serve: host not an address", ["serve", folder, "--host", "300.1.2.3"]),
    ]
