import os

from pipeline.calls import ingest


def test_discover_skips_hidden_partial_and_non_audio(tmp_path):
    (tmp_path / "a.amr").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.M4A").write_bytes(b"y")
    (tmp_path / ".hidden.mp3").write_bytes(b"z")
    (tmp_path / "c.mp3.part").write_bytes(b"z")
    (tmp_path / "notes.txt").write_text("n")
    (tmp_path / ".sync").mkdir()
    (tmp_path / ".sync" / "d.wav").write_bytes(b"w")
    found = [p.relative_to(tmp_path).as_posix() for p in ingest.discover(tmp_path)]
    assert found == ["a.amr", "sub/b.M4A"]


def test_symlinks_followed_only_inside_folder(tmp_path):
    inside = tmp_path / "rec"
    inside.mkdir()
    (inside / "real.wav").write_bytes(b"1")
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"2")
    os.symlink(inside / "real.wav", inside / "link.wav")
    os.symlink(outside, inside / "escape.wav")
    names = sorted(p.name for p in ingest.discover(inside))
    assert names == ["link.wav", "real.wav"]


def test_describe_hashes_and_parses_name(tmp_path):
    p = tmp_path / "13812345678_20261102223015.amr"
    p.write_bytes(b"abc")
    src = ingest.describe(p, tmp_path)
    assert src.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert src.size == 3 and src.rel_path == p.name
    assert src.meta.phone_number == "+8613812345678"


def test_describe_reads_a_folder_tree_recorder(tmp_path):
    """ACR Phone files a call under a folder named by the number: the folders count."""
    folder = tmp_path / "ACRCalls" / "13900001111"
    folder.mkdir(parents=True)
    p = folder / "1792026900000_2.m4a"
    p.write_bytes(b"abc")
    meta = ingest.describe(p, tmp_path).meta
    assert (meta.phone_number, meta.direction, meta.scheme) == ("+8613900001111", "outgoing",
                                                                 "acr_phone")
