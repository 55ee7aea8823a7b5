"""Bad-input cases for audiences (events grouped by item: genlab/data/grouped.py, genlab/audiences/,
`genlab audiences ...`, the audience-* models' sampling options).

Each case is (name, argv after `genlab`); every one must end in one clear `error: ...` line (exit 2).
"""
from __future__ import annotations


def _logs(n_items: int = 12, per_item: int = 6) -> tuple[str, str]:
    events = ["item,user,age,sex,rating"]
    items = ["item,kind,year"]
    for i in range(n_items):
        kind = "A" if i % 2 else "B"
        items.append(f"it{i},{kind},{1980 + i}")
        for u in range(per_item):
            events.append(f"it{i},u{(i * 7 + u) % 20},{20 + (i * 3 + u * 5) % 40},{'F' if (i + u) % 3 else 'M'},{1 + (i + u) % 5}")
    return "\n".join(events) + "\n", "\n".join(items) + "\n"


def cases(fx) -> list[tuple[str, list[str]]]:
    t = fx.tmp
    ev_text, it_text = _logs()
    events = fx.file("aud-events.csv", ev_text)
    items = fx.file("aud-items.csv", it_text)
    run = fx.run("audience-nn", events, "data.group=item", f"data.context={items}")
    out = lambda name: str(t / "audience-runs" / name)  # noqa: E731
    extra_item = fx.file("aud-items-extra.csv", it_text + "it99,A,1999\n")
    missing_item = fx.file("aud-items-missing.csv", "\n".join(it_text.splitlines()[:-1]) + "\n")
    per_event = fx.file("aud-events-ids.csv", "\n".join(
        [ln + ("," + (f"e{k}" if k else "event")) for k, ln in enumerate(ev_text.splitlines())]) + "\n")
    extra_cols = fx.file("aud-new-extra.csv", "item,kind,year,price\nnew1,A,1990,3\n")
    missing_cols = fx.file("aud-new-missing.csv", "item,kind\nnew1,A\n")
    unknown_value = fx.file("aud-new-unknown.csv", "item,kind,year\nnew1,Z,1990\n")
    gmm = fx.run("gmm")
    train = lambda name, *extra: ["train", "audience-tvae", "--data", events, "--out", out(name), "--quiet",  # noqa: E731
                                  "--max-steps", "2", *extra]
    sample = lambda *extra: ["audiences", "sample", run, "-o", str(t / "aud-out.csv"), *extra]  # noqa: E731

    return [
        # the data
        ("audiences: an item of the items table has no events",
         train("no-events", "--set", "data.group=item", "--set", f"data.context={extra_item}")),
        ("audiences: events whose item ids are absent from the items table",
         train("absent", "--set", "data.group=item", "--set", f"data.context={missing_item}")),
        ("audiences: a group column where every group has one row",
         ["train", "audience-tvae", "--data", per_event, "--set", "data.group=event", "--set", f"data.context={items}",
          "--out", out("one-row"), "--quiet", "--max-steps", "2"]),
        ("audiences: data.group is not a column of the events", train("no-group", "--set", "data.group=film",
                                                                      "--set", f"data.context={items}")),
        ("audiences: events without data.group / data.context", train("no-context")),
        ("audiences: the items table does not exist", train("no-items", "--set", "data.group=item",
                                                           "--set", f"data.context={t / 'nope.csv'}")),
        ("audiences: model.context unknown", train("bad-mode", "--set", "data.group=item", "--set",
                                                   f"data.context={items}", "--set", "model.context=genres")),
        ("audiences: audience-ddpm with sample_steps above timesteps",
         ["train", "audience-ddpm", "--data", events, "--out", out("ddpm-steps"), "--quiet", "--max-steps", "2",
          "--set", "data.group=item", "--set", f"data.context={items}", "--set", "model.timesteps=10",
          "--set", "model.sample_steps=50"]),
        ("audiences: audience-ddpm with an unknown schedule",
         ["train", "audience-ddpm", "--data", events, "--out", out("ddpm-schedule"), "--quiet", "--max-steps", "2",
          "--set", "data.group=item", "--set", f"data.context={items}", "--set", "model.schedule=quadratic"]),
        ("audiences: audience-ddpm with zero hidden units",
         ["train", "audience-ddpm", "--data", events, "--out", out("ddpm-hidden"), "--quiet", "--max-steps", "2",
          "--set", "data.group=item", "--set", f"data.context={items}", "--set", "model.hidden=0"]),
        ("audiences: movielens-100k with data.context", ["train", "audience-nn", "--data", "movielens-100k", "--set",
                                                         f"data.context={items}", "--out", out("ml-context"), "--quiet"]),
        # contexts
        ("audiences: --context with a value never seen", sample("--context", "kind=Z,year=1990")),
        ("audiences: --context missing a column", sample("--context", "kind=A")),
        ("audiences: --context with an unknown column", sample("--context", "kind=A,year=1990,city=Oslo")),
        ("audiences: --context not column=value", sample("--context", "kindA")),
        ("audiences: --context year not a number", sample("--context", "kind=A,year=soon")),
        ("audiences: --context-file with an extra column", sample("--context-file", extra_cols)),
        ("audiences: --context-file missing a column", sample("--context-file", missing_cols)),
        ("audiences: --context-file with an unknown value", sample("--context-file", unknown_value)),
        ("audiences: --context-file does not exist", sample("--context-file", str(t / "nope.csv"))),
        ("audiences: both --context and --context-file", sample("--context", "kind=A,year=1990", "--context-file", extra_cols)),
        ("audiences: sample without a context", sample()),
        ("audiences: sample -n 0", sample("--context", "kind=A,year=1990", "-n", "0")),
        ("audiences: sample to an image file", ["audiences", "sample", run, "--context", "kind=A,year=1990", "-o",
                                                str(t / "aud.png")]),
        ("audiences: genlab sample --context with a value never seen",
         ["sample", run, "--context", "kind=Z,year=1990", "-n", "3", "-o", str(t / "aud2.csv")]),
        ("audiences: a run that is not an audience model", ["audiences", "sample", gmm, "--context", "kind=A"]),
        # the protocol
        ("audiences: --novel larger than the items with enough events",
         ["audiences", "evaluate", run, "--novel", "50", "--draws", "1"]),
        ("audiences: --novel 0", ["audiences", "evaluate", run, "--novel", "0", "--draws", "1"]),
        ("audiences: --min-events above every item", ["audiences", "evaluate", run, "--novel", "2", "--min-events", "100"]),
        ("audiences: --draws 0", ["audiences", "evaluate", run, "--novel", "2", "--min-events", "2", "--draws", "0"]),
        ("audiences: evaluate a run that is not an audience model", ["audiences", "evaluate", gmm]),
    ]
