"""Datasette plugin (registered through the ``datasette`` entry point).

It adds the SQL functions the canned queries need so that full-text search
works for Chinese: ``ce_fts_query(q)`` turns typed text into a phrase query
over the one-token-per-character index (see ``textnorm.search_index_text``).
"""

from __future__ import annotations

from datasette import hookimpl

from ..textnorm import search_index_text, search_query


@hookimpl
def prepare_connection(conn):
    conn.create_function("ce_fts_query", 1, lambda q: search_query(q or ""), deterministic=True)
    conn.create_function("ce_index_text", 1, lambda t: search_index_text(t or ""),
                         deterministic=True)
