"""Bad-input cases for the declared model contract (issue 13): optimiser settings in the train section, and
`genlab sample`'s per-model options built from the model's declarations.

Each case is (name, argv after `genlab`); every one must end in one clear `error: ...` line (exit 2).
"""
from __future__ import annotations


def cases(fx) -> list[tuple[str, list[str]]]:
    t = fx.tmp
    out = lambda name: str(t / "contract-runs" / name)  # noqa: E731
    text = fx.file("contract-text.txt", "the cat sat on the mat. " * 100)
    lm_run = fx.run("char-gru", text, "data.block_size=16", "model.hidden=16")
    vae_run = fx.run("vae", "digits", "model.latent_dim=4")
    train = lambda name, *args: ["train", name, "--max-steps", "1", "--quiet", "--out", out(name), *args]  # noqa: E731

    return [
        # optimiser settings: one home (train), refused by name elsewhere
        ("train: model.lr_d (a training setting now)", train("dcgan", "--set", "model.lr_d=4e-4")),
        ("train: model.betas (a training setting now)", train("wgan-gp", "--set", "model.betas=[0.5,0.9]")),
        ("train: lr_mult for an optimiser the model lacks", train("vae", "--set", "train.lr_mult.d=2")),
        ("train: lr_mult negative", train("dcgan", "--set", "train.lr_mult.d=-1")),
        ("train: lr_mult not a number", train("dcgan", "--set", "train.lr_mult.d=fast")),
        ("train: lr_mult not a mapping", train("dcgan", "--set", "train.lr_mult=3")),
        ("train: unknown optimizer", train("dcgan", "--set", "train.optimizer=sgd")),
        ("train: betas out of range", train("dcgan", "--set", "train.betas=[1.5,0.9]")),
        ("train: --lr for a model fitted in one call", train("gmm", "--lr", "1e-3")),
        # sample options declared by the model
        ("sample: text option with a bad number", ["sample", lm_run, "--temperature", "abc"]),
        ("sample: text option out of range", ["sample", lm_run, "--top-p", "1.5"]),
        ("sample: integer option given a float", ["sample", lm_run, "--length", "2.5"]),
        ("sample: an option of another model", ["sample", lm_run, "--steps", "3"]),
        ("sample: choice not declared", ["sample", vae_run, "--sampler", "ddim", "-o", str(t / "contract.png")]),
        ("sample: option of a text model on a vae", ["sample", vae_run, "--temperature", "0.5", "-o", str(t / "c.png")]),
    ]
