"""Text data: tokenizers (char and byte-level BPE, any script), splits, windows, bad files, the text writer."""
from pathlib import Path

import pytest
import torch

from genlab.config import DataConfig, from_dict
from genlab.data import load_data
from genlab.data.base import DataInfo
from genlab.data.text import TextTokenizer
from genlab.errors import ConfigError, DataError
from genlab.outputs import write_samples

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MIXED = "Hello, world!\nสวัสดีครับ โลก\n你好，世界。\nΚαλημέρα κόσμε\n" * 20


def text_file(tmp_path, text, name="t.txt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def load(path, split="train", **kw):
    return load_data(from_dict(DataConfig, {"name": str(path), **kw}, "data"), "text", split)


# ----------------------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tokenizer_round_trips_non_latin_text(kind):
    tok = TextTokenizer.fit(kind, MIXED, MIXED, vocab_size=300)
    ids = tok.encode(MIXED)
    assert ids.dtype.kind == "i" and ids.min() >= 0 and ids.max() < tok.vocab_size
    assert tok.decode(ids) == MIXED
    # chars_per_token counts UTF-8 lead bytes: summed over any encoding it is the number of characters
    assert tok.chars_per_token()[torch.from_numpy(ids)].sum().item() == len(MIXED)
    again = TextTokenizer.from_meta(tok.to_meta())
    assert (again.encode(MIXED) == ids).all()
    if kind == "bpe":
        assert len(ids) < len(MIXED.encode("utf-8"))  # merges learned


def test_char_tokenizer_names_unknown_characters():
    tok = TextTokenizer.fit("char", "abc\n", "abc\n", 0)
    assert tok.unknown("abz€") == ["z", "€"]
    with pytest.raises(ConfigError, match="'z€'|z"):
        tok.encode("abz€")


def test_bpe_vocab_size_too_small_is_clear():
    with pytest.raises(ConfigError, match="vocab_size must be > 256"):
        TextTokenizer.fit("bpe", "abc", "abc", 100)


# ----------------------------------------------------------------------------- loader


def test_stream_split_windows_and_meta(tmp_path):
    text = "".join(chr(ord("a") + i % 26) for i in range(2000))
    p = text_file(tmp_path, text)
    train, test = load(p, block_size=16), load(p, "test", block_size=16)
    tok = TextTokenizer.from_meta(train.info.meta)
    assert train.info.modality == "text" and train.info.shape == (16,) and train.info.meta["vocab_size"] == 26
    # the last 10% is held out, every window is block_size + 1 consecutive tokens of its split's text
    b = test.all()["x"]
    assert b.shape == (len(test), 17)
    held_out = text[1800:]
    assert tok.decode(b[0].tolist()) == held_out[:17] and tok.decode(b[1].tolist()) == held_out[16:33]
    torch.manual_seed(0)
    x = next(train.batches(8, generator=torch.Generator().manual_seed(0)))["x"]
    for row in x:
        assert tok.decode(row.tolist()) in text[:1800]


def test_train_windows_are_shifted_randomly(tmp_path):
    p = text_file(tmp_path, "".join(chr(ord("a") + i % 26) for i in range(3000)))
    ds = load(p, block_size=10)
    batch = {"start": torch.zeros(64, dtype=torch.long)}
    torch.manual_seed(0)
    firsts = ds.transform(batch)["x"][:, 0]
    assert len(firsts.unique()) > 5  # start 0 moved by a random offset in [0, 10)


def test_lines_and_files_hold_out_whole_documents(tmp_path):
    lines = [f"document number {i} " + "x" * (i % 7) for i in range(40)]
    p = text_file(tmp_path, "\n".join(lines) + "\n")
    train = load(p, block_size=8, documents="lines")
    test = load(p, "test", block_size=8, documents="lines")
    tok = TextTokenizer.from_meta(train.info.meta)
    test_text = tok.decode(test.all()["x"][:, :-1].flatten().tolist())
    held = {line for line in lines if line in test_text}
    assert 1 <= len(held) <= 8
    train_text = tok.decode(train.all()["x"][:, :-1].flatten().tolist())
    assert not any(f"{line}\n" in train_text for line in held)

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    for i in range(6):
        (folder / "sub" / f"{i}.txt").write_text(f"file {i} " * 20, encoding="utf-8")
    (folder / ".hidden").write_bytes(b"\x00\x01")  # hidden files are skipped
    ds = load(folder, block_size=8, documents="files")
    assert len(ds) > 0


def test_bpe_loader_reports_token_and_char_counts(tmp_path):
    p = text_file(tmp_path, MIXED * 3)
    ds = load(p, block_size=16, tokenizer="bpe", vocab_size=300)
    assert ds.info.meta["tokenizer"] == "bpe" and 256 < ds.info.meta["vocab_size"] <= 300
    tok = TextTokenizer.from_meta(ds.info.meta)
    window = b"".join(tok.token_bytes[i] for i in ds.all()["x"][0].tolist())  # may end inside a character
    assert window in (MIXED * 3).encode("utf-8")


def test_bad_text_files_give_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="holds no text"):
        load(text_file(tmp_path, "", "empty.txt"))
    with pytest.raises(DataError, match="holds no text"):
        load(text_file(tmp_path, " \n\n ", "blank.txt"))
    (tmp_path / "bin.dat").write_bytes(bytes(range(256)))
    with pytest.raises(DataError, match="binary file"):
        load(tmp_path / "bin.dat")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 0xe9 at offset 3\)"):
        load(tmp_path / "latin1.txt")
    with pytest.raises(DataError, match="not found"):
        load(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="fewer than data.block_size"):
        load(text_file(tmp_path, "short text\n", "short.txt"), block_size=64)
    with pytest.raises(DataError, match="at least 2 non-empty documents"):
        load(text_file(tmp_path, "one line only\n", "one.txt"), documents="lines")
    with pytest.raises(ConfigError, match="data.tokenizer must be char or bpe"):
        from_dict(DataConfig, {"tokenizer": "words"}, "data")
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.txt").write_text("hello " * 50, encoding="utf-8")
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(DataError, match="b.png is a binary file"):
        load(folder)


@pytest.mark.skipif(not (SHARED / "text").is_dir(), reason="no ../shared/data")
def test_tiny_shakespeare():
    ds = load(SHARED / "text" / "tinyshakespeare.txt", block_size=256)
    assert ds.info.meta["vocab_size"] == 65
    assert len(ds) == (1_003_854 - 256 + 255) // 256  # 90% of 1,115,394 characters, stride 256


# ----------------------------------------------------------------------------- writer


def test_text_writer(tmp_path, capsys):
    info = DataInfo("text", (8,))
    write_samples(["first", "second"], tmp_path / "s.txt", info)
    assert (tmp_path / "s.txt").read_text(encoding="utf-8") == "----- sample 0 -----\nfirst\n----- sample 1 -----\nsecond\n"
    write_samples(["only one ☃"], Path("-"), info)
    assert capsys.readouterr().out == "only one ☃\n"
    with pytest.raises(ConfigError, match="written as .txt"):
        write_samples(["x"], tmp_path / "s.png", info)
