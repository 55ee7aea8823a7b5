"""Bad-input cases for the classical models (rbm, hmm, lda) and the documents loader.

Each case is (name, argv after `genlab`); every one must end in one clear `error: ...` line (exit 2).
``fx.run(model, data, *set_args)`` is given ``section.key=value`` settings (passed as ``--set``).
"""
from __future__ import annotations


def cases(fx) -> list[tuple[str, list[str]]]:
    t = fx.tmp
    out = lambda name: str(t / "classical-runs" / name)  # noqa: E731

    empty_dir = t / "classical-no-docs"
    empty_dir.mkdir(parents=True, exist_ok=True)
    blank_dir = t / "classical-blank-docs"
    blank_dir.mkdir(parents=True, exist_ok=True)
    (blank_dir / "a.txt").write_text("   \n%\n\n%\n")
    (blank_dir / "b.txt").write_text("\n\n")
    files_dir = t / "classical-files-docs"
    files_dir.mkdir(parents=True, exist_ok=True)
    (files_dir / "a.txt").write_text("rockets and planets and stars")
    (files_dir / "b.txt").write_text("")
    docs = fx.file("classical-docs.txt", "\n%\n".join(["rocket planet orbit star", "bread cheese apple soup"] * 5))
    text = fx.file("classical-text.txt", "the cat sat on the mat. " * 100)
    hmm_run = fx.run("hmm", text, "data.block_size=16", "model.states=4")
    rbm_run = fx.run("rbm", "digits", "data.binarize=dynamic", "model.hidden=8", "model.sample_steps=5")
    lda_run = fx.run("lda", docs, "model.topics=2", "model.max_iter=2")

    return [
        # RBM
        ("rbm: grey pixels for Bernoulli units without --binarize",
         ["train", "rbm", "--data", "digits", "--out", out("rbm-grey"), "--max-steps", "2", "--quiet"]),
        ("rbm: unknown visible type", ["train", "rbm", "--set", "model.visible=poisson", "--out", out("rbm-vis"), "--quiet"]),
        ("rbm: cd_k = 0", ["train", "rbm", "--set", "model.cd_k=0", "--out", out("rbm-k0"), "--quiet"]),
        ("rbm: sigma <= 0", ["train", "rbm", "--set", "model.visible=gaussian", "--set", "model.sigma=0",
                             "--out", out("rbm-s0"), "--quiet"]),
        ("rbm: ais_chains = 1", ["train", "rbm", "--set", "model.ais_chains=1", "--out", out("rbm-ais1"), "--quiet"]),
        ("rbm: sample --steps 0", ["sample", rbm_run, "-n", "2", "--steps", "0", "-o", str(t / "rbm.png")]),
        ("rbm: sample an unknown option", ["sample", rbm_run, "-n", "2", "--temperature", "0.5", "-o", str(t / "rbm.png")]),
        # HMM
        ("hmm: a one-character text (sequence shorter than 2)",
         ["train", "hmm", "--data", fx.file("classical-one-char.txt", "a"), "--out", out("hmm-one"), "--quiet"]),
        ("hmm: an empty text", ["train", "hmm", "--data", fx.file("classical-empty.txt", ""), "--out", out("hmm-empty"),
                                "--quiet"]),
        ("hmm: states = 0", ["train", "hmm", "--data", text, "--set", "model.states=0", "--out", out("hmm-k0"), "--quiet"]),
        ("hmm: absurd number of states", ["train", "hmm", "--data", text, "--set", "model.states=1000000",
                                          "--out", out("hmm-huge"), "--quiet"]),
        ("hmm: step_decay out of (0.5, 1]", ["train", "hmm", "--data", text, "--set", "model.step_decay=0.2",
                                              "--out", out("hmm-decay"), "--quiet"]),
        ("hmm: image data", ["train", "hmm", "--data", "digits", "--out", out("hmm-digits"), "--quiet"]),
        ("hmm: sample --length 0", ["sample", hmm_run, "--length", "0"]),
        ("hmm: prompt with unknown characters", ["sample", hmm_run, "--prompt", "zzz\u00e9", "--length", "5"]),
        # documents / LDA
        ("lda: a document folder with no files", ["train", "lda", "--data", str(empty_dir), "--out", out("lda-none"),
                                                  "--quiet"]),
        ("lda: a document folder with no text", ["train", "lda", "--data", str(blank_dir), "--out", out("lda-blank"),
                                                 "--quiet"]),
        ("lda: an empty document (one per file)", ["train", "lda", "--data", str(files_dir), "--set", "data.documents=files",
                                                   "--out", out("lda-emptydoc"), "--quiet"]),
        ("lda: an empty file", ["train", "lda", "--data", fx.file("classical-empty-doc.txt", ""), "--out",
                                out("lda-emptyfile"), "--quiet"]),
        ("lda: only stop words", ["train", "lda", "--data", fx.file("classical-stop.txt", "the and of\n%\nit is a\n"),
                                  "--out", out("lda-stop"), "--quiet"]),
        ("lda: a binary file", ["train", "lda", "--data", fx.file("classical-binary.bin", b"\x00\x01\x02words"),
                                "--out", out("lda-bin"), "--quiet"]),
        ("lda: a missing path", ["train", "lda", "--data", str(t / "no-such-docs"), "--out", out("lda-missing"), "--quiet"]),
        ("lda: topics = 0", ["train", "lda", "--data", docs, "--set", "model.topics=0", "--out", out("lda-k0"), "--quiet"]),
        ("lda: more topics than documents", ["train", "lda", "--data", docs, "--set", "model.topics=500",
                                             "--out", out("lda-many"), "--quiet"]),
        ("lda: unknown learning method", ["train", "lda", "--data", docs, "--set", "model.learning_method=gibbs",
                                          "--out", out("lda-method"), "--quiet"]),
        ("lda: vocab_size = 1", ["train", "lda", "--data", docs, "--set", "data.vocab_size=1", "--out", out("lda-v1"),
                                 "--quiet"]),
        ("lda: sample --length 0", ["sample", lda_run, "-n", "2", "--length", "0", "-o", str(t / "docs.txt")]),
        ("lda: samples to a .png", ["sample", lda_run, "-n", "2", "-o", str(t / "docs.png")]),
        ("lda: evaluate on image data", ["evaluate", lda_run, "--data", "digits"]),
    ]
