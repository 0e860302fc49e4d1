"""The evidence browser: Datasette with our metadata, canned queries and plugin.

``metadata(db_name)`` builds the configuration for a database file;
``serve_command`` is what ``call-evidence browse`` (and ``make browse``) runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import models
from .metadata import ACCOUNT, PASSWORD_ENV, db_columns, metadata

# Datasette loads this package through the ``datasette`` entry point; the hook
# implementations live in ``plugin`` and are re-exported here so that Datasette
# also finds this package's ``templates/`` and ``static/`` folders.
from .plugin import (  # noqa: F401
    asgi_wrapper,
    extra_css_urls,
    extra_template_vars,
    prepare_connection,
    register_routes,
    render_cell,
)


def metadata_for(db_path: Path, password: bool = False) -> dict:
    """The metadata for one database file (its tables decide what the search covers)."""
    columns = db_columns(db_path)
    return metadata(db_path.stem, password=password, tables=set(columns),
                    why="method" in columns.get("findings", {"method"}),
                    tiers="tier" in columns.get("findings", {"tier"}))


def write_metadata(db_path: Path, password: bool = False) -> Path:
    """Metadata is keyed by database name (the file's stem), so it is written per file."""
    out = models.cache_root() / "browse" / f"{db_path.stem}-metadata.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metadata_for(db_path, password=password), ensure_ascii=False, indent=2))
    return out


def server_url(host: str, port: int) -> str:
    """The address to open: an IPv6 literal goes in brackets (``http://[::1]:8001/``)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def password_env(password: str) -> dict[str, str]:
    """Environment for a password-protected server (the hash, never the password)."""
    from datasette_auth_passwords.utils import hash_password

    return {PASSWORD_ENV: hash_password(password)}


def serve_command(db_path: Path, host: str = "127.0.0.1", port: int = 8001,
                  open_browser: bool = False, password: bool = False) -> list[str]:
    """The Datasette command line.  Read-only: Datasette opens the file with
    ``mode=ro`` for queries, we define no writable queries, downloads of the
    whole database file are off, and the plugin refuses every write but a
    review verdict (``auth.refuses_write``).  It runs through ``browse.serve``,
    which leaves the login plugin out when there is no password (no "Log in"
    menu without accounts)."""
    args = [sys.executable, "-m", "pipeline.browse.serve", "serve", str(db_path),
            "--host", host, "--port", str(port),
            "--metadata", str(write_metadata(db_path, password=password)),
            "--setting", "sql_time_limit_ms", "5000",
            "--setting", "allow_download", "off"]
    if open_browser:
        args.append("--open")
    return args


__all__ = ["ACCOUNT", "metadata", "metadata_for", "password_env", "serve_command", "server_url",
           "write_metadata"]
