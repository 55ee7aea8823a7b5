"""Bad inputs for large-vocabulary text models (model.softmax, the step-memory check) and the DCGAN's
model.blocks. See benchmarks/bad_input_catalogue.py."""
from __future__ import annotations


def cases(fx):
    t = fx.tmp
    cjk = "".join(chr(0x4E00 + i) for i in range(5000))
    big = fx.file("vocab/cjk.txt", "\n".join(cjk[i:i + 50] for i in range(0, len(cjk), 50)) * 2)
    tiny = fx.file("vocab/abc.txt", "ab\nba\n" * 200)
    train = ["train", "char-gru", "--max-steps", "1", "--quiet", "--out"]
    gan = ["train", "dcgan", "--max-steps", "1", "--quiet", "--out"]
    return [
        ("large vocabulary: full softmax with a batch that cannot fit",
         [*train, str(t / "v1"), "--data", big, "--batch-size", "5000000", "--set", "model.softmax=full",
          "--set", "data.block_size=16"]),
        ("large vocabulary: unknown model.softmax", [*train, str(t / "v2"), "--data", big, "--set", "model.softmax=sampled"]),
        ("large vocabulary: adaptive softmax on a 3-character vocabulary",
         [*train, str(t / "v3"), "--data", tiny, "--set", "model.softmax=adaptive", "--set", "data.block_size=8"]),
        ("dcgan: negative model.blocks", [*gan, str(t / "g1"), "--set", "model.blocks=-1"]),
        ("dcgan: model.blocks_d not a number", [*gan, str(t / "g2"), "--set", "model.blocks_d=deep"]),
        ("gan: model.blocks with an MLP", ["train", "gan", "--max-steps", "1", "--quiet", "--out", str(t / "g3"),
                                           "--set", "model.blocks=2"]),
    ]
