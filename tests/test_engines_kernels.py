"""The CPU kernel path: what CTranslate2 runs here, forcing one, and the record of it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.engines import EngineError, kernels

from .conftest import FIXTURES

AVX512 = frozenset({"sse4_1", "avx", "avx2", "avx512f"})


def test_ctranslate2s_own_rule_avx512_only_when_forced(monkeypatch):
    monkeypatch.setattr(kernels, "_x86", lambda: True)
    assert kernels.cpu_isa({}, AVX512) == "AVX2"  # AVX512 is never chosen by itself
    assert kernels.cpu_isa({}, frozenset({"avx"})) == "AVX"
    assert kernels.cpu_isa({}, frozenset({"sse4_1"})) == "GENERIC"
    assert kernels.cpu_isa({kernels.ISA_ENV: "AVX512"}, AVX512) == "AVX512"
    assert kernels.supported_isas(frozenset({"avx", "avx2"})) == ["GENERIC", "AVX", "AVX2"]


def test_an_unknown_or_unsupported_path_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(kernels, "_x86", lambda: True)
    monkeypatch.setattr(kernels, "supported_isas", lambda flags=None: ["GENERIC", "AVX", "AVX2"])
    with pytest.raises(EngineError, match="AVX512 is not supported by this CPU; this CPU offers GENERIC"):
        kernels.check_isa("AVX512")
    with pytest.raises(EngineError, match="SSE9 is not a kernel path; this CPU offers"):
        kernels.check_isa("SSE9")
    assert kernels.check_isa("avx2") == "AVX2"


def test_the_path_is_fixed_once_a_model_is_loaded(monkeypatch):
    monkeypatch.setenv(kernels.ISA_ENV, "")  # recorded, so the test's own value is undone after it
    monkeypatch.delenv(kernels.ISA_ENV)
    monkeypatch.setattr(kernels, "_loaded", True)
    here = kernels.cpu_isa()
    kernels.force_isa(here)  # the same path: nothing to change
    other = next(i for i in kernels.supported_isas() if i != here)
    with pytest.raises(EngineError, match="needs a new process"):
        kernels.force_isa(other)
    monkeypatch.setattr(kernels, "_loaded", False)
    kernels.force_isa(other)
    assert os.environ[kernels.ISA_ENV] == other and kernels.cpu_isa() == other
    assert kernels.describe()["cpu_isa_forced"] is True


def test_only_the_kernel_variables_that_are_set_are_forwarded():
    env = {"CT2_FORCE_CPU_ISA": "GENERIC", "ONEDNN_MAX_CPU_ISA": "", "PATH": "/bin", "OMP_NUM_THREADS": "1"}
    assert kernels.forwarded_env(env) == {"CT2_FORCE_CPU_ISA": "GENERIC"}


def test_cli_refuses_a_path_this_cpu_lacks(monkeypatch, tmp_path):
    from pipeline.cli import cli

    monkeypatch.setattr(kernels, "supported_isas", lambda flags=None: ["GENERIC", "AVX", "AVX2"])
    folder = tmp_path / "rec"
    folder.mkdir()
    shutil.copy(FIXTURES / "audio" / "en_short_call.wav", folder)
    res = CliRunner().invoke(cli, ["transcribe", str(folder), "--db", str(tmp_path / "e.db"),
                                   "--cpu-isa", "AVX512"])
    assert res.exit_code == 2 and "--cpu-isa" in res.output and "this CPU offers" in res.output
    assert not (tmp_path / "e.db").exists()


def _selected_isa(env: dict[str, str]) -> str:
    """CTranslate2's own word for the path it took, from its log, in a fresh process."""
    from pipeline import models

    code = ("import ctranslate2, sys; ctranslate2.models.Whisper(sys.argv[1], device='cpu', "
            "compute_type='int8')")
    out = subprocess.run([sys.executable, "-c", code, str(models.resolve(None).ct2_dir)],
                         env={**env, "CT2_VERBOSE": "1"}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    [line] = [ln for ln in out.stderr.splitlines() if "Selected ISA:" in ln]
    return line.rsplit(":", 1)[1].strip()


@pytest.mark.slow
def test_the_recorded_path_is_the_one_ctranslate2_reports():
    base = {k: v for k, v in os.environ.items() if k != kernels.ISA_ENV}
    assert _selected_isa(base) == kernels.cpu_isa(base)
    forced = next(i for i in kernels.supported_isas() if i != kernels.cpu_isa(base))
    assert _selected_isa({**base, kernels.ISA_ENV: forced}) == forced


@pytest.mark.slow
def test_a_run_with_a_forced_path_records_it(tmp_path):
    """In a fresh process (the path is chosen once per process), as a user runs it."""
    folder = tmp_path / "rec"
    folder.mkdir()
    shutil.copy(FIXTURES / "audio" / "en_short_call.wav", folder)
    db = tmp_path / "e.db"
    env = {k: v for k, v in os.environ.items() if k != kernels.ISA_ENV}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "transcribe", str(folder), "--db", str(db),
                          "--quiet", "--workers", "1", "--cpu-isa", "GENERIC"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (settings,) = sqlite3.connect(db).execute("select settings from runs").fetchone()
    k = json.loads(settings)["engine_settings"]["kernels"]
    assert (k["cpu_isa"], k["cpu_isa_forced"]) == ("GENERIC", True)
    assert k["cpu"] and k["ctranslate2"]
