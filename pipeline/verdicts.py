"""Which stored verdict applies to which finding: pure functions over rows, shared by the
store (which applies the status), the report (which prints note and reviewer) and the
browser (which shows them and exports them), so all three agree.

``finding_reviews`` is an append-only history (issue 24): every verdict, and every reset,
is a new row; the newest row of a finding (same recording, rule and time) counts.
"""

from __future__ import annotations

# A verdict still applies to a rebuilt finding of the same recording and rule
# (or, after a rule was renamed, the same category) whose start moved by at
# most this much (a re-transcription with another model shifts times a little).
REVIEW_TIME_TOLERANCE_S = 2.0


def pair_reviews(reviews: list[tuple], findings: list[tuple]) -> dict[int, int]:
    """Which stored verdict belongs to which finding of one recording: {finding id: review id}.

    ``reviews``: (id, rule_id, category, start, ...) newest first; ``findings``:
    (id, rule_id, category, start).  Each verdict goes to at most one finding and
    each finding takes at most one verdict: pairs of the same rule (else the same
    category) are matched closest start first, up to ``REVIEW_TIME_TOLERANCE_S``
    apart.  A verdict whose finding is gone stays stored and matches again if the
    finding comes back.  Pure (``verdict_rows`` takes it to the rows), so the
    browser shows a finding's note and reviewer with the pairing the store applies.
    """
    pairs = []
    for order, (rid, r_rule, r_cat, r_start, *_rest) in enumerate(reviews):
        for fid, rule_id, category, start in findings:
            gap = abs((r_start if r_start is not None else -1) - (start if start is not None else -1))
            if gap <= REVIEW_TIME_TOLERANCE_S and (r_rule == rule_id or r_cat == category):
                pairs.append(((r_rule != rule_id, round(gap, 3), order), rid, fid))
    matched: dict[int, int] = {}
    used: set[int] = set()
    for _rank, rid, fid in sorted(pairs):
        if rid not in used and fid not in matched:
            used.add(rid)
            matched[fid] = rid
    return matched


def verdict_rows(reviews: list[dict], findings: list[tuple]) -> dict[int, dict]:
    """{finding id: the verdict row that applies to it} for one recording.

    ``reviews``: its ``finding_reviews`` rows (all the history) as dicts, newest first;
    ``findings``: (id, rule_id, category, start).  The store (``Store.review_matches``) and the
    browser's finding page (which reads through Datasette, not a ``Store``) both
    come here, so what they show is what the store applied.
    """
    latest: list[dict] = []  # the history's newest entry per finding (same rule and time)
    for r in reviews:
        if not any(k["rule_id"] == r["rule_id"] and abs((k["start"] if k["start"] is not None
                   else -1) - (r["start"] if r["start"] is not None else -1)) < 0.01 for k in latest):
            latest.append(r)
    reviews = latest
    by_id = {r["id"]: r for r in reviews}
    paired = pair_reviews([(r["id"], r["rule_id"], r["category"], r["start"]) for r in reviews],
                          findings)
    return {fid: by_id[rid] for fid, rid in paired.items()}
