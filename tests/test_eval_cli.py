"""`genlab evaluate` and `genlab compare` end to end on MNIST runs (the shipped MNIST feature extractor)."""
import json
import re

from click.testing import CliRunner

from genlab.cli import main


def _invoke(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def _train(tmp_path, shared_data, name, components):
    out = tmp_path / name
    _invoke("train", "gmm", "--data", "mnist", "--root", shared_data, "--out", out, "--seed", 0,
            "--set", f"model.n_components={components}", "--set", "model.covariance_type=diag",
            "--set", "data.limit=2000")
    return out


def test_evaluate_and_compare_on_mnist(tmp_path, shared_data):
    run = _train(tmp_path, shared_data, "gmm1", 10)
    out = _invoke("evaluate", run, "--data", "mnist", "-n", 500)
    assert "fid" in out.lower()
    ev = json.loads((run / "eval.json").read_text())
    assert ev["n_samples"] == 500 and ev["fid"]["n_fake"] == 500 and ev["fid"]["value"] > 0
    assert ev["extractor"]["dataset"] == "mnist" and ev["extractor"]["test_accuracy"] >= 0.99
    assert 0 <= ev["prdc"]["precision"] <= 1 and 0 <= ev["prdc"]["recall"] <= 1
    assert ev["memorisation"]["flagged"] is False  # a diagonal GMM does not copy training images
    assert ev["likelihood"]["bits_per_dim"] > 0  # the GMM has an exact likelihood
    page = (run / "report.html").read_text()
    assert "Memorisation" in page and "Training curves" in page and page.count("data:image/png;base64") >= 2
    assert not re.search(r"(src|href)=['\"]https?://", page)  # self-contained: no external assets

    run2 = _train(tmp_path, shared_data, "gmm2", 2)
    html = tmp_path / "cmp.html"
    _invoke("compare", run, run2, "--data", "mnist", "-n", 500, "-o", html)
    rows = json.loads(html.with_suffix(".json").read_text())
    names = [r["model"] for r in rows]
    assert names[:2] == ["gmm", "gmm"] and names[2:] == ["real data (held out)", "nn-copy of training data"]
    assert rows[0]["fid"] == ev["fid"]  # same samples, extractor and reference: same numbers as evaluate
    real = rows[2]  # held out: not trained on (test images outside the reference), at the models' n
    assert real["held_out"] and real["n_fake"] == 500 and "test images outside the reference set" in real["what"]
    assert real["memorisation"]["flagged"] is False and rows[3]["n_fake"] == 500
    assert rows[0]["likelihood"]["estimator"] == "exact" and rows[0]["likelihood"]["data_model"] == "dequantised"
    assert rows[0]["fid"]["ci"][0] <= rows[0]["fid"]["ci"][1] and rows[0]["prdc"]["ci"]["coverage"] is not None
    copy = rows[3]
    assert copy["memorisation"]["flagged"] is True and copy["memorisation"]["copy_fraction"] > 0.9
    assert copy["prdc"]["precision"] > rows[0]["prdc"]["precision"]  # looks perfect, but is caught as copies
    assert "<table" in html.read_text()
