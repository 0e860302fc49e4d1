"""Embed a CJK font (subset to the characters used) in the report.

A report opened on a machine without a Chinese font shows empty boxes, and a
PDF renderer without one prints them.  So the report carries its own font:
Noto Sans CJK SC (or WenQuanYi Micro Hei) cut down with fontTools to the
characters the report uses (tens of KB instead of 16 MB), as a data: URL.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

# Searched in order; (path, index of the Simplified Chinese face in a .ttc collection).
CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf", 0),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
]
FAMILY = "CE Report CJK"


@dataclass
class EmbeddedFont:
    css: str  # an @font-face rule, or "" when no font could be embedded
    source: str | None  # the font file used
    note: str  # for the manifest: what was embedded, or why nothing was


def find_font() -> tuple[Path, int] | None:
    for path, index in CANDIDATES:
        if Path(path).is_file():
            return Path(path), index
    return None


def to_truetype(font) -> None:
    """CFF (PostScript) outlines -> TrueType outlines, in place.

    Chromium prints a web font with CFF outlines into the PDF as Type 3 glyph
    procedures, which some readers render poorly and some tools cannot search;
    with TrueType outlines it embeds a real CID font (pdffonts: "CID TrueType").
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    font["glyf"], font["loca"] = glyf, newTable("loca")
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for field in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs",
                  "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions",
                  "maxComponentElements"):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    font["maxp"] = maxp
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0
    font.sfntVersion = "\x00\x01\x00\x00"


def embed(text: str) -> EmbeddedFont:
    """An @font-face rule with a subset of the system CJK font covering ``text``."""
    found = find_font()
    if found is None:
        return EmbeddedFont("", None, "no CJK font found on this machine (install fonts-noto-cjk); "
                            "the report names common CJK fonts and relies on the reader's")
    path, index = found
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont
    except ImportError:
        return EmbeddedFont("", str(path), "fontTools is not installed; no font embedded")
    font = TTFont(str(path), fontNumber=index, lazy=False)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    chars = {ord(c) for c in text if not c.isspace()} | set(range(0x20, 0x7F))
    subsetter.populate(unicodes=sorted(chars))
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    if font.sfntVersion == "OTTO":  # re-read the saved subset, then convert its outlines
        font = TTFont(io.BytesIO(buf.getvalue()))
        to_truetype(font)
        buf = io.BytesIO()
        font.save(buf)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    css = (f"@font-face{{font-family:'{FAMILY}';src:url(data:font/ttf;base64,{data}) "
           "format('truetype');}")
    return EmbeddedFont(css, str(path), f"{path.name} (face {index}), subset to "
                        f"{len(chars)} characters, {len(buf.getvalue()) // 1024} KB, embedded")
