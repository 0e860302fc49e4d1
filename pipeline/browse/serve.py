"""``python -m pipeline.browse.serve serve DB [--ce-password] ...``: Datasette's command line,
with this server's own configuration and no login plugin.

Each server builds its metadata here, in its own process, and hands it to
Datasette through a private temporary file (``mkstemp``: a new name, readable by
this user only) that is removed as soon as Datasette has read it (the plugin's
``startup`` hook), and in any case when the process ends normally.  Nothing is shared with
another server: before issue 24 the metadata was a cache file per database name,
and a second ``browse`` of another ``evidence.db`` rewrote the first one's door.

``--ce-password`` (ours, taken out before Datasette sees the arguments) asks for
the login; without the password hash in the environment the server refuses to
start.  Without it, a hash left in the environment is dropped, so a server
started without ``--password`` never half-asks for one.  The login itself is
``door.py``'s; datasette-auth-passwords is unregistered (its English login page
and its "Log in" menu entry would stand beside ours).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from .metadata import PASSWORD_ENV, metadata_for

LOGIN_PLUGIN = "auth_passwords"  # its entry-point name
PASSWORD_FLAG = "--ce-password"
# The private metadata file, for the plugin's startup hook to remove once Datasette has read
# it (uvicorn ends the process on SIGTERM by re-raising the signal: no ``finally`` runs then).
METADATA_ENV = "CALL_EVIDENCE_BROWSE_METADATA"
PREFIX = "call-evidence-browse-"


def remove_private_metadata() -> None:
    """Remove this server's private metadata file (called once Datasette has started)."""
    name = os.environ.pop(METADATA_ENV, "")
    path = Path(name)
    if name and path.name.startswith(PREFIX) and path.parent == Path(tempfile.gettempdir()):
        path.unlink(missing_ok=True)


def private_metadata(db_path: Path, password: bool) -> Path:
    """This server's metadata in a file of its own, removed when the process ends."""
    fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=".json")
    path = Path(name)
    os.environ[METADATA_ENV] = str(path)
    atexit.register(lambda: path.unlink(missing_ok=True))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(metadata_for(db_path, password=password), f, ensure_ascii=False)
    return path


def main(argv: list[str]) -> None:
    from datasette.cli import cli
    from datasette.plugins import pm

    password = PASSWORD_FLAG in argv
    argv = [a for a in argv if a != PASSWORD_FLAG]
    if password and not os.environ.get(PASSWORD_ENV):
        sys.exit(f"--password was asked for but ${PASSWORD_ENV} is empty: not starting "
                 "(the index would be open to anyone).")
    if not password:
        os.environ.pop(PASSWORD_ENV, None)
    if pm.get_plugin(LOGIN_PLUGIN) is not None:
        pm.unregister(name=LOGIN_PLUGIN)
    db = next((a for a in argv[1:] if not a.startswith("-")), None) if argv[:1] == ["serve"] \
        else None
    meta = private_metadata(Path(db), password) if db else None
    try:
        cli.main(args=argv + (["--metadata", str(meta)] if meta else []), prog_name="datasette")
    finally:
        if meta:
            with contextlib.suppress(OSError):
                meta.unlink()


if __name__ == "__main__":  # pragma: no cover - run by serve_command
    main(sys.argv[1:])
