"""Real ``browse`` servers for tests: ``call-evidence browse``'s own command, started as a
process on a free port (shared by the browser and door tests)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from pipeline.browse import password_env, serve_command

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str | None:
    return next((p for p in (os.environ.get("CE_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(db: Path, cache: Path, password: str | None = None):
    """``call-evidence browse``'s own Datasette command on ``db``; yields its address."""
    port = free_port()
    env = {**os.environ, "CALL_EVIDENCE_CACHE": str(cache)}
    env.pop("CALL_EVIDENCE_PASSWORD_HASH", None)
    if password:
        env.update(password_env(password))
    proc = subprocess.Popen(serve_command(db, port=port, password=bool(password)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/-/versions.json", timeout=1)
            break
        except urllib.error.HTTPError:  # 403 under --password: it is up
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode()) from None
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(proc.stdout.read().decode())
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
