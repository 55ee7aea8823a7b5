// genlab serve: gallery filters and sorting, the sampling panel of a run page, the offline API page.
"use strict";

function galleryInit() {
  const table = document.getElementById("gallery");
  if (!table) return;
  const rows = () => Array.from(table.querySelectorAll("tr[data-id]"));
  const fam = document.getElementById("f-family"), dat = document.getElementById("f-data");
  const txt = document.getElementById("f-text");
  function filter() {
    const q = txt.value.toLowerCase();
    for (const r of rows()) {
      const ok = (!fam.value || r.dataset.family === fam.value) && (!dat.value || r.dataset.data === dat.value) &&
        (!q || (r.dataset.id + " " + r.dataset.model).toLowerCase().includes(q));
      r.style.display = ok ? "" : "none";
    }
  }
  [fam, dat].forEach(e => e.addEventListener("change", filter));
  document.getElementById("compare").addEventListener("click", () => {
    const ids = Array.from(table.querySelectorAll("input.pick:checked")).map(b => b.value);
    if (ids.length) window.location = "/compare?runs=" + ids.map(encodeURIComponent).join(",");
  });
  txt.addEventListener("input", filter);
  for (const th of table.querySelectorAll("th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort, numeric = !!th.dataset.numeric;
      const dir = th.classList.contains("asc") ? -1 : 1;
      table.querySelectorAll("th").forEach(h => h.classList.remove("asc", "desc"));
      th.classList.add(dir > 0 ? "asc" : "desc");
      const sorted = rows().sort((a, b) => {
        const x = a.dataset[key], y = b.dataset[key];
        return dir * (numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y));
      });
      sorted.forEach(r => table.appendChild(r));
    });
  }
}

function csvPreview(text, maxRows) {
  const lines = text.split("\n").filter(l => l.length).slice(0, maxRows + 1);
  const table = document.createElement("table");
  table.className = "csv";
  lines.forEach((line, i) => {
    const tr = document.createElement("tr");
    for (const cell of line.split(",")) {
      const td = document.createElement(i === 0 ? "th" : "td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    table.appendChild(tr);
  });
  return table;
}

function download(blob, name, label) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.textContent = label;
  return a;
}

function panelInit() {
  const panel = document.getElementById("panel");
  if (!panel) return;
  const run = panel.dataset.run;
  const out = document.getElementById("s-out"), status = document.getElementById("s-status");
  document.getElementById("s-go").addEventListener("click", async () => {
    const body = {seed: parseInt(document.getElementById("s-seed").value || "0", 10), options: {}};
    const n = document.getElementById("s-n").value;
    if (n) body.n = parseInt(n, 10);
    const label = document.getElementById("s-label");
    if (label && label.value !== "") body.label = parseInt(label.value, 10);
    for (const el of panel.querySelectorAll("[data-option]")) {
      if (el.value !== "") body.options[el.dataset.option] = el.value;
    }
    body.format = document.getElementById("s-format").value;
    const streamBox = document.getElementById("s-stream");
    if (streamBox && streamBox.checked) { body.stream = true; body.format = "txt"; }
    const headers = {"Content-Type": "application/json"};
    const token = document.getElementById("s-token");
    if (token && token.value) headers["Authorization"] = "Bearer " + token.value;
    out.textContent = "";
    status.textContent = "sampling...";
    const t0 = performance.now();
    let resp;
    try {
      resp = await fetch("/v1/runs/" + run.split("/").map(encodeURIComponent).join("/") + "/samples",
                         {method: "POST", headers, body: JSON.stringify(body)});
    } catch (e) { status.textContent = ""; out.innerHTML = ""; out.append(errorLine(String(e))); return; }
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
      status.textContent = "";
      out.append(errorLine(msg));
      return;
    }
    const type = resp.headers.get("content-type") || "";
    const name = "samples-seed" + body.seed + "." + body.format;
    if (type.startsWith("image/")) {
      const blob = await resp.blob();
      const img = document.createElement("img");
      img.id = "s-image";
      img.alt = "samples, seed " + body.seed;
      img.src = URL.createObjectURL(blob);
      out.append(img, document.createElement("br"), download(blob, name, "download " + name));
    } else if (type.startsWith("text/plain") && resp.body) {
      const pre = document.createElement("pre");
      pre.id = "s-text";
      out.append(pre);
      const reader = resp.body.getReader(), dec = new TextDecoder();
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        pre.textContent += dec.decode(value, {stream: true});
      }
    } else if (type.startsWith("text/csv") || type.startsWith("text/tab")) {
      const text = await resp.text();
      out.append(download(new Blob([text], {type}), name, "download " + name), csvPreview(text, 20));
    } else {
      out.append(download(await resp.blob(), name, "download " + name));
    }
    status.textContent = "done in " + ((performance.now() - t0) / 1000).toFixed(2) + " s";
  });
}

function errorLine(msg) {
  const p = document.createElement("p");
  p.className = "error";
  p.id = "s-error";
  p.textContent = msg;
  return p;
}

async function apiInit() {
  const box = document.getElementById("api");
  if (!box) return;
  const spec = await (await fetch("/openapi.json")).json();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const h = document.createElement("h3");
      h.textContent = method.toUpperCase() + " " + path;
      const p = document.createElement("p");
      p.textContent = op.summary || "";
      box.append(h, p);
    }
  }
  const h = document.createElement("h3");
  h.textContent = "Schemas";
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify((spec.components || {}).schemas || {}, null, 1);
  box.append(h, pre);
}

for (const img of document.querySelectorAll("img.curves")) {  // a run without numeric metrics yet
  img.addEventListener("error", () => img.replaceWith("no numeric metrics yet"));
}
galleryInit();
panelInit();
apiInit();
