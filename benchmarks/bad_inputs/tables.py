"""Bad-input cases for tables a data owner releases (issue 20): schema files with identifiers, personal data and
constraints, range conditions in `--where`, train/test splits, and table comparisons.

Each case is (name, argv after `genlab`); every one must end in one clear `error: ...` line (exit 2).
"""
from __future__ import annotations


def cases(fx) -> list[tuple[str, list[str]]]:
    t = fx.tmp
    out = lambda name: str(t / "tables-runs" / name)  # noqa: E731
    rows = "\n".join(f"C-{1000 + i},p{i}@corp.com,{0.3 + (i % 17) / 10:.2f},{300 + 37 * (i % 23)},{['Ideal', 'Good', 'Fair'][i % 3]},"
                     f"{i % 50},{i % 50 + 1 + i % 7},{20 + i % 50}" for i in range(120))
    csv = fx.file("tables-shop.csv", "customer_id,email,carat,price,cut,start,end,age\n" + rows + "\n")
    run = fx.run("gaussian-copula", csv)
    schema = lambda name, text: fx.file(f"tables-{name}.yaml", text)  # noqa: E731
    train = lambda name, *args: ["train", "gaussian-copula", "--data", csv, "--quiet", "--out", out(name), *args]  # noqa: E731
    sample = lambda *args: ["sample", run, "-n", "10", "-o", str(t / "tables-s.csv"), *args]  # noqa: E731

    return [
        # schema files: kinds, drop, sensitive
        ("schema: unknown kind", train("kind", "--schema", schema("kind", "columns:\n  email: emial\n"))),
        ("schema: drop on a modelled column", train("drop", "--schema", schema("drop", "columns:\n  age: {kind: discrete, drop: true}\n"))),
        ("schema: sensitive column that is not modelled", train("sens", "--schema", schema("sens", "sensitive: [email]\n"))),
        ("schema: sensitive is not a list", train("sens2", "--schema", schema("sens2", "sensitive: {a: 1}\n"))),
        ("schema: target is an identifier", train("tid", "--target", "customer_id")),
        ("schema: every column is an identifier or personal data",
         train("allpii", "--schema", schema("allpii", "columns:\n  carat: ignore\n  price: ignore\n  cut: ignore\n  start: ignore\n"
                                                       "  end: ignore\n  age: ignore\n"))),
        # constraints
        ("constraint: unknown type", train("c1", "--schema", schema("c1", "constraints:\n  - between: [a, b]\n"))),
        ("constraint: positive on a category", train("c2", "--schema", schema("c2", "constraints:\n  - positive: [cut]\n"))),
        ("constraint: inequality without an operator", train("c3", "--schema", schema("c3", "constraints:\n  - inequality: start end\n"))),
        ("constraint: inequality on an unknown column", train("c4", "--schema", schema("c4", "constraints:\n  - inequality: start < finish\n"))),
        ("constraint: range with min above max", train("c5", "--schema", schema("c5", "constraints:\n  - range: {column: age, min: 90, max: 10}\n"))),
        ("constraint: range without a column", train("c6", "--schema", schema("c6", "constraints:\n  - range: {min: 1}\n"))),
        ("constraint: fixed_combinations of one column", train("c7", "--schema", schema("c7", "constraints:\n  - fixed_combinations: [cut]\n"))),
        ("constraint: expression that does not parse", train("c8", "--schema", schema("c8", "constraints:\n  - expression: 'price /// 2 <'\n"))),
        ("constraint: expression naming no column", train("c9", "--schema", schema("c9", "constraints:\n  - expression: 'weight > 1'\n"))),
        ("constraint: on an identifier", train("c10", "--schema", schema("c10", "constraints:\n  - positive: [customer_id]\n"))),
        ("constraint: constraints is not a list", train("c11", "--schema", schema("c11", "constraints: {positive: price}\n"))),
        # splits
        ("split: val_fraction = 1", train("vf1", "--set", "data.val_fraction=1")),
        ("split: val_fraction negative", train("vf2", "--set", "data.val_fraction=-0.1")),
        ("split: test file that does not exist", train("test1", "--set", f"data.test={t / 'tables-nope.csv'}")),
        ("split: test file that is not a table", train("test2", "--set", f"data.test={fx.file('tables-bin.csv', bytes(range(256)))}")),
        # --where with comparisons and intervals
        ("where: comparison on a category", sample("--where", "cut>3")),
        ("where: comparison with text", sample("--where", "price>cheap")),
        ("where: empty interval", sample("--where", "age in [40,30)")),
        ("where: interval on a category", sample("--where", "cut in [1,2]")),
        ("where: != is not supported", sample("--where", "age!=30")),
        ("where: beyond the training range", sample("--where", "price>1e12")),
        ("where: infinite bound", sample("--where", "price>inf")),
        ("where: on an identifier", sample("--where", "customer_id=C-1000")),
        ("where: on an email", sample("--where", "email=p1@corp.com")),
        ("where: a column twice", sample("--where", "age>30,age<20")),
        ("where: no operator", sample("--where", "age")),
        # tvae's latent mixture
        ("tvae: unknown model.latent_sampler", ["train", "tvae", "--data", csv, "--quiet", "--max-steps", "1", "--out",
                                               out("lat1"), "--set", "model.latent_sampler=flow"]),
        ("tvae: model.latent_components = 0", ["train", "tvae", "--data", csv, "--quiet", "--max-steps", "1", "--out",
                                               out("lat2"), "--set", "model.latent_sampler=gmm", "--set", "model.latent_components=0"]),
        ("tvae: latent mixture with differential privacy", ["train", "tvae", "--data", csv, "--quiet", "--max-steps", "1",
                                                             "--out", out("lat3"), "--set", "model.latent_sampler=gmm",
                                                             "--set", "model.dp=true"]),
        # sequential CART synthesis
        ("cart: model.order names an unknown column", ["train", "cart", "--data", csv, "--quiet", "--out", out("cart1"),
                                                       "--set", "model.order=[colour]"]),
        ("cart: unknown model.smoothing", ["train", "cart", "--data", csv, "--quiet", "--out", out("cart2"),
                                           "--set", "model.smoothing=spline"]),
        ("cart: model.min_samples_leaf = 0", ["train", "cart", "--data", csv, "--quiet", "--out", out("cart3"),
                                              "--set", "model.min_samples_leaf=0"]),
        ("cart: leaves larger than half the table", ["train", "cart", "--data", csv, "--quiet", "--out", out("cart4"),
                                                     "--set", "model.min_samples_leaf=100"]),
        # compare
        ("compare: a table run with an image run", ["compare", run, fx.run("gmm", "digits"), "-n", "10",
                                                     "-o", str(t / "tables-cmp.html")]),
        ("compare: table runs with a missing test file", ["compare", run, run, "-n", "10", "--test", str(t / "tables-nope.csv"),
                                                          "-o", str(t / "tables-cmp2.html")]),
    ]
