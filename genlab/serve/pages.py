"""HTML pages, built from one template (``templates/page.html``). Everything taken from a run folder is
HTML-escaped; data for the scripts travels in ``data-*`` attributes or a JSON ``<script type=application/json>``
block with ``<`` escaped."""
from __future__ import annotations

import json
from html import escape
from importlib import resources
from string import Template
from urllib.parse import quote

_TEMPLATE: Template | None = None


def _page(title: str, body: str, root: str = "") -> str:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = Template(resources.files(__package__).joinpath("templates", "page.html").read_text("utf-8"))
    return _TEMPLATE.substitute(title=escape(title), body=body, root=escape(root))


def _url(run_id: str) -> str:
    return "/runs/" + quote(run_id, safe="/")


def _num(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return escape(str(v))


def _json_block(element_id: str, data) -> str:
    text = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def gallery(rows: list[dict], root: str) -> str:
    families = sorted({r["family"] for r in rows})
    datas = sorted({r["data"] for r in rows})
    opts = lambda values: "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)  # noqa: E731
    head = ("<tr><th></th><th></th><th data-sort='id'>run</th><th data-sort='model'>model</th><th data-sort='family'>family"
            "</th><th data-sort='data'>data</th><th data-sort='status'>status</th><th data-sort='time' "
            "data-numeric='1'>training time</th><th>metrics</th></tr>")
    body_rows = []
    for r in rows:
        url = _url(r["id"])
        if r.get("has_grid"):
            thumb = f'<img class="thumb" loading="lazy" alt="samples" src="{escape(url)}/files/samples.png">'
        elif r.get("has_text"):
            thumb = '<span class="textthumb">text</span>'
        else:
            thumb = ""
        t = r.get("train_time_s")
        metrics = ", ".join(f"{escape(k)}={_num(v)}" for k, v in (r.get("metrics") or {}).items())
        status = str(r.get("status", "?"))
        cls = status.split(" ")[0].strip("(:")
        body_rows.append(
            f'<tr data-id="{escape(r["id"])}" data-model="{escape(r["model"])}" data-family="{escape(r["family"])}" '
            f'data-data="{escape(r["data"])}" data-status="{escape(status)}" data-time="{t if isinstance(t, (int, float)) else -1}">'
            f'<td><input type="checkbox" class="pick" value="{escape(r["id"])}" title="compare"></td>'
            f'<td>{thumb}</td><td><a href="{escape(url)}">{escape(r["id"])}</a></td><td>{escape(r["model"])}</td>'
            f'<td>{escape(r["family"])}</td><td>{escape(r["data"])}</td>'
            f'<td><span class="status {escape(cls)}">{escape(status)}</span></td>'
            f'<td>{"" if not isinstance(t, (int, float)) else f"{t:.1f} s"}</td><td class="metrics">{metrics}</td></tr>')
    empty = "" if rows else "<p>No runs here yet: <code>genlab train MODEL --out FOLDER/NAME</code> adds one.</p>"
    body = (f"<h1>Runs <small>({len(rows)})</small></h1>"
            f'<div class="filters">family <select id="f-family"><option value="">all</option>{opts(families)}</select>'
            f' data <select id="f-data"><option value="">all</option>{opts(datas)}</select>'
            f' <input id="f-text" placeholder="filter by name"> <button id="compare">compare ticked runs</button>'
            f' <span class="hint">click a column to sort</span></div>'
            f'<table id="gallery">{head}{"".join(body_rows)}</table>{empty}')
    return _page("genlab runs", body, root)


def _option_input(o: dict) -> str:
    name = escape(o["name"])
    label = f'<label title="{escape(o.get("help") or "")}">{name}'
    hint = f' <small>{escape(o.get("describe") or "")}{" - " + escape(o["help"]) if o.get("help") else ""}</small>'
    if o.get("choices"):
        choices = "".join(f'<option value="{escape(str(c))}">{escape(str(c))}</option>' for c in o["choices"])
        field = f'<select data-option="{name}"><option value="">(default)</option>{choices}</select>'
    elif o.get("type") == "bool":
        field = (f'<select data-option="{name}"><option value="">(default)</option><option value="true">true</option>'
                 '<option value="false">false</option></select>')
    elif o.get("type") in ("int", "float"):
        step = "1" if o["type"] == "int" else "any"
        bounds = "".join(f' {k}="{escape(str(o[k]))}"' for k in ("min", "max") if o.get(k) is not None)
        ph = "" if o.get("default") is None else f' placeholder="{escape(str(o["default"]))}"'
        field = f'<input type="number" step="{step}"{bounds}{ph} data-option="{name}">'
    elif o["name"] in ("prompt", "where"):
        field = f'<textarea rows="2" data-option="{name}"></textarea>'
    else:
        field = f'<input type="text" data-option="{name}">'
    return f"<div class='opt'>{label} {field}</label>{hint}</div>"


def run_page(info: dict, snippet: str | None, token_needed: bool = False) -> str:
    rid = info["id"]
    url = _url(rid)
    parts = [f"<h1>{escape(rid)}</h1>",
             f"<p>model <b>{escape(info['model'])}</b> ({escape(info['family'])}) on <b>{escape(info['data'])}</b>"
             f" &middot; {escape(str(info['status']))}"
             + (f" &middot; {info['train_time_s']:.1f} s of training" if isinstance(info.get("train_time_s"), (int, float)) else "")
             + (f' &middot; <a href="{escape(url)}/files/report.html">evaluation report</a>' if info.get("has_report") else "")
             + "</p>"]
    if info.get("metrics"):
        parts.append("<p class='metrics'>" + ", ".join(f"{escape(k)}={_num(v)}" for k, v in info["metrics"].items()) + "</p>")
    # the sampling panel, from the model's declared options
    modality = info["modality"]
    fields = [f"<div class='opt'><label>seed <input type='number' min='0' step='1' value='0' id='s-seed'></label></div>",
              f"<div class='opt'><label>n <input type='number' min='1' max='{info['limits']['max_n']}' step='1' "
              f"placeholder='{'1' if 'stream' in info['capabilities'] else min(64, info['limits']['max_n'])}' id='s-n'></label>"
              f" <small>at most {info['limits']['max_n']}</small></div>"]
    if "conditional" in info["capabilities"] and info.get("num_classes"):
        k = int(info["num_classes"])
        fields.append(f"<div class='opt'><label>label <select id='s-label'><option value=''>(any)</option>"
                      + "".join(f"<option>{i}</option>" for i in range(k)) + "</select></label></div>")
    fields += [_option_input(o) for o in info["options"]]
    fmts = "".join(f"<option>{escape(f)}</option>" for f in info["formats"])
    fields.append(f"<div class='opt'><label>format <select id='s-format'>{fmts}</select></label>"
                  + (" <label><input type='checkbox' id='s-stream' checked> stream</label>" if "stream" in info["capabilities"] else "")
                  + "</div>")
    if token_needed:
        fields.append("<div class='opt'><label>API token <input type='password' id='s-token'></label></div>")
    parts.append(f'<section class="panel" id="panel" data-run="{escape(rid)}" data-modality="{escape(modality)}">'
                 f"<h2>Draw samples</h2>{''.join(fields)}<button id='s-go'>Draw</button> <span id='s-status'></span>"
                 "<div id='s-out'></div></section>")
    if info.get("has_grid"):
        parts.append(f'<h2>Last sample grid</h2><img class="grid" alt="last samples" src="{escape(url)}/files/samples.png">')
    if snippet:
        parts.append(f"<h2>Last samples</h2><pre>{escape(snippet)}</pre>")
    parts.append(f'<h2>Training curves</h2><img class="curves" alt="training curves" src="{escape(url)}/curves.png">')
    parts.append(f"<h2>Config</h2><pre>{escape(json.dumps(info['config'], indent=1, default=str))}</pre>")
    parts.append(_json_block("run-info", {k: info[k] for k in ("id", "modality", "capabilities", "options", "formats")}))
    return _page(f"genlab: {rid}", "".join(parts))


def compare_page(rows: list[dict], result: dict) -> str:
    """The leaderboard of ``genlab compare`` on common samples (reference rows, best / tie marks; ``result`` from
    :func:`genlab.serve.compare.compute`), the table it prints, then the runs as each recorded itself."""
    from .compare import leaderboard_html

    ids = ",".join(r["id"] for r in rows)
    form = (f"<form method='get' action='/compare' class='filters'><input type='hidden' name='runs' value='{escape(ids)}'>"
            f"<label>n <input type='number' name='n' min='1' value='{result['n']}'></label> "
            f"<label>seed <input type='number' name='seed' min='0' value='{result['seed']}'></label> "
            "<button>compare again</button></form>")
    note = (f"<p class='hint'>{result['n']:,} samples per run with seed {result['seed']}, scored by "
            "<code>genlab compare</code> on the same data, samples and metrics, with its reference rows. The "
            "same from a shell: <code>genlab compare " + " ".join(escape(r["id"]) for r in rows)
            + f" -n {result['n']} --seed {result['seed']}</code> (run in the served folder).</p>")
    printed = f"<details><summary>as <code>genlab compare</code> prints it</summary><pre>{escape(result['printed'])}</pre></details>"
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r.get("metrics", {}) if k not in keys]
    head = "<tr><th>run</th><th>model</th><th>data</th><th>status</th><th>training time</th>" + "".join(
        f"<th>{escape(k)}</th>" for k in keys) + "<th>last samples</th></tr>"
    body = []
    for r in rows:
        url = _url(r["id"])
        t = r.get("train_time_s")
        cells = "".join(f"<td>{_num(r['metrics'][k]) if k in r.get('metrics', {}) else ''}</td>" for k in keys)
        grid = (f'<img class="cmpgrid" alt="samples" src="{escape(url)}/files/samples.png">' if r.get("has_grid")
                else ("text" if r.get("has_text") else ""))
        body.append(f'<tr><td><a href="{escape(url)}">{escape(r["id"])}</a></td><td>{escape(r["model"])}</td>'
                    f'<td>{escape(r["data"])}</td><td>{escape(str(r["status"]))}</td>'
                    f'<td>{"" if not isinstance(t, (int, float)) else f"{t:.1f} s"}</td>{cells}<td>{grid}</td></tr>')
    recorded = ("<h2>As each run recorded itself</h2><p class='hint'>Its evaluation, else its last training log: "
                "runs evaluated on different samples or data are not directly comparable.</p>"
                f"<table id='compare-table'>{head}{''.join(body)}</table>")
    return _page("genlab: compare", f"<h1>Compare {len(rows)} runs</h1>{form}{note}<h2>Leaderboard</h2>"
                 f"<div id='leaderboard'>{leaderboard_html(result)}</div>{printed}{recorded}")


def api_page() -> str:
    body = ("<h1>API</h1><p>The OpenAPI description is <a href='/openapi.json'>/openapi.json</a>; this page lists it "
            "without loading anything from the internet. Send <code>Authorization: Bearer TOKEN</code> when the "
            "server was started with <code>--token</code>.</p><div id='api'></div>")
    return _page("genlab serve API", body)
