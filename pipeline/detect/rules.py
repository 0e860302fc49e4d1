"""Load and compile rule packs from YAML.

Rules are data so that a caseworker can add a phrase without touching code;
this module turns the small pattern language described at the top of
``pipeline/data/rules/`` into compiled regular expressions, and fails
loudly (naming the rule) when a pattern is invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from ..textnorm import has_cjk, sound_key

CLAUSE_BREAK = "，。！？；：,!?;:\n、"
DEFAULT_GAP = 10
_LEX_REF = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class RuleError(ValueError):
    """A rule file is malformed; the message names the file and rule."""


@dataclass
class Rule:
    id: str
    category: str
    severity: str
    language: str | None
    patterns: list[re.Pattern]
    citations: list[dict]
    negations: list[str] = field(default_factory=list)
    skip_questions: bool = True
    note: str | None = None
    sound_patterns: list[re.Pattern] = field(default_factory=list)  # homophone-tolerant copies
    unless: list[re.Pattern] = field(default_factory=list)  # context that cancels a match
    use_negations: bool = True
    sources: list[str] = field(default_factory=list)  # each pattern as written in the rule file
    sound_sources: list[str] = field(default_factory=list)  # the same, for sound_patterns


@dataclass
class RulePack:
    rules: list[Rule]
    categories: dict[str, dict]
    negations: list[str]
    reported_speech: list[str]
    sources: list[str]
    sound_exclusions: list[str] = field(default_factory=list)
    rhetorical: list[str] = field(default_factory=list)
    citations: dict[str, dict] = field(default_factory=dict)  # id -> entry (report labels, verified)


def default_rules_path() -> Path:
    return Path(str(resources.files("pipeline") / "data" / "rules"))


def _yaml_files(folder: Path) -> list[Path]:
    """A folder's rule files: common.yaml first (it defines categories), then by name."""
    files = sorted(folder.glob("*.y*ml"))
    return sorted(files, key=lambda f: (f.stem != "common", f.name))


def _expand(pattern: str, lexicons: dict[str, list[str]], gap: int, where: str) -> str:
    def lex(m: re.Match) -> str:
        name = m.group(1)
        if name not in lexicons:
            raise RuleError(f"{where}: unknown lexicon {{{name}}}")
        return "(?:" + "|".join(lexicons[name]) + ")"

    out = _LEX_REF.sub(lex, pattern)
    return out.replace("~", f"[^{re.escape(CLAUSE_BREAK)}]{{0,{gap}}}?")


def _load_docs(paths: list[Path]) -> list[tuple[Path, dict]]:
    docs = []
    for p in paths:
        files = _yaml_files(p) if p.is_dir() else [p]
        for f in files:
            try:
                doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as e:
                raise RuleError(f"{f}: not valid YAML: {e}") from e
            if not isinstance(doc, dict):
                raise RuleError(f"{f}: expected a mapping at the top level")
            docs.append((f, doc))
    return docs


def load_rules(paths: list[Path] | None = None, include_default: bool = True) -> RulePack:
    """Load the bundled pack plus any extra files or folders given.

    Later files may add lexicon entries, citations, categories and rules; a
    rule with an id that already exists replaces the earlier one, so a local
    file can tighten or loosen a bundled rule.
    """
    all_paths = ([default_rules_path()] if include_default else []) + list(paths or [])
    docs = _load_docs(all_paths)
    lexicons: dict[str, list[str]] = {}
    citations: dict[str, dict] = {}
    categories: dict[str, dict] = {}
    negations: list[str] = []
    reported: list[str] = []
    sound_exclusions: list[str] = []
    rhetorical: list[str] = []
    raw_rules: dict[str, tuple[Path, dict]] = {}
    for f, doc in docs:
        for name, words in (doc.get("lexicons") or {}).items():
            lexicons.setdefault(name, [])
            lexicons[name] += [str(w) for w in words if str(w) not in lexicons[name]]
        citations.update(doc.get("citations") or {})
        categories.update(doc.get("categories") or {})
        negations += [str(n) for n in doc.get("negations") or []]
        reported += [str(n) for n in doc.get("reported_speech") or []]
        sound_exclusions += [str(n) for n in doc.get("sound_exclusions") or []]
        rhetorical += [str(n) for n in doc.get("rhetorical") or []]
        for r in doc.get("rules") or []:
            if not isinstance(r, dict) or "id" not in r:
                raise RuleError(f"{f}: every rule needs an id")
            raw_rules[str(r["id"])] = (f, r)
    rules = []
    for rid, (f, r) in raw_rules.items():
        where = f"{f.name}: rule {rid}"
        for key in ("category", "patterns"):
            if key not in r:
                raise RuleError(f"{where}: missing {key!r}")
        if r["category"] not in categories:
            raise RuleError(f"{where}: unknown category {r['category']!r}")
        gap = int(r.get("gap", DEFAULT_GAP))
        compiled, sounds, sound_sources = [], [], []
        for pat in r["patterns"]:
            expanded = _expand(str(pat), lexicons, gap, where)
            try:
                compiled.append(re.compile(expanded, re.IGNORECASE))
                if r.get("homophones", True) and has_cjk(expanded):
                    sounds.append(re.compile(sound_key(expanded), re.IGNORECASE))
                    sound_sources.append(str(pat))
            except re.error as e:
                raise RuleError(f"{where}: bad pattern {pat!r}: {e}") from e
        unless = []
        for pat in r.get("unless") or []:
            try:
                unless.append(re.compile(_expand(str(pat), lexicons, gap, where), re.IGNORECASE))
            except re.error as e:
                raise RuleError(f"{where}: bad 'unless' pattern {pat!r}: {e}") from e
        cites = []
        for c in r.get("citations") or []:
            if isinstance(c, dict):
                cites.append(c)
            elif c in citations:
                cites.append({"id": c, **citations[c]})
            else:
                raise RuleError(f"{where}: unknown citation {c!r}")
        rules.append(Rule(
            id=rid,
            category=r["category"],
            severity=str(r.get("severity", "medium")),
            language=r.get("language"),
            patterns=compiled,
            citations=cites,
            negations=[str(n) for n in r.get("negations") or []],
            skip_questions=bool(r.get("skip_questions", True)),
            note=r.get("note"),
            sound_patterns=sounds,
            unless=unless,
            use_negations=bool(r.get("use_negations", True)),
            sources=[str(p) for p in r["patterns"]],
            sound_sources=sound_sources,
        ))
    return RulePack(rules, categories, negations, reported, [str(p) for p in all_paths],
                    sound_exclusions, rhetorical,
                    {cid: {"id": cid, **entry} for cid, entry in citations.items()})
