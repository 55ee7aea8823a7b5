"""genlab serve: the gallery, run pages and /v1 API through FastAPI's TestClient, and every refusal."""
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import genlab  # noqa: E402
from genlab.serve import create_app  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
TEXT = "the quick brown fox jumps over the lazy dog. ROMEO: what light through yonder window breaks?\n" * 20


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("served")
    genlab.train("gmm", "digits", root / "gmm", model_config={"n_components": 2}, progress=False)
    genlab.train("vae", "digits", root / "img" / "vae", epochs=1, batch_size=256, log_every=1, progress=False,
                 model_config={"conditional": True})
    src = tmp_path_factory.mktemp("src")
    (src / "t.txt").write_text(TEXT, encoding="utf-8")
    genlab.train("char-lstm", {"name": str(src / "t.txt"), "block_size": 16}, root / "lm",
                 model_config={"hidden": 16, "layers": 1}, max_steps=5, batch_size=16, progress=False, log_every=1)
    rng = np.random.default_rng(0)
    rows = ["x,city"] + [f"{v:.3f},{c}" for v, c in zip(rng.normal(size=120), rng.choice(["Paris", "Lyon"], 120))]
    (src / "t.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    genlab.train("gaussian-copula", str(src / "t.csv"), root / "table", progress=False)
    return root


def snapshot(root):
    files = (p for p in root.rglob("*") if p.is_file())
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


@pytest.fixture(scope="module")
def client(runs):
    before = snapshot(runs)
    yield TestClient(create_app(runs, max_n=64, compare_n=512, max_compare_n=600))
    assert snapshot(runs) == before  # read-only: the server wrote nothing into the served folder


def post(client, run, **body):
    return client.post(f"/v1/runs/{run}/samples", json=body)


# ----------------------------------------------------------------------------- pages
def test_gallery_lists_every_run_and_picks_up_new_ones(client, runs):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for rid in ("gmm", "img/vae", "lm", "table"):
        assert f'data-id="{rid}"' in page.text
    assert 'src="/runs/img/vae/files/samples.png"' in page.text and 'id="f-family"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from the internet
    assert "script-src 'self'" in page.headers["content-security-policy"]
    shutil.copytree(runs / "gmm", runs / "late<script>x")  # a run that appears while serving, with an odd name
    try:
        page = client.get("/").text
        assert "late&lt;script&gt;x" in page and "<script>x" not in page
        ids = [r["id"] for r in client.get("/v1/runs").json()["runs"]]
        assert ids == ["gmm", "img/vae", "late<script>x", "lm", "table"]
    finally:
        shutil.rmtree(runs / "late<script>x")
    assert len(client.get("/v1/runs").json()["runs"]) == 4


def test_status_follows_the_run_without_restart(client, runs):
    from genlab.training import checkpoint as ck

    run = runs / "busy"
    shutil.copytree(runs / "gmm", run)
    try:
        state = json.loads((run / "state.json").read_text())
        (run / "state.json").write_text(json.dumps({**state, "status": "running"}))
        assert client.get("/v1/runs/busy").json()["status"].startswith("killed")  # nobody holds its lock
        lock = ck.RunLock(run, "training").acquire()
        try:
            assert client.get("/v1/runs/busy").json()["status"].startswith("running (PID")
        finally:
            lock.release()
        (run / "state.json").write_text(json.dumps({**state, "status": "finished"}))
        assert client.get("/v1/runs/busy").json()["status"] == "finished"
    finally:
        shutil.rmtree(run)


def test_run_page_panel_is_built_from_the_declared_options(client):
    lm = client.get("/runs/lm").text
    for name in ("prompt", "length", "temperature", "top_k", "top_p"):
        assert f'data-option="{name}"' in lm
    assert "s-stream" in lm and "s-label" not in lm
    vae = client.get("/runs/img/vae").text
    assert "s-label" in vae and '<option value="gmm">gmm</option>' in vae  # conditional; sampler choices
    assert "<h2>Config</h2>" in vae and "/runs/img/vae/curves.png" in vae
    curves = client.get("/runs/img/vae/curves.png")
    assert curves.status_code == 200 and curves.content.startswith(PNG)
    grid = client.get("/runs/img/vae/files/samples.png")
    assert grid.status_code == 200 and grid.content.startswith(PNG)
    for name in ("style.css", "app.js"):
        static = client.get(f"/static/{name}")
        assert static.status_code == 200 and "http://" not in static.text and "https://" not in static.text


def test_compare_computes_the_leaderboard_with_reference_rows(client):
    srv = client.app.state.server
    page = client.get("/compare?runs=gmm,img/vae")  # n: the server's default (512 here), seed 0
    assert page.status_code == 200, page.text
    board = page.text.split("<h2>Leaderboard</h2>")[1].split("<details>")[0]
    for row in ("<td>gmm", "<td>vae", "<td>real data (held out)", "<td>nn-copy of training data"):
        assert row in board  # both runs and genlab compare's reference rows
    assert "*</td>" in board or "*<br>" in board  # the best model of a column is marked, as in the terminal
    assert "nn-copy of training data  512" in page.text  # the table as genlab compare prints it
    assert page.text.count('href="/runs/') == 2 and "<th>val.nll</th>" in page.text  # the recorded numbers too
    assert srv.comparisons.computed == 1
    data = client.get("/v1/compare?runs=gmm,img/vae&n=512&seed=0").json()  # same key: from the cache
    assert srv.comparisons.computed == 1
    lb = data["leaderboard"]
    assert [r["run"] for r in lb] == ["gmm", "img/vae", None, None] and [r["reference"] for r in lb] == [False, False, True, True]
    assert lb[3]["model"] == "nn-copy of training data" and lb[3]["copies_flagged"] is True
    assert {m for r in lb[:2] for m in r["marks"].values()} >= {"*"} and not lb[3]["marks"]
    assert data["n"] == 512 and "real data (held out)" in data["printed"]


def test_compare_tables_has_the_table_reference_rows(client):
    lb = client.get("/v1/compare?runs=table&n=100").json()["leaderboard"]
    assert [(r["run"], r["reference"]) for r in lb][0] == ("table", False)
    assert "independent columns" in [r["model"] for r in lb if r["reference"]]
    assert "<td>independent columns</td>" in client.get("/compare?runs=table&n=100").text


def test_compare_refusals(client):
    srv = client.app.state.server
    before = srv.comparisons.computed
    r = client.get("/compare?runs=gmm,table")
    assert r.status_code == 422 and "one kind of data" in r.json()["error"] and "table: table" in r.json()["error"]
    r = client.get("/compare?runs=gmm,img/vae&n=601")
    assert r.status_code == 413 and "600" in r.json()["error"]
    assert srv.comparisons.computed == before  # refused before anything was computed
    assert client.get("/compare?runs=gmm,nope").status_code == 404
    assert client.get("/v1/compare?runs=nope").status_code == 404
    assert client.get("/compare?runs=gmm,..%2Fetc").status_code == 400
    assert client.get("/compare").status_code == 422
    assert client.get("/compare?runs=gmm&n=0").status_code == 422
    r = client.get("/compare?runs=lm&n=8")  # the library decides what can be compared
    assert r.status_code == 422 and "text" in r.json()["error"]


def test_report_from_a_run_folder_cannot_run_scripts(client, runs):
    assert "evaluation report" not in client.get("/runs/gmm").text
    (runs / "gmm" / "report.html").write_text("<h1>report</h1><script>alert(1)</script>", encoding="utf-8")
    try:
        assert 'href="/runs/gmm/files/report.html"' in client.get("/runs/gmm").text
        r = client.get("/runs/gmm/files/report.html")
        assert r.status_code == 200 and "<h1>report</h1>" in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'")  # no script may run
    finally:
        (runs / "gmm" / "report.html").unlink()


def test_openapi_and_offline_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/runs", "/v1/runs/{run_id}", "/v1/runs/{run_id}/samples"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "cdn" not in docs.text.lower()


# ----------------------------------------------------------------------------- API
def test_run_detail(client):
    vae = client.get("/v1/runs/img/vae").json()
    assert vae["model"] == "vae" and vae["status"] == "finished" and vae["modality"] == "image"
    assert "conditional" in vae["capabilities"] and vae["num_classes"] == 10
    assert vae["formats"] == ["png", "npz"] and [o["name"] for o in vae["options"]] == ["sampler"]
    lm = client.get("/v1/runs/lm").json()
    assert "stream" in lm["capabilities"] and lm["formats"][0] == "txt"
    temp = next(o for o in lm["options"] if o["name"] == "temperature")
    assert temp["type"] == "float" and temp["min"] == 0 and temp["min_exclusive"]


def test_image_samples_png_and_npz_are_seeded(client):
    a = post(client, "img/vae", n=4, seed=3, label=7)
    assert a.status_code == 200 and a.headers["content-type"] == "image/png" and a.content.startswith(PNG)
    assert post(client, "img/vae", n=4, seed=3, label=7).content == a.content
    assert post(client, "img/vae", n=4, seed=4, label=7).content != a.content
    r = client.post("/v1/runs/gmm/samples", json={"n": 5, "seed": 1}, headers={"Accept": "application/x-npz"})
    assert r.status_code == 200
    x = np.load(io.BytesIO(r.content))["x"]
    assert x.shape == (5, 1, 8, 8) and x.dtype == np.uint8
    same = np.load(io.BytesIO(post(client, "gmm", n=5, seed=1, format="npz").content))["x"]
    assert np.array_equal(x, same)


def test_text_samples_plain_streamed_and_sse(client):
    opts = {"prompt": "the", "length": 24, "temperature": 0.9}
    text = post(client, "lm", seed=2, options=opts)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("the") and len(text.text) >= 24
    streamed = post(client, "lm", seed=2, options=opts, stream=True)
    assert streamed.status_code == 200 and streamed.text.rstrip("\n") == text.text.rstrip("\n")
    sse = client.post("/v1/runs/lm/samples", json={"seed": 2, "options": opts, "stream": True},
                      headers={"Accept": "text/event-stream"})
    assert sse.headers["content-type"].startswith("text/event-stream")
    events = [e for e in sse.text.split("\n\n") if e]
    assert events[-1].startswith("event: end")
    joined = "".join(json.loads(e[len("data: "):]) for e in events[:-1])
    assert joined.rstrip("\n") == text.text.rstrip("\n")
    as_form = post(client, "lm", seed=2, options={"prompt": "the", "length": "24", "temperature": "0.9"})
    assert as_form.text == text.text  # an HTML form sends text; it is converted to the declared types
    many = post(client, "lm", n=2, seed=2, options={"length": 10}, format="json").json()["samples"]
    assert len(many) == 2 and all(isinstance(s, str) for s in many)


def test_table_samples_as_csv_with_where(client):
    import pandas as pd

    r = post(client, "table", n=30, seed=0)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    df = pd.read_csv(io.StringIO(r.text))
    assert len(df) == 30 and list(df.columns) == ["x", "city"]
    paris = pd.read_csv(io.StringIO(post(client, "table", n=20, seed=0, options={"where": "city=Paris"}).text))
    assert len(paris) == 20 and set(paris["city"]) == {"Paris"}
    bad = post(client, "table", n=5, options={"where": "town=Paris"})
    assert bad.status_code == 422 and "town" in bad.json()["error"]


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("url,status", [
    ("/v1/runs/..%2F..%2Fetc", 400), ("/v1/runs/img/..%2F..%2F..%2Fetc", 400), ("/v1/runs/%2Fetc", 400),
    ("/runs/..%2F..%2Fetc%2Fpasswd", 400), ("/runs/gmm/files/..%2Fconfig.json", 400),
    ("/runs/gmm/files/config.json", 404), ("/v1/runs/nope", 404), ("/runs/nope", 404), ("/v1/runs/img", 404),
])
def test_bad_run_ids_are_refused(client, url, status):
    r = client.get(url)
    assert r.status_code == status and "error" in r.json()
    r = client.post(url.replace("/runs/", "/v1/runs/", 1).replace("/v1/v1/", "/v1/") + "/samples", json={"n": 1})
    assert r.status_code in (400, 404) and "error" in r.json()


def test_symlinks_out_of_the_folder_are_refused(runs, client, tmp_path):
    shutil.copytree(runs / "gmm", tmp_path / "outside")
    (tmp_path / "secret.png").write_bytes(PNG + b"secret")
    os.symlink(tmp_path / "outside", runs / "escape")
    (runs / "lm" / "samples.png").symlink_to(tmp_path / "secret.png")
    try:
        assert "escape" not in [r["id"] for r in client.get("/v1/runs").json()["runs"]]
        assert client.get("/v1/runs/escape").status_code == 404
        assert post(client, "escape", n=1).status_code == 404
        assert client.get("/runs/lm/files/samples.png").status_code == 404
    finally:
        os.unlink(runs / "escape")
        os.unlink(runs / "lm" / "samples.png")


@pytest.mark.parametrize("run,body,status,words", [
    ("gmm", {"n": 65}, 413, "limit of 64"),
    ("gmm", {"n": 0}, 422, "n:"),
    ("gmm", {"n": 2, "options": {"temperature": 1}}, 422, "does not take"),
    ("img/vae", {"n": 2, "options": {"sampler": "best"}}, 422, "prior or gmm"),
    ("lm", {"options": {"temperature": "hot"}}, 422, "temperature"),
    ("lm", {"options": {"temperature": -1}}, 422, "temperature"),
    ("lm", {"options": {"prompt": "x" * 2001}}, 413, "prompt"),
    ("lm", {"options": {"length": 10**6}}, 413, "length"),
    ("gmm", {"n": 2, "label": 1}, 422, "not trained with labels"),
    ("img/vae", {"n": 2, "label": 10}, 422, "labels must be in 0..9"),
    ("img/vae", {"n": 2, "format": "csv"}, 422, "png, npz"),
    ("img/vae", {"n": 2, "stream": True}, 422, "cannot stream"),
    ("gmm", {"n": 2, "colour": "red"}, 422, "colour"),
    ("gmm", {"seed": -1}, 422, "seed"),
])
def test_bad_requests_get_one_json_error(client, run, body, status, words):
    r = post(client, run, **body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_body_too_large_and_not_json(client):
    r = client.post("/v1/runs/gmm/samples", content=b"{" + b" " * 70_000 + b"}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "above the limit" in r.json()["error"]
    r = client.post("/v1/runs/gmm/samples", content=b"not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()


def test_token_guards_the_api_only(runs):
    c = TestClient(create_app(runs, token="s3cret-token"))
    assert c.get("/v1/runs").status_code == 401
    r = c.get("/v1/runs", headers={"Authorization": "Bearer wrong-token"})
    assert r.status_code == 401 and "token" in r.json()["error"]
    assert c.get("/v1/runs", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
    assert c.get("/v1/runs", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    r = c.post("/v1/runs/gmm/samples", json={"n": 1}, headers={"Authorization": "Bearer s3cret-token"})
    assert r.status_code == 200
    page = c.get("/runs/gmm")
    assert page.status_code == 200 and "s-token" in page.text


def test_model_cache_is_bounded_by_count_and_bytes(runs):
    app = create_app(runs, cache_models=1)
    c, cache = TestClient(app), app.state.server.cache
    for run in ("gmm", "img/vae", "gmm"):
        assert post(c, run, n=1).status_code == 200
    assert len(cache) == 1 and cache.loads == 3
    assert post(c, "gmm", n=1).status_code == 200 and cache.loads == 3  # cached: not loaded again
    small = TestClient(create_app(runs, cache_bytes=64))
    r = post(small, "gmm", n=1)
    assert r.status_code == 413 and "cache" in r.json()["error"]


def test_busy_and_timeout(runs):
    app = create_app(runs, queue=1, timeout_s=1e-6)
    c = TestClient(app)
    app.state.server._busy = 1  # as if one request were running
    r = post(c, "gmm", n=1)
    assert r.status_code == 429 and "busy" in r.json()["error"]
    app.state.server._busy = 0
    r = post(c, "img/vae", n=4)
    assert r.status_code == 504 and "longer than" in r.json()["error"]


# ----------------------------------------------------------------------------- command line
def test_cli_refuses_bad_input_with_one_line(runs, tmp_path):
    from click.testing import CliRunner

    from genlab.cli import main

    cases = [([str(tmp_path / "nope")], "does not exist"), ([str(runs / "gmm" / "config.json")], "is a file"),
             ([str(runs / "gmm")], "is one run"), ([str(runs), "--max-n", "0"], "--max-n"), ([str(runs), "--port", "0"], "--port"),
             ([str(runs), "--token", "short"], "--token"), ([str(runs), "--workers", "0"], "--workers")]
    for argv, words in cases:
        r = CliRunner().invoke(main, ["serve", *argv])
        assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output


def test_missing_fastapi_is_one_line(monkeypatch):
    import importlib.util

    from genlab.serve import missing_dependency

    assert missing_dependency() is None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert "pip install 'genlab[serve]'" in missing_dependency()


def test_cli_import_does_not_import_fastapi():
    code = "import sys, genlab.cli; print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ----------------------------------------------------------------------------- a real browser
@pytest.fixture(scope="module")
def browser_tools():
    """(selenium webdriver module, chromium binary, chromedriver), or skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("the browser test needs headless Chromium: Debian packages chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver); not installed here")
    return webdriver, chromium, driver


@pytest.fixture(scope="module")
def live_server(runs):
    """The app served by uvicorn on 127.0.0.1 in a thread, for the browser."""
    import threading
    import time

    import uvicorn

    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runs), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_browser_gallery_run_page_and_sampling(browser_tools, live_server, tmp_path):
    webdriver, chromium, driver_path = browser_tools
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    shots = [tmp_path]
    if os.environ.get("GENLAB_SCREENSHOTS"):  # e.g. docs/img: keep the screenshots for the docs
        shots.append(__import__("pathlib").Path(os.environ["GENLAB_SCREENSHOTS"]))

    def shoot(d, name):
        for folder in shots:
            d.save_screenshot(str(folder / name))
        assert (tmp_path / name).read_bytes().startswith(PNG)

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,900"):
        opts.add_argument(arg)
    d = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        wait = WebDriverWait(d, 60)
        d.get(live_server + "/")
        rows = d.find_elements(By.CSS_SELECTOR, "tr[data-id]")
        assert sorted(r.get_attribute("data-id") for r in rows) == ["gmm", "img/vae", "lm", "table"]
        Select(d.find_element(By.ID, "f-family")).select_by_value("vae")  # the filter is the page's own script
        assert [r.get_attribute("data-id") for r in rows if r.is_displayed()] == ["img/vae"]
        Select(d.find_element(By.ID, "f-family")).select_by_value("")
        shoot(d, "serve_gallery.png")

        d.find_element(By.LINK_TEXT, "img/vae").click()
        wait.until(lambda d: d.find_elements(By.ID, "s-go"))
        seed = d.find_element(By.ID, "s-seed")
        seed.clear()
        seed.send_keys("5")
        d.find_element(By.ID, "s-n").send_keys("16")
        Select(d.find_element(By.ID, "s-label")).select_by_visible_text("3")
        d.find_element(By.ID, "s-go").click()
        img = wait.until(lambda d: d.find_elements(By.ID, "s-image"))[0]
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img))
        assert img.get_attribute("alt") == "samples, seed 5" and not d.find_elements(By.ID, "s-error")
        shoot(d, "serve_run.png")

        d.get(live_server + "/runs/lm")  # text, streamed into the page
        d.find_element(By.CSS_SELECTOR, "[data-option=prompt]").send_keys("the")
        d.find_element(By.CSS_SELECTOR, "[data-option=length]").send_keys("40")
        d.find_element(By.ID, "s-go").click()
        wait.until(lambda d: "done" in d.find_element(By.ID, "s-status").text)
        assert d.find_element(By.ID, "s-text").text.startswith("the")
        shoot(d, "serve_text.png")
    finally:
        d.quit()
