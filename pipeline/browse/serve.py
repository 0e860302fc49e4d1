"""``python -m pipeline.browse.serve serve DB ...``: Datasette's command line, minus the login
plugin when no password is set.

datasette-auth-passwords puts "Log in" in every page's menu, even when it has no
accounts (the index was started without ``--password``): a borrower would click
it and get "This instance does not have any configured accounts".  With no
password hash in the environment it is unregistered before Datasette starts.
"""

from __future__ import annotations

import os
import sys

from .metadata import PASSWORD_ENV

LOGIN_PLUGIN = "auth_passwords"  # its entry-point name


def main(argv: list[str]) -> None:
    from datasette.cli import cli
    from datasette.plugins import pm

    if not os.environ.get(PASSWORD_ENV) and pm.get_plugin(LOGIN_PLUGIN) is not None:
        pm.unregister(name=LOGIN_PLUGIN)
    cli.main(args=argv, prog_name="datasette")


if __name__ == "__main__":  # pragma: no cover - run by serve_command
    main(sys.argv[1:])
