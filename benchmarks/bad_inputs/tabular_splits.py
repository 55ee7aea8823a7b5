"""Bad-input cases for `genlab train --test FILE` (held-out rows of a table) and tvae's differential privacy
(`model.dp=true`, issue 20).

Each case is (name, argv after `genlab`); every one must end in one clear `error: ...` line (exit 2).
"""
from __future__ import annotations


def cases(fx) -> list[tuple[str, list[str]]]:
    t = fx.tmp
    rows = "\n".join(f"{i % 37 / 10:.1f},{(i * 7) % 50},{['a', 'b', 'c'][i % 3]}" for i in range(200))
    csv = fx.file("splits-t.csv", "x,y,g\n" + rows + "\n")
    train = lambda name, *args: ["train", "gaussian-copula", "--data", csv, "--quiet",  # noqa: E731
                                 "--out", str(t / "splits-runs" / name), *args]
    tvae = lambda name, *args: ["train", "tvae", "--data", csv, "--quiet", "--max-steps", "2",  # noqa: E731
                                "--out", str(t / "splits-runs" / name), "--set", "model.dp=true", *args]
    test = lambda name, text: fx.file(f"splits-{name}.csv", text)  # noqa: E731
    return [
        ("--test: no such file", train("t1", "--test", str(t / "splits-nope.csv"))),
        ("--test: a folder", train("t2", "--test", str(t))),
        ("--test: a column missing", train("t3", "--test", test("missing", "x,g\n1.0,a\n2.0,b\n"))),
        ("--test: a column renamed", train("t4", "--test", test("renamed", "x,why,g\n1.0,3,a\n2.0,4,b\n"))),
        ("--test: an extra column", train("t5", "--test", test("extra", "x,y,g,z\n1.0,3,a,0\n2.0,4,b,1\n"))),
        ("--test: no header, other width", train("t6", "--test", test("width", "1.0,3,a,0\n2.0,4,b,1\n"))),
        ("--test: empty file", train("t7", "--test", test("empty", ""))),
        ("--test: not a table", train("t8", "--test", fx.file("splits-bin.csv", bytes(range(256))))),
        ("--test: an image model", ["train", "gmm", "--data", "digits", "--quiet", "--test", csv,
                                    "--out", str(t / "splits-runs" / "t9")]),
        ("dp: epsilon 0", tvae("d1", "--set", "model.dp_epsilon=0")),
        ("dp: delta above 1/rows", tvae("d2", "--set", "model.dp_delta=0.1")),
        ("dp: delta of 1", tvae("d3", "--set", "model.dp_delta=1")),
        ("dp: negative max_grad_norm", tvae("d4", "--set", "model.max_grad_norm=-1")),
        ("dp: a time budget without steps", ["train", "tvae", "--data", csv, "--quiet", "--max-cpu-time", "5",
                                             "--out", str(t / "splits-runs" / "d5"), "--set", "model.dp=true"]),
        ("dp: on a model without it", ["train", "ctgan", "--data", csv, "--quiet", "--max-steps", "2",
                                       "--out", str(t / "splits-runs" / "d6"), "--set", "model.dp=true"]),
    ]
