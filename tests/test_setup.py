"""A quiet first install that does not stop on the optional system packages.

``make setup`` runs before every target (``make transcribe`` too).  The system
packages (Chromium, a CJK font, pdftotext, ffmpeg) serve the browser tests and
Chinese text in screenshots and PDFs; transcription needs none of them (its ffmpeg
comes from imageio-ffmpeg).  So when they cannot be installed (no apt-get, not
root, apt-get failing because another apt holds the dpkg lock) setup must say so
in one line and succeed, while ``make system-deps`` and ``make check-system-deps``
(what CI runs) must still fail.

These run the real Makefile recipes with real ``make`` and ``/bin/sh``, in a copy
of the project whose ``.venv`` counts as built (so nothing is installed); only
``dpkg``, ``apt-get`` and ``id`` are stand-ins on ``PATH``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
PACKAGES = "ffmpeg fonts-noto-cjk chromium poppler-utils"
LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)"

pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make")


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _project(tmp_path: Path) -> Path:
    """The Makefile in a folder whose .venv is up to date, so setup installs nothing."""
    project = tmp_path / "project"
    (project / ".venv").mkdir(parents=True)
    shutil.copy(REPO / "Makefile", project / "Makefile")
    shutil.copy(REPO / "pyproject.toml", project / "pyproject.toml")
    stamp = project / ".venv" / ".installed"
    stamp.touch()
    old = time.time() - 60
    os.utime(project / "pyproject.toml", (old, old))
    return project


def _bin(tmp_path: Path, *, uid: int, installed: bool, apt: str | None) -> Path:
    """Stand-ins: dpkg (every package installed, or none), id -u, and apt-get (or none)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    missing = 'echo "dpkg-query: package \'$2\' is not installed" >&2; exit 1'
    _script(fake, "dpkg", "exit 0" if installed else missing)
    _script(fake, "id", f'[ "$1" = -u ] && echo {uid} && exit 0; exec /usr/bin/id "$@"')
    if apt is not None:
        _script(fake, "apt-get", apt)
    return fake


def _make(project: Path, fake: Path, target: str, own_path_only: bool = False):
    # own_path_only: PATH is the stand-ins alone, so apt-get is not found anywhere
    path = str(fake) if own_path_only else f"{fake}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path}
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # when the suite itself runs under make
        env.pop(var, None)
    return subprocess.run([MAKE, "--no-print-directory", target], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)


def _one_notice(r: subprocess.CompletedProcess, why: str) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    lines = (r.stdout + r.stderr).splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"note: system packages not installed: {PACKAGES} ({why}"), line
    assert "browser tests" in line and "screenshots/PDFs" in line and "transcription does not" in line
    assert "sudo make system-deps" in line
    return line


def test_setup_goes_on_when_apt_get_cannot_get_the_dpkg_lock(tmp_path):
    project = _project(tmp_path)
    fake = _bin(tmp_path, uid=0, installed=False, apt=f'echo "{LOCKED}" >&2; exit 100')
    r = _make(project, fake, "setup")
    _one_notice(r, "apt-get failed, see .venv/system-deps.log")
    assert LOCKED in (project / ".venv" / "system-deps.log").read_text()


def test_setup_goes_on_without_apt_get(tmp_path):
    project = _project(tmp_path)
    fake = _bin(tmp_path, uid=0, installed=False, apt=None)
    r = _make(project, fake, "setup", own_path_only=True)
    _one_notice(r, "installing them needs root and apt-get")


def test_setup_does_not_try_apt_get_when_not_root(tmp_path):
    project = _project(tmp_path)
    called = tmp_path / "apt-get-was-called"
    fake = _bin(tmp_path, uid=1000, installed=False, apt=f'touch "{called}"; exit 100')
    r = _make(project, fake, "setup")
    _one_notice(r, "installing them needs root and apt-get")
    assert not called.exists()


def test_setup_installs_them_when_it_can_and_says_nothing(tmp_path):
    project = _project(tmp_path)
    calls = tmp_path / "apt-get-calls"
    fake = _bin(tmp_path, uid=0, installed=False, apt=f'echo "$@" >> "{calls}"')
    r = _make(project, fake, "setup")
    assert (r.returncode, r.stdout + r.stderr) == (0, "")
    assert calls.read_text().splitlines()[-1].endswith(f"--no-install-recommends {PACKAGES}")


def test_setup_is_silent_when_everything_is_installed(tmp_path):
    project = _project(tmp_path)
    fake = _bin(tmp_path, uid=0, installed=True, apt='echo "apt-get must not run" >&2; exit 100')
    r = _make(project, fake, "setup")
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


def test_the_ci_targets_stay_strict(tmp_path):
    """CI installs the packages with system-deps and checks them: both fail loudly."""
    project = _project(tmp_path)
    fake = _bin(tmp_path, uid=0, installed=False, apt=f'echo "{LOCKED}" >&2; exit 100')
    r = _make(project, fake, "system-deps")
    assert r.returncode != 0 and LOCKED in r.stderr
    r = _make(project, fake, "check-system-deps")
    assert r.returncode != 0 and f"system packages missing: {PACKAGES}" in r.stderr
    ci = (REPO / ".ci" / "run").read_text()
    assert "make system-deps" in ci and ci.index("make check-system-deps") < ci.index("make test")


# ------------------------------------------------------------------ package metadata
def _package_copy(tmp_path: Path, pyproject: str) -> Path:
    """What setuptools builds from: the package, README and the given pyproject.toml."""
    project = tmp_path / "src"
    shutil.copytree(REPO / "pipeline", project / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "README.md", project / "README.md")
    (project / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    return project


def _metadata_build(tmp_path: Path, pyproject: str) -> subprocess.CompletedProcess:
    """setuptools' own metadata build of a copy of the project: offline, no build isolation."""
    project = _package_copy(tmp_path, pyproject)
    code = ("import sys; from setuptools import build_meta as b; "
            "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))")
    (tmp_path / "meta").mkdir()
    return subprocess.run([sys.executable, "-W", "default", "-c", code, str(tmp_path / "meta")],
                          cwd=project, capture_output=True, text=True, timeout=120)


def test_building_the_package_prints_no_deprecation_warning(tmp_path):
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    floor = re.search(r'requires = \["setuptools>=(\d+)', pyproject)
    assert floor and int(floor.group(1)) >= 77  # the first setuptools that knows SPDX strings
    r = _metadata_build(tmp_path / "now", pyproject)
    assert r.returncode == 0, r.stderr
    assert "deprecat" not in r.stderr.lower(), r.stderr
    meta = (tmp_path / "now" / "meta" / r.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in meta.splitlines()


def test_the_warning_check_sees_the_old_licence_table(tmp_path):
    """The check above would catch the table form: the same build prints the warning."""
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    old = pyproject.replace('license = "Apache-2.0"', 'license = { text = "Apache-2.0" }')
    assert old != pyproject
    r = _metadata_build(tmp_path / "old", old)
    assert r.returncode == 0, r.stderr
    assert "`project.license` as a TOML table is deprecated" in r.stderr


# ------------------------------------------------------------------ editable install
def _quiet_editable_filter() -> str:
    """The warning filter the Makefile gives ``pip install -e`` (its QUIET_EDITABLE)."""
    m = re.search(r"^QUIET_EDITABLE = (.+)$", (REPO / "Makefile").read_text(encoding="utf-8"), re.M)
    assert m, "Makefile lost QUIET_EDITABLE"
    return m.group(1).strip()


def _editable_build(tmp_path: Path, warnings_filter: str | None) -> subprocess.CompletedProcess:
    """setuptools' editable wheel build of a copy of the project (what ``pip install -e``
    runs), offline, with the given PYTHONWARNINGS."""
    project = _package_copy(tmp_path, (REPO / "pyproject.toml").read_text(encoding="utf-8"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    if warnings_filter:
        env["PYTHONWARNINGS"] = warnings_filter
    code = ("import sys; from setuptools import build_meta as b; "
            "print(b.build_editable(sys.argv[1]))")
    (tmp_path / "wheel").mkdir()
    return subprocess.run([sys.executable, "-c", code, str(tmp_path / "wheel")], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_editable_install_prints_no_boxed_setuptools_note(tmp_path):
    r = _editable_build(tmp_path, _quiet_editable_filter())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].endswith(".whl")
    assert "Warning" not in r.stderr and "!!" not in r.stderr, r.stderr


def test_without_the_filter_the_editable_build_prints_the_note(tmp_path):
    """So the check above can fail: the same build, unfiltered, prints setuptools' box."""
    r = _editable_build(tmp_path, None)
    assert r.returncode == 0, r.stderr
    assert "Editable installation" in r.stderr
