"""Chain of custody for an evidence package: every file's sha256, the originals'
hashes, and the tool, model and settings that made the transcripts.

Two forms of the same list: ``manifest.json`` (for people and programs) and
``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` checks the whole package with a
standard tool, no call-evidence needed).
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..hashing import sha256_file

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
HOW_TO_VERIFY = "HOW-TO-VERIFY.txt"

VERIFY_TEXT = """How to check this evidence package / 如何核验本证据包
=====================================================

1. Every file in this folder is listed with its SHA-256 hash in SHA256SUMS and
   manifest.json. On Linux or macOS run, inside this folder:
       sha256sum -c SHA256SUMS        (macOS: shasum -a 256 -c SHA256SUMS)
   On Windows (PowerShell):  Get-FileHash -Algorithm SHA256 <file>
   Every line must say OK. A changed file gives a different hash.
   本文件夹中每个文件的 SHA-256 值列在 SHA256SUMS 和 manifest.json 中。
   在本文件夹中运行 `sha256sum -c SHA256SUMS`，每行都应显示 OK；文件被改动则校验值不同。

2. The original recordings: manifest.json lists the SHA-256 of each original
   recording ("originals"). Hash the recording on the phone or recorder it came
   from (the original carrier); the value must equal the one listed. The copies
   in originals/ were checked against these hashes when the package was made.
   原始录音：manifest.json 的 "originals" 列出每个原始录音的 SHA-256。请对手机或
   录音设备（原始载体）上的原文件计算 SHA-256，应与所列值一致。originals/ 中的副本
   在生成证据包时已与该值核对。

3. Transcripts and findings were made by software (speech recognition and
   phrase rules; tool and model versions in manifest.json). They can contain
   errors. The recording itself is the evidence: listen to it.
   转写文本和标注由软件自动生成（语音识别和规则匹配，版本见 manifest.json），可能有误；
   证据以录音本身为准，请核听原始录音。
"""


def file_entries(root: Path, skip: set[str]) -> list[dict]:
    """Every file under ``root`` (relative path, size, sha256), sorted, except ``skip``."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in skip:
            out.append({"path": rel, "size": p.stat().st_size, "sha256": sha256_file(p)})
    return out


def write(root: Path, *, originals: list[dict], runs: list[dict], scope: dict,
          settings: dict, notes: list[str], reviews: list[dict] | None = None,
          clips: list[dict] | None = None, findings: list[dict] | None = None,
          detection_runs: list[dict] | None = None, messages: list[dict] | None = None,
          complainant: str | None = None, created_at: str | None = None) -> dict:
    """Write HOW-TO-VERIFY.txt, manifest.json and SHA256SUMS into ``root``; returns the manifest.

    ``reviews``: every person's verdict on a finding in scope, with its note (dismissed
    ones too, so the recipient sees what was left out and why).  ``clips``: each clip's
    span in its recording, the sentence it plays and the matched words in it.
    ``findings``: each finding in the report with why it was flagged (method, the rule's
    pattern, the meaning score); ``detection_runs``: the runs that made them, each with
    its detection line (rules and the meaning layer, or rules only and why).
    ``messages``: the text messages in the report with their findings.  ``complainant``:
    who complains (as given to ``report --complainant``); ``created_at``: the time the
    report itself prints (one instant for the package, not two clocks read apart).
    """
    (root / HOW_TO_VERIFY).write_text(VERIFY_TEXT, encoding="utf-8")
    files = file_entries(root, skip={MANIFEST, SUMS})
    manifest = {
        "format": "call-evidence package 1",
        "created_at": created_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "complainant": complainant,
        "generated_by": {"tool": "call-evidence", "version": __version__,
                         "python": platform.python_version(), "platform": platform.platform()},
        "scope": scope,
        "report_settings": settings,
        "originals": originals,
        "transcription_runs": runs,
        "detection_runs": detection_runs or [],
        "findings": findings or [],
        "reviews": reviews or [],
        "messages": messages or [],
        "clips": clips or [],
        "files": files,
        "notes": notes,
        "how_to_verify": HOW_TO_VERIFY,
        "disclaimer": "Findings are possible violations for human review, not legal conclusions. "
                      "发现项仅为可能的违规线索，需人工核实，不构成法律结论。",
    }
    (root / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                 encoding="utf-8")
    lines = [f"{f['sha256']}  {f['path']}" for f in files]
    lines.append(f"{sha256_file(root / MANIFEST)}  {MANIFEST}")
    (root / SUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def check(root: Path) -> list[str]:
    """Problems found re-hashing a package against its SHA256SUMS (empty: all good)."""
    problems = []
    for line in (root / SUMS).read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        p = root / rel
        if not p.is_file():
            problems.append(f"missing: {rel}")
        elif sha256_file(p) != digest:
            problems.append(f"changed: {rel}")
    return problems
