"""Import direction: a module may import its own layer and the layers below it, never one above.

    0 errors, config, genlab    settings and errors (the package facade: __version__, registry, lazy run API)
    0 modalities                one record per kind of data (names its loader, writer, evaluator as strings)
    1 data, outputs, masks      reading and writing data (data/tabular/: table files, schema and codes)
    2 nn                        network blocks
    3 models, registry          the models and their registry
    4 training, sampling        the trainer, run folders, sampling to files
    5 eval                      metrics, evaluators, reports (eval/tabular/: table metrics and reports)
    6 api, quickstart           the run API (genlab.train / sample / evaluate / ...)
    7 cli, serve                the command line (thin wrappers over the API) and the web front end

Imports are read with ``ast`` (also those inside functions). ``ALLOWED`` lists the upward imports that exist
today and are not fixed yet, each with the reason; it may only shrink: an entry that no longer occurs fails the
test too, so it is removed when the import is fixed. A new module must be given a layer in ``LAYERS``.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "genlab"

LAYERS = {  # module prefix -> layer (the longest matching prefix wins)
    "genlab": 0,  # the package itself: __version__, the registry and the lazily loaded run API (a facade)
    "genlab.errors": 0, "genlab.config": 0, "genlab.modalities": 0, "genlab.resources": 0,
    "genlab.data": 1, "genlab.outputs": 1, "genlab.masks": 1, "genlab.plots2d": 1,
    "genlab.nn": 2,
    "genlab.models": 3, "genlab.registry": 3, "genlab.model_index": 3, "genlab.audiences": 3,
    "genlab.training": 4, "genlab.sampling": 4,
    "genlab.eval": 5, "genlab.audiences.protocol": 5, "genlab.audiences.report": 5, "genlab.audiences.evaluate": 5,
    "genlab.api": 6, "genlab.quickstart": 6,
    "genlab.cli": 7, "genlab.__main__": 7, "genlab.serve": 7,
}

ALLOWED = {  # (importing module, imported module): why it is not fixed yet -- shrink only
    ("genlab", "genlab.registry"): "the package facade re-exports register_model / get_model_class / list_models",
    ("genlab.models.img2img.srgan", "genlab.eval"): "SRGAN's perceptual loss uses eval's feature network",
    ("genlab.models.img2img.srgan", "genlab.eval.features"): "as above",
}


def _layer(module: str) -> int | None:
    best = max((p for p in LAYERS if module == p or (p != "genlab" and module.startswith(p + "."))), key=len,
               default=None)  # "genlab" names the package itself only
    return None if best is None else LAYERS[best]


def _module_name(path: Path) -> tuple[str, str]:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    return module, package


def _imports(path: Path, package: str) -> set[tuple[str, int]]:
    """The genlab modules ``path`` imports (for ``from X import name``: X, and X.name when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "genlab":
                continue
            out.add((target, node.lineno))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if (ROOT.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or (
                        ROOT.parent / Path(*sub.split("."))).is_dir():
                    out.add((sub, node.lineno))
        elif isinstance(node, ast.Import):
            out |= {(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "genlab"}
    return out


def _upward_imports():
    found, unmapped = {}, []
    for path in sorted(ROOT.rglob("*.py")):
        module, package = _module_name(path)
        mine = _layer(module)
        if mine is None:
            unmapped.append(module)
            continue
        for target, line in _imports(path, package):
            theirs = _layer(target)
            if theirs is not None and theirs > mine:
                found.setdefault((module, target), f"{path.relative_to(ROOT.parent)}:{line}")
    return found, unmapped


def test_every_module_has_a_layer():
    _, unmapped = _upward_imports()
    assert not unmapped, f"give these modules a layer in tests/test_imports.py LAYERS: {unmapped}"


def test_no_lower_layer_imports_a_higher_one():
    found, _ = _upward_imports()
    new = {k: v for k, v in found.items() if k not in ALLOWED}
    assert not new, "upward imports (a lower layer importing a higher one):\n" + "\n".join(
        f"  {where}: {a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})" for (a, b), where in sorted(new.items()))


def test_the_allow_list_only_shrinks():
    found, _ = _upward_imports()
    gone = sorted(k for k in ALLOWED if k not in found)
    assert not gone, f"these upward imports are fixed: remove them from ALLOWED in tests/test_imports.py: {gone}"


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ..eval import metrics\n", encoding="utf-8")
    assert ("genlab.eval", 2) in _imports(bad, "genlab.data")
    assert _layer("genlab.data.images") < _layer("genlab.eval.metrics")


def test_no_private_name_crosses_a_module_boundary():
    """``from genlab.x import _name`` couples a module to another's internals: make the name public instead."""
    crossing = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("genlab")):
                crossing += [f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert not crossing, "private names imported across modules:\n" + "\n".join(crossing)
