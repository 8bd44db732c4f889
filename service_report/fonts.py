"""The report's font: Noto Sans CJK SC, subset to the characters a report uses and embedded.

A report prints Chinese (customer, site, diagnosis, remarks, the signer's name)
as often as Latin text, so every line is set in one font that covers both:
Noto Sans CJK SC Regular (SIL Open Font License 1.1, which allows embedding),
installed from PyPI by the ``noto-cjk-sans-otc`` package, so a machine with no
system CJK fonts renders the same report.

That font has CFF (PostScript) outlines, and reportlab embeds TrueType
(``glyf``) outlines only.  So, per report, fontTools subsets the collection's
Simplified Chinese face to the characters the report draws (a few hundred
glyphs, not 65,000) and converts those glyphs' cubic curves to quadratic ones
(``cu2qu``, within 1 font unit); reportlab then embeds that small TrueType font
as a subset.  The work is cached per character set, and it is deterministic,
so the same report content gives the same bytes.  A process keeps the
last 64 subsets it made.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import threading
from collections import OrderedDict
from typing import Final

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont, newTable
from noto_cjk_sans_otc import FONT_PATH
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont as ReportlabTTFont  # type: ignore[import-untyped]

#: fontTools' subsetter reports each table it prunes at INFO: a dozen lines per report in the server's log
_SUBSET_LOG: Final = logging.getLogger("fontTools.subset")

#: the face of the collection that is Simplified Chinese (JP, KR, SC, TC, HK ... in Noto's order)
SC_FACE: Final = "Noto Sans CJK SC"
#: drawn by every report whatever its text (digits, Latin letters, punctuation), so small reports share a subset
BASE_CHARS: Final = "".join(chr(c) for c in range(0x20, 0x7F)) + "·–—‘’“”…¥€£°±×÷µ²³，。、：；！？（）《》【】—…"
#: the largest cubic-to-quadratic error, in font units (of 1000 per em): invisible at any print size
_MAX_ERR: Final = 1.0


class FontUnavailable(RuntimeError):
    """The CJK font package is not installed (``pip install noto-cjk-sans-otc``)."""


def _face_index() -> int:
    with FONT_PATH.open("rb") as fh:
        coll = TTCollection(fh, lazy=True)
        for i, face in enumerate(coll.fonts):
            if face["name"].getDebugName(1) == SC_FACE:
                return i
    raise FontUnavailable(f"{SC_FACE} is not in {FONT_PATH}")


@functools.lru_cache(maxsize=1)
def _sc_face() -> int:
    return _face_index()


def _to_truetype(font: TTFont) -> None:
    """Replace the CFF outlines of ``font`` by TrueType ones (quadratic curves), in place."""
    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, _MAX_ERR, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                 "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    font["head"].indexToLocFormat = 0
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    font.sfntVersion = "\x00\x01\x00\x00"


def _subset_truetype(chars: str, suffix: str) -> io.BytesIO:
    """The SC face subset to ``chars``, with TrueType outlines and ``suffix`` on its PostScript name."""
    try:
        with FONT_PATH.open("rb") as fh:
            font = TTFont(fh, fontNumber=_sc_face(), lazy=False)
    except OSError as exc:
        raise FontUnavailable(f"cannot read the CJK font {FONT_PATH}: {exc}") from exc
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.desubroutinize = True
    options.notdef_outline = True
    options.name_IDs = ["*"]
    if _SUBSET_LOG.level == logging.NOTSET:  # an operator's own setting for it wins
        _SUBSET_LOG.setLevel(logging.WARNING)
    sub = subset.Subsetter(options)
    sub.populate(text=chars)
    sub.subset(font)
    _to_truetype(font)
    # reportlab takes a font whose PostScript name it has seen for that same font (pdfmetrics.registerFont keeps
    # one font per face name): each subset gets a name of its own, or every report would draw with the first one
    postscript = f"{font['name'].getDebugName(6)}-{suffix}"
    for record in font["name"].names:
        if record.nameID == 6:
            record.string = postscript
    out = io.BytesIO()
    font.save(out)
    out.seek(0)
    return out


#: fonts registered with reportlab, most recently used last; reportlab keeps every registered font for the
#: life of the process, so the oldest are dropped from its registry beyond this many (a render in progress
#: holds its font for well under a second, the time it would take dozens of other reports to push it out)
_REGISTERED: Final[OrderedDict[str, str]] = OrderedDict()
_KEEP: Final = 64
_LOCK: Final = threading.Lock()


def _font_for(chars: str) -> str:
    with _LOCK:
        name = _REGISTERED.get(chars)
        if name is not None:
            _REGISTERED.move_to_end(chars)
            return name
        digest = hashlib.sha256(chars.encode()).hexdigest()[:12]
        name = "fs-cjk-" + digest
        font = ReportlabTTFont(name, _subset_truetype(chars, digest))
        pdfmetrics.registerFont(font)
        if pdfmetrics.getFont(name) is not font:  # the face-name rule above, should a name ever repeat
            raise FontUnavailable(f"reportlab registered another font for {font.face.name}")
        _REGISTERED[chars] = name
        while len(_REGISTERED) > _KEEP:
            _, old = _REGISTERED.popitem(last=False)
            # reportlab has no public way to forget a font: its two registries, by font name and by face name
            forgotten = pdfmetrics._fonts.pop(old, None)
            if forgotten is not None:
                pdfmetrics._dynFaceNames.pop(forgotten.face.name, None)
        return name


def font_for(text: str) -> str:
    """The name of a registered reportlab font that draws every character of ``text`` it can."""
    chars = "".join(sorted(set(BASE_CHARS) | {c for c in text if c >= " "}))
    return _font_for(chars)
