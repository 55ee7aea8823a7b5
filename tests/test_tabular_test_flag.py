"""`genlab train --test FILE`: held-out rows for a table run, the split printed, and clear errors."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from genlab.cli import main

pytestmark = pytest.mark.usefixtures("one_thread_blas")


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": np.round(x, 3), "y": np.round(2 * x + rng.normal(size=n), 3),
                         "group": np.where(x > 0, "hi", "lo")})


@pytest.fixture
def files(tmp_path):
    table(150, 0).to_csv(tmp_path / "t.csv", index=False)
    table(50, 1).to_csv(tmp_path / "t_test.csv", index=False)
    return tmp_path


def train(files, *args):
    return CliRunner().invoke(main, ["train", "gaussian-copula", "--data", str(files / "t.csv"), "--quiet",
                                     "--out", str(files / "run"), "--overwrite", *args])


def test_test_file_is_the_holdout_and_the_split_is_printed(files):
    res = train(files, "--test", str(files / "t_test.csv"))
    assert res.exit_code == 0, res.output
    assert "150 training rows, 50 test rows (from t_test.csv" in res.output
    cfg = json.loads((files / "run" / "config.json").read_text())
    assert cfg["data_config"]["test"] == str(files / "t_test.csv")


def test_test_file_columns_in_another_order_are_reordered(files):
    table(40, 2)[["group", "y", "x"]].to_csv(files / "reordered.csv", index=False)
    res = train(files, "--test", str(files / "reordered.csv"))
    assert res.exit_code == 0, res.output
    assert "150 training rows, 40 test rows" in res.output


def test_val_fraction_zero_trains_on_every_row(files):
    res = train(files, "--set", "data.val_fraction=0")
    assert res.exit_code == 0, res.output
    assert "150 training rows, no test rows (none (data.val_fraction=0: every row trains))" in res.output
    default = train(files)  # the seeded 0.1 holdout otherwise
    assert "135 training rows, 15 test rows" in default.output


@pytest.mark.parametrize("frame, needle", [
    (lambda d: d.drop(columns="y"), "lacks 'y'"),
    (lambda d: d.rename(columns={"y": "why"}), "lacks 'y' and has 'why' that the training table does not"),
    (lambda d: d.assign(extra=1), "has 'extra' that the training table does not"),
])
def test_test_file_with_other_columns_names_them(files, frame, needle):
    frame(table(30, 3)).to_csv(files / "bad.csv", index=False)
    res = train(files, "--test", str(files / "bad.csv"))
    assert res.exit_code == 2
    assert needle in res.output and "bad.csv" in res.output and "t.csv" in res.output


def test_missing_test_file_and_non_table_model(files):
    res = train(files, "--test", str(files / "nope.csv"))
    assert res.exit_code == 2 and "nope.csv does not exist" in res.output
    res = CliRunner().invoke(main, ["train", "gmm", "--data", "digits", "--test", str(files / "t_test.csv"),
                                    "--out", str(files / "img")])
    assert res.exit_code == 2 and "--test FILE is for table models" in res.output
