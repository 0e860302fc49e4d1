"""How one cell of a findings list looks: a player for the sentence, the call, the
category with its rules, the words, and the review buttons.

Every piece of stored text (transcripts, file names, numbers, notes) is
untrusted and only ever passes through Markupsafe's escaping here.  A row of
the findings lists stays a few lines high: citations are short labels with the
full reference in a tooltip, not raw JSON, and only those the report shows for
the call (its jurisdiction's, verified: ``lookup.CallLaw.shown``).
"""

from __future__ import annotations

import re
from urllib.parse import quote as urlquote

from markupsafe import Markup

from .. import clips
from ..flagged import Why
from . import labels
from .metadata import BASE

MAX_CITATIONS_SHOWN = 3
REVIEW_FORM_ID = "ce-review-form"
# Datasette marks pages only the logged-in account sees with 🔒, an empty box where no emoji
# font is installed (most Linux desktops): a drawn lock with its words instead.
LOCK = Markup('<svg class="ce-lock" width="12" height="14" viewBox="0 0 12 14" role="img" '
              'aria-label="private / 仅限登录用户"><title>private / 仅限登录用户</title>'
              '<rect x="1" y="6" width="10" height="8" rx="1.5" fill="currentColor"/>'
              '<path d="M3.5 6V4a2.5 2.5 0 0 1 5 0v2" fill="none" stroke="currentColor" '
              'stroke-width="1.6"/></svg>')
ACTIONS = ("confirmed", "dismissed", "own_words", "unreviewed")
_SHA = re.compile(r"[0-9a-f]{64}")


def fmt_time(seconds: float) -> str:
    m, s = divmod(float(seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def span(start: float, end: float) -> str:
    return f"{fmt_time(start)}–{fmt_time(end)}"


def is_sha(value) -> bool:
    return isinstance(value, str) and bool(_SHA.fullmatch(value))


def player(recording_id: str, start: float, end: float,
           words: tuple[float, float] | None = None) -> Markup:
    """A player for the sentence [start, end]; ``words``: the matched words' span, shown beside it.

    The time shown is the sentence's, so one sentence has one time on every page.
    The clip plays the whole sentence, and the matched words too where they run
    past it (a finding about the first 45 s of a call spans several sentences).
    """
    heard = (start, end)
    if words is not None and words[0] is not None and words[1] is not None:
        heard = (min(start, words[0]), max(end, words[1]))
    a, b = clips.padded(*heard)  # the same padding as the report's clips
    src = f"{BASE}/clip/{recording_id}/{a:.2f}-{b:.2f}.mp3"
    words_html = Markup("")
    if words is not None and words[0] is not None and words[1] is not None and (
            abs(words[0] - start) > 0.05 or abs(words[1] - end) > 0.05):
        words_html = Markup(' <small class="ce-words" title="{t}">{w} {s}</small>').format(
            t=labels.word("matched"), w=labels.word("words"), s=span(*words))
    return Markup(
        '<span class="ce-player"><audio controls preload="none" src="{src}" data-start="{a}" '
        'data-end="{b}" title="plays {a:.1f}s–{b:.1f}s"></audio> <span class="ce-time" title="{st}">'
        '{t}</span>{w}</span>'
    ).format(src=src, a=a, b=b, t=span(start, end), st=labels.word("sentence"), w=words_html)


def whole_call_player(recording_id: str, duration: float) -> Markup:
    return Markup('<span class="ce-player"><audio controls preload="none" '
                  'src="{base}/audio/{rid}.mp3" title="the whole call"></audio> '
                  '<span class="ce-time">{t}</span></span>').format(
        base=BASE, rid=recording_id, t=fmt_time(duration))


# ---------------------------------------------------------------- citations
def citation_label(c: dict) -> str:
    """A short name for a rule: "NIFA 2018 Art. 16", "FDCPA 15 U.S.C. §1692c(c)", "民法典 Art. 1024"."""
    instrument = str(c.get("instrument") or c.get("id") or "").strip()
    short = re.search(r"\(([^()]*\d[^()]*)\)\s*$", instrument)
    name = short.group(1) if short else instrument
    if len(name) > 24:
        name = name[:22] + "…"
    # "Art. 1024 (reputation)" -> "Art. 1024"; "§1692e(4)" keeps its own brackets
    article = re.sub(r"\s+\([^()]*\)\s*$", "", str(c.get("article") or "")).strip().rstrip(",")
    return f"{name} {article}".strip()


def citation_title(c: dict) -> str:
    """The full reference, for a tooltip: both languages where the rule file has them."""
    full = [str(c[k]) for k in ("en", "zh") if c.get(k)]
    if not full:
        full = [" ".join(str(c.get(k) or "") for k in ("instrument", "article")).strip()]
    return " / ".join(full)


def citations_html(items: list[dict], jurisdiction: str | None = None) -> Markup:
    """Short labels for the citations a call shows (``lookup.CallLaw.shown``: its own
    jurisdiction's, verified, in force), the full reference in each tooltip."""
    items = [c for c in items or [] if isinstance(c, dict)]
    if not items:
        return Markup("")
    parts = [Markup('<span class="ce-cite" title="{full}">{short}</span>').format(
        full=citation_title(c), short=citation_label(c)) for c in items[:MAX_CITATIONS_SHOWN]]
    more = items[MAX_CITATIONS_SHOWN:]
    if more:
        parts.append(Markup('<span class="ce-cite" title="{full}">+{n}</span>').format(
            full="; ".join(citation_title(c) for c in more), n=len(more)))
    return Markup('<span class="ce-cites" data-jurisdiction="{j}">').format(j=jurisdiction or "") \
        + Markup(" · ").join(parts) + Markup("</span>")


# ---------------------------------------------------------------- category, words, call
def category_html(code: str, severity: str | None = None, citations: list[dict] | None = None,
                  jurisdiction: str | None = None) -> Markup:
    """The category in both languages, its severity, and the citations the call shows."""
    en, zh = labels.category_en_zh(code)
    out = Markup('<span class="ce-cat" title="{code}">{en} / {zh}</span>').format(code=code, en=en, zh=zh)
    if severity:
        out += Markup(' <span class="ce-sev ce-sev-{s}">{label}</span>').format(
            s=re.sub(r"[^a-z]", "", severity), label=labels.severity(severity))
    if citations:
        cites = citations_html(citations, jurisdiction)
        if cites:
            out += Markup("<br>") + cites
    return out


def why_html(w: Why, category: str) -> Markup:
    """Why a finding was flagged, for a row of a list: a short marker ("found by meaning /
    语义发现 0.96", "rule / 规则", "by sound / 按读音"), the full explanation in both
    languages in its tooltip (the finding's page says it in full, with the pattern)."""
    en, zh = labels.why(w, category, pattern="short")
    b_en, b_zh, score = labels.why_badge(w)
    return Markup('<span class="ce-why ce-why-{k}" data-method="{m}" title="{t}"><span>{b_en} /</span> '
                  '<span>{b_zh}{score}</span></span>').format(
        k=re.sub(r"[^a-z]+", "-", w.kind), m=w.method or "", t=f"{en}\n{zh}", b_en=b_en, b_zh=b_zh,
        score=f" {score}" if score else "")


def quote_html(quote: str, matched: str | None = None, speaker: str | None = None) -> Markup:
    """The words, with the matched ones marked (first occurrence, any case)."""
    text = str(quote)
    i = text.lower().find(matched.lower()) if matched else -1
    if i >= 0:
        out = Markup("{a}<mark>{m}</mark>{b}").format(a=text[:i], m=text[i:i + len(matched)],
                                                      b=text[i + len(matched):])
    else:
        out = Markup("{t}").format(t=text)
    if speaker:
        out += Markup(' <small class="ce-speaker">({s})</small>').format(s=speaker)
    return Markup('<span class="ce-quote">') + out + Markup("</span>")


def number_html(db: str, number: str | None) -> Markup:
    if not number or not str(number).strip():
        return Markup('<span class="ce-unknown">{u}</span>').format(u=labels.word("number_unknown"))
    return Markup('<a href="/{db}/findings_for_number?phone_number={q}">{v}</a>').format(
        db=urlquote(db), q=urlquote(str(number)), v=number)


def when(iso: str | None) -> str:
    """A stored local time as a person reads it: "2026-11-05 07:45" (or "date unknown")."""
    return str(iso).replace("T", " ")[:16] if iso else labels.word("date_unknown")


def call_html(db: str, recording_id: str | None, call_time: str | None, number: str | None,
              file_name: str | None, contact: str | None = None,
              direction: str | None = None) -> Markup:
    """When and from whom: the call's time (or "date unknown") and number, linked onward,
    with the name the phone saved and which way the call went when the recorder said."""
    if is_sha(recording_id):
        first = Markup('<a href="/{db}/recordings/{rid}" title="{f}">{w}</a>').format(
            db=urlquote(db), rid=recording_id, f=file_name or "", w=when(call_time))
    else:
        first = Markup("{w}").format(w=when(call_time))
    who = number_html(db, number)
    if contact:
        who += Markup(' <span class="ce-contact">{c}</span>').format(c=contact)
    if direction in ("incoming", "outgoing"):
        who += Markup(' <small class="ce-direction ce-{d}">{w}</small>').format(
            d=direction, w=labels.word(direction))
    return Markup('<span class="ce-call">') + first + Markup("<br>") + who + Markup("</span>")


# ---------------------------------------------------------------- review
def review_html(finding_id: int | str, status: str | None, token: str,
                note: str | None = None) -> Markup:
    """Status, an optional note and the buttons, for one row of a list (two lines high).

    The inputs belong to the page's one review form (``form=`` attribute), which
    carries the CSRF token; ``token`` is the signed, single-use form token.
    ``finding_id``: a call finding's id, or ``m<id>`` for a text message's.
    """
    status = status or "unreviewed"
    fid = finding_id if isinstance(finding_id, str) and re.fullmatch(r"m\d+", finding_id) \
        else int(finding_id)
    head = Markup('<div class="ce-review" id="finding-{fid}"><div class="ce-review-head">'
                  '<span class="ce-status ce-status-{s}">{label}</span>').format(
        fid=fid, s=status, label=labels.status(status))
    if note:
        head += Markup(' <small class="ce-note" title="{n}">“{short}”</small>').format(
            n=note, short=note if len(note) <= 40 else note[:38] + "…")
    head += Markup(
        '<input type="hidden" form="{f}" name="token-{fid}" value="{t}">'
        '<input class="ce-note-input" type="text" form="{f}" name="note-{fid}" maxlength="2000" '
        'placeholder="{ph}" aria-label="{ph}"></div>').format(f=REVIEW_FORM_ID, fid=fid, t=token,
                                                              ph=labels.word("note_short"))
    buttons = []
    for action in ACTIONS:
        if action == status or (action == "own_words" and status == "dismissed"):
            continue
        buttons.append(Markup('<button type="submit" class="ce-btn ce-btn-{a}" form="{f}" '
                              'name="verdict" value="{fid}:{a}" title="{full}">{label}</button>').format(
            a=action, f=REVIEW_FORM_ID, fid=fid, full=labels.button(action),
            label=labels.button(action, short=True)))
    return head + Markup('<div class="ce-buttons">') + Markup("").join(buttons) \
        + Markup("</div></div>")
