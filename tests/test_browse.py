"""Datasette (its test client) on the database the real pipeline produced."""

import asyncio

import pytest
from datasette.app import Datasette

from pipeline.browse import metadata, serve_command

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ds(e2e):
    return Datasette([str(e2e.db)], metadata=metadata(e2e.db.stem))


def get(ds, path):
    return asyncio.run(ds.client.get(path))


def test_findings_table_lists_a_finding(ds, e2e):
    r = get(ds, f"/{e2e.db.stem}/findings.json?_shape=array&category=visit_shaming")
    assert r.status_code == 200
    rows = r.json()
    assert any(row["matched_text"] == "上门" for row in rows)
    page = get(ds, f"/{e2e.db.stem}/findings")
    assert page.status_code == 200 and "Findings" in page.text


def test_search_finds_a_two_character_chinese_word(ds, e2e):
    r = get(ds, f"/{e2e.db.stem}/search.json?_shape=array&q=老赖")
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 1 and "老赖" in rows[0]["text"]
    assert get(ds, f"/{e2e.db.stem}/search.json?_shape=array&q=上门").json()
    assert get(ds, f"/{e2e.db.stem}/search.json?_shape=array&q=employer").json()
    assert get(ds, f"/{e2e.db.stem}/search.json?_shape=array&q=火箭").json() == []


def test_findings_for_number_query(ds, e2e):
    r = get(ds, f"/{e2e.db.stem}/findings_for_number.json?_shape=array&phone_number=13812345678")
    cats = {row["category"] for row in r.json()}
    assert cats == {"visit_shaming", "third_party"}


def test_serve_binds_localhost_by_default(e2e):
    args = serve_command(e2e.db)
    assert args[args.index("--host") + 1] == "127.0.0.1"
