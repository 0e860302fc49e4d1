"""The evidence browser: Datasette with our metadata, canned queries and plugin.

``metadata(db_name)`` builds the configuration for a database file;
``serve_command`` is what ``call-evidence browse`` (and ``make browse``) runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import models
from .metadata import metadata


def write_metadata(db_path: Path) -> Path:
    """Metadata is keyed by database name (the file's stem), so it is written per file."""
    out = models.cache_root() / "browse" / f"{db_path.stem}-metadata.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metadata(db_path.stem), ensure_ascii=False, indent=2))
    return out


def serve_command(db_path: Path, host: str = "127.0.0.1", port: int = 8001,
                  open_browser: bool = False) -> list[str]:
    args = [sys.executable, "-m", "datasette", "serve", str(db_path),
            "--host", host, "--port", str(port), "--metadata", str(write_metadata(db_path)),
            "--setting", "sql_time_limit_ms", "5000",
            "--setting", "allow_download", "off"]
    if open_browser:
        args.append("--open")
    return args


__all__ = ["metadata", "serve_command", "write_metadata"]
