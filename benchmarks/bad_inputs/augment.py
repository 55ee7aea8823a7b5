"""Bad inputs for `genlab augment`, few labels and the semi-supervised models. See
benchmarks/bad_input_catalogue.py."""
from __future__ import annotations


def cases(fx):
    t = fx.tmp
    gmm = fx.run("gmm", "digits", "model.n_components=2")
    m2 = fx.run("m2", "digits", "data.labels_per_class=5", "data.unlabelled=keep", "model.hidden=16", "model.latent_dim=4")
    rows = "age,sex,income\n" + "".join(f"{20 + i % 40},{'F' if i % 3 else 'M'},{'high' if i % 4 == 0 else 'low'}\n"
                                        for i in range(200))
    table = fx.file("aug/t.csv", rows)
    test = fx.file("aug/test.csv", rows)
    tiny_test = fx.file("aug/tiny.csv", "age,sex,income\n30,F,low\n")
    a = ["augment", "--out", str(t / "aug-out")]
    return [
        ("augment: no run and no table", a),
        ("augment: unconditional run", [*a, gmm, "--labels-per-class", "5"]),
        ("augment: more labels than the data has", [*a, m2, "--labels-per-class", "100000"]),
        ("augment: zero labels per class", [*a, m2, "--labels-per-class", "0"]),
        ("augment: negative ratio", [*a, m2, "--ratio", "-1"]),
        ("augment: zero seeds", [*a, m2, "--seeds", "0"]),
        ("augment: absurd seeds", [*a, m2, "--seeds", "1000"]),
        ("augment: threshold of 1", [*a, m2, "--threshold", "1"]),
        ("augment: zero steps", [*a, m2, "--steps", "0"]),
        ("augment: a run folder that does not exist", [*a, str(t / "nope")]),
        ("augment: --out is a file", ["augment", m2, "--labels-per-class", "5", "--seeds", "1", "--steps", "2",
                                      "--out", table]),
        ("augment: minority names an unknown column", [*a, "--data", table, "--test", test, "--target", "income",
                                                       "--minority", "colour=red"]),
        ("augment: minority names an unknown value", [*a, "--data", table, "--test", test, "--target", "income",
                                                      "--minority", "sex=X"]),
        ("augment: minority without =", [*a, "--data", table, "--test", test, "--target", "income", "--minority", "sex"]),
        ("augment: empty minority", [*a, "--data", table, "--test", test, "--target", "income", "--minority", ""]),
        ("augment: group with zero rows", [*a, "--data", table, "--test", test, "--target", "income", "--minority",
                                           "sex=M,income=high,age=21"]),
        ("augment: unknown target", [*a, "--data", table, "--test", test, "--target", "salary", "--minority", "sex=F"]),
        ("augment: keep of 0", [*a, "--data", table, "--test", test, "--target", "income", "--minority", "sex=F",
                                "--keep", "0"]),
        ("augment: a one-row test table", [*a, "--data", table, "--test", tiny_test, "--target", "income",
                                           "--minority", "sex=F"]),
        ("augment: table run given image data", [*a, m2, "--data", table, "--target", "income", "--minority", "sex=F"]),
        ("train: labels_per_class on unlabelled data", ["train", "vae", "--data", "ring8", "--set",
                                                        "data.labels_per_class=5", "--max-steps", "1", "--out", str(t / "x1")]),
        ("train: ssgan without labels", ["train", "ssgan", "--data", "ring8", "--max-steps", "1", "--out", str(t / "x2")]),
        ("train: unlabelled=maybe", ["train", "m2", "--set", "data.unlabelled=maybe", "--max-steps", "1", "--out",
                                     str(t / "x3")]),
        ("train: m2 unconditional", ["train", "m2", "--set", "model.conditional=false", "--max-steps", "1", "--out",
                                     str(t / "x4")]),
    ]
