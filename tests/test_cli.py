from click.testing import CliRunner

from pipeline.cli import cli

from .conftest import make_broken_files


def test_empty_folder_points_to_demo(tmp_path):
    (tmp_path / "rec").mkdir()
    r = CliRunner().invoke(cli, ["transcribe", str(tmp_path / "rec"), "--db", str(tmp_path / "e.db")])
    assert r.exit_code == 0 and "make demo" in r.output


def test_missing_folder_is_an_error(tmp_path):
    r = CliRunner().invoke(cli, ["transcribe", str(tmp_path / "nope")])
    assert r.exit_code != 0 and "not found" in r.output


def test_only_broken_files_exit_1_with_errors_listed(tmp_path):
    make_broken_files(tmp_path / "rec")
    db = tmp_path / "e.db"
    r = CliRunner().invoke(cli, ["transcribe", str(tmp_path / "rec"), "--db", str(db), "--quiet"])
    assert r.exit_code == 1
    assert "failed 3" in r.output and "empty file" in r.output


def test_browse_without_database_explains(tmp_path):
    r = CliRunner().invoke(cli, ["browse", "--db", str(tmp_path / "none.db")])
    assert r.exit_code != 0 and "make transcribe" in r.output
