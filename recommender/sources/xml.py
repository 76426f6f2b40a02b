"""Streaming, hardened XML parsing for exports: no DTD, no entities, no network, bounded memory.

An export never needs a DTD, so a file declaring one (`<!DOCTYPE`, `<!ENTITY`) is refused outright:
XXE and entity-expansion ("billion laughs") attacks do nothing. The parser is also configured not to
load DTDs, resolve entities or touch the network, as a second line. Each item is handed out once,
then freed with every sibling before it, so memory follows the largest item, not the file; an item (with
what precedes it) over `MAX_ITEM_BYTES` is refused as it is read. A UTF-16 file is parsed as such (BOM).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from recommender.errors import CorpusError
from recommender.limits import MAX_ITEM_BYTES
from recommender.sources.files import open_source, read_head, sniffable

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")


def iter_items(path: str | Path, tags: tuple[str, ...]) -> Iterator[etree._Element]:
    """Each complete element named in `tags` (Clark notation), in document order; `CorpusError` on bad XML."""
    name = str(path)
    _refuse_declarations(path)
    with open_source(path, max_item_bytes=MAX_ITEM_BYTES) as source:
        context = etree.iterparse(
            source, events=("end",), tag=tags, resolve_entities=False, no_network=True, load_dtd=False,
            dtd_validation=False, huge_tree=False, remove_pis=True,
        )
        checked = False
        try:
            for _, element in context:
                if not checked:
                    _refuse_doctype(name, element)
                    checked = True
                yield element
                source.item_done()
                element.clear(keep_tail=False)
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError as exc:
            raise CorpusError.at(name, exc.lineno or 1, f"malformed XML: {exc.msg}") from None
        except (OSError, EOFError) as exc:
            raise CorpusError.at(name, 1, f"cannot read: {exc}") from None


def text_of(element: etree._Element | None) -> str:
    """The element's text content (CDATA included, split sections joined); '' when absent."""
    if element is None:
        return ""
    if len(element) == 0:
        return element.text or ""
    return "".join(element.itertext())


def _refuse_declarations(path: str | Path) -> None:
    """A DOCTYPE or ENTITY declaration before the root element: refused with the line it is on."""
    head = sniffable(path, read_head(path))
    root = _FIRST_ELEMENT.search(head)
    prologue = head[: root.start()] if root else head
    found = _DECLARATION.search(prologue)
    if found:
        raise _refused(str(path), head[: found.start()].count(b"\n") + 1, found.group(1).decode().upper())


def _refuse_doctype(name: str, element: etree._Element) -> None:
    """The same refusal for a declaration the byte scan could not see (another encoding, a long prologue)."""
    docinfo = element.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _refused(name, 1, "DOCTYPE")


def _refused(name: str, line: int, kind: str) -> CorpusError:
    return CorpusError.at(name, line, f"refused: the file declares a {kind} (an export never needs one;"
                                     " DTDs and entities are not processed, for safety)")
