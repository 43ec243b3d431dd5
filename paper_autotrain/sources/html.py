"""Read arXiv's HTML rendering of a paper (LaTeXML, arxiv.org/html/ID) into the PaperDoc the PDF parser would give.

LaTeXML marks the structure with classes: `h1.ltx_title_document`, `div.ltx_abstract`, `section.ltx_section`
(`ltx_subsection`, `ltx_subsubsection`, `ltx_paragraph`, `ltx_appendix`) whose heading holds the printed
number in `span.ltx_tag`, paragraphs `p.ltx_p`, math as `<math alttext="LaTeX">`, display equations as
`table.ltx_equation`, floats as `figure.ltx_table` / `figure.ltx_figure` with a `figcaption`, tables as
`table.ltx_tabular` (cells with colspan/rowspan), footnotes as `span.ltx_note`, the reference list as
`section.ltx_bibliography`. Pages, sections and tables follow `sources.pages`, as for a LaTeX source.
"""

from __future__ import annotations

import logging
import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperDoc, PaperMeta

from .latex_text import math_to_text, protect, to_literal
from .pages import PageBuilder, one_line

log = logging.getLogger(__name__)

SECTION_LEVELS = {
    "ltx_section": 1, "ltx_appendix": 1, "ltx_subsection": 2, "ltx_subsubsection": 3, "ltx_paragraph": 4,
    "ltx_subparagraph": 5, "ltx_acknowledgements": 1,
}
SKIPPED_CLASSES = frozenset({
    "ltx_title_document", "ltx_abstract", "ltx_authors", "ltx_dates", "ltx_classification", "ltx_keywords",
    "ltx_TOC", "ltx_page_navbar", "ltx_page_header", "ltx_page_footer", "ltx_pagination", "ltx_page_logo",
    "ltx_ERROR", "ltx_bib_cited",
})
# Inside text: LaTeXML's undefined control sequences and the "Cited by: p1" back-links of reference entries
INLINE_SKIPPED_CLASSES = frozenset({"ltx_ERROR", "ltx_bib_cited"})
SKIPPED_TAGS = frozenset({"script", "style", "nav", "header", "footer", "button", "svg", "img", "object"})
BLOCK_TAGS = frozenset({"p", "div", "section", "figure", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5",
                        "h6", "blockquote", "article", "li"})
EQUATION_CLASSES = frozenset({"ltx_equation", "ltx_equationgroup", "ltx_eqn_table"})
DISPLAY_NOISE = re.compile(r"\\(?:displaystyle|textstyle)\b\s*")
CAPTION_TAG = re.compile(
    r"^(?P<kind>Table|TABLE|Figure|FIGURE|Fig\.|Algorithm|ALGORITHM)\s*(?P<number>[\w.-]+?)[\s:.]*$"
)


def _classes(node: Tag) -> set[str]:
    return set(node.get("class") or [])


def alttext_to_text(alttext: str) -> str:
    """A `<math>` element's LaTeX as readable text, as the LaTeX reader writes inline math."""
    return to_literal(math_to_text(protect(alttext)))


def _section_number(tag_text: str) -> str:
    """'4 ' -> '4', '4.1.' -> '4.1', 'Appendix A ' -> 'A', 'IV' (IEEE) kept as printed."""
    text = one_line(tag_text).rstrip(".:")
    return re.sub(r"^(?:Appendix|APPENDIX)\s+", "", text).strip()


def _outermost(node: Tag, name: str, class_: str) -> list[Tag]:
    """`name.class_` elements inside `node` that are not inside another such element inside `node`."""
    found = []
    for element in node.find_all(name, class_=class_):
        parent = element.find_parent(name, class_=class_)
        if parent is None or parent is node or not any(above is node for above in parent.parents):
            found.append(element)
    return found


class _HtmlWriter:
    """Walks the LaTeXML document in reading order into a PageBuilder."""

    def __init__(self, builder: PageBuilder) -> None:
        self.builder = builder
        self.footnotes: list[str] = []
        self._prefix = ""  # a list item's bullet, put before its first paragraph

    # text

    def inline(self, node: Tag) -> str:
        parts: list[str] = []
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
                continue
            if not isinstance(child, Tag) or _skipped_inline(child):
                continue
            classes = _classes(child)
            if "ltx_note" in classes:
                self._footnote(child)
            elif child.name == "math":
                alttext = child.get("alttext")
                parts.append(alttext_to_text(alttext) if isinstance(alttext, str) else child.get_text())
            elif child.name == "br":
                parts.append(" ")
            elif child.name == "table" and "ltx_tabular" in classes:
                parts.append(" ".join(cell for row in self.rows(child) for cell in row))
            else:
                parts.append(self.inline(child))
        return "".join(parts)

    def _footnote(self, note: Tag) -> None:
        content = note.find(class_="ltx_note_content")
        if not isinstance(content, Tag):
            return
        for mark in content.find_all(class_=["ltx_note_mark", "ltx_tag", "ltx_note_type"]):
            mark.extract()
        self.footnotes.append(one_line(self.inline(content)))

    def _add_text(self, text: str) -> None:
        text = one_line(text)
        if text:
            self.builder.add_text(f"{self._prefix}{text}")
            self._prefix = ""
        for note in self.footnotes:
            self.builder.add_footnote(note)
        self.footnotes.clear()

    # blocks

    def block(self, node: Tag, skip: Tag | None = None) -> None:
        for child in node.children:
            if child is skip or isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                self._add_text(str(child))
            elif isinstance(child, Tag):
                self._element(child)

    def _element(self, element: Tag) -> None:
        classes = _classes(element)
        if element.name in SKIPPED_TAGS or classes & SKIPPED_CLASSES:
            return
        level = next((SECTION_LEVELS[c] for c in classes if c in SECTION_LEVELS), None)
        if level is not None:
            self._section(element, level)
        elif "ltx_bibliography" in classes:
            self._bibliography(element)
        elif element.name == "figure" or classes & {"ltx_float", "ltx_figure", "ltx_table"}:
            self._float(element)
        elif element.name == "table" and classes & EQUATION_CLASSES:
            self._equation(element)
        elif element.name == "table" and "ltx_tabular" in classes:
            self.builder.add_table("", self.rows(element))
        elif element.name in ("ul", "ol", "dl"):
            self._list(element)
        elif element.name == "p" or "ltx_p" in classes or not self._has_blocks(element):
            self._add_text(self.inline(element))
        else:
            self.block(element)

    @staticmethod
    def _has_blocks(element: Tag) -> bool:
        return any(isinstance(child, Tag) and child.name in BLOCK_TAGS for child in element.children)

    def _section(self, section: Tag, level: int) -> None:
        heading = next((c for c in section.children if isinstance(c, Tag) and "ltx_title" in _classes(c)), None)
        number, title = "", ""
        if heading is not None:
            tag = heading.find(class_="ltx_tag")
            tag_text = tag.get_text() if isinstance(tag, Tag) else ""
            if isinstance(tag, Tag):
                tag.extract()
            number, title = _section_number(tag_text), self.inline(heading)
            self.footnotes.clear()  # a heading's footnote mark is not worth a line
        self.builder.add_heading(level, number, title)
        self.block(section, skip=heading)

    def _list(self, element: Tag) -> None:
        for item in element.find_all("li", recursive=False):
            tag = item.find(class_="ltx_tag", recursive=False)
            if isinstance(tag, Tag):
                self._prefix = one_line(tag.get_text()) + " "
                tag.extract()
            else:
                self._prefix = "• "
            if self._has_blocks(item):
                self.block(item)
            else:
                self._add_text(self.inline(item))
            self._prefix = ""

    def _equation(self, table: Tag) -> None:
        sources = [m.get("alttext") for m in table.find_all("math")]
        line = " ".join(DISPLAY_NOISE.sub("", s).strip() for s in sources if isinstance(s, str) and s.strip())
        numbers = [one_line(t.get_text()) for t in table.find_all(class_="ltx_tag_equation")] or [
            one_line(cell.get_text()) for cell in table.find_all(class_="ltx_eqn_eqno") if cell.get_text().strip()]
        if line:
            self._add_text(f"{line} {numbers[0]}" if len(numbers) == 1 else line)

    def _bibliography(self, section: Tag) -> None:
        items = section.find_all("li", class_="ltx_bibitem") or section.find_all("li")
        # the number tag and the blocks of an entry are adjacent spans: print them apart
        entries = [" ".join(self.inline(part) if isinstance(part, Tag) else str(part) for part in item.children
                            if not (isinstance(part, Tag) and _skipped_inline(part))) for item in items]
        self.footnotes.clear()
        self.builder.add_references(entries)

    # floats and tables

    def _caption(self, figure: Tag) -> tuple[str, str]:
        """(kind, caption) of a float: 'Table 2: Overall performance.' from its own figcaption."""
        caption = next((c for c in figure.find_all("figcaption") if c.find_parent("figure") is figure), None)
        if caption is None:
            return ("table" if "ltx_table" in _classes(figure) else "figure"), ""
        tag = caption.find(class_="ltx_tag")
        tag_text = one_line(tag.get_text()) if isinstance(tag, Tag) else ""
        if isinstance(tag, Tag):
            tag.extract()
        text = one_line(self.inline(caption))
        self.footnotes.clear()
        match = CAPTION_TAG.match(tag_text)
        kind = "table" if (match and match.group("kind").lower() == "table") or "ltx_table" in _classes(figure) \
            else "figure"
        if match:
            return kind, f"{match.group('kind').capitalize()} {match.group('number')}: {text}"
        return kind, f"{tag_text} {text}".strip()

    def _float(self, figure: Tag) -> None:
        kind, caption = self._caption(figure)
        if caption:
            self._add_text(caption)
        if "ltx_float_algorithm" in _classes(figure) or figure.find(class_="ltx_listing"):
            for line in figure.find_all(class_=["ltx_listingline", "ltx_p"]):
                self._add_text(self.inline(line))
            return
        if kind != "table":
            return
        panels = self._panels(figure)
        if panels is not None:
            self.builder.add_table(caption, panels)
            return
        for table in _outermost(figure, "table", "ltx_tabular"):
            self.builder.add_table(caption, self.rows(table))

    def _panels(self, figure: Tag) -> list[list[str]] | None:
        """Sub-tables '(a) Gowalla', '(b) Yelp2018' stacked as the PDF parser reads panels."""
        panels = []
        for panel in figure.find_all("figure"):
            if panel.find_parent("figure") is not figure:
                continue
            _, caption = self._caption(panel)
            tables = _outermost(panel, "table", "ltx_tabular")
            if caption and tables:
                panels.append((caption, tables))
        if len(panels) < 2:
            return None
        rows: list[list[str]] = []
        for index, (caption, tables) in enumerate(panels):
            label = caption if re.match(r"^\([a-z]\)", caption) else f"({chr(ord('a') + index)}) {caption}"
            rows.append([label])
            rows += [row for table in tables for row in self.rows(table)]
        return rows

    def rows(self, table: Tag) -> list[list[str]]:
        """Cells row by row; a colspan cell is followed by empty cells, a rowspan cell leaves empty cells below."""
        grid: list[list[str]] = []
        covered: dict[int, int] = {}  # column -> rows a rowspan from above still covers
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue
            row: list[str] = []
            for cell in tr.find_all(["td", "th"], recursive=False):
                while covered.get(len(row), 0) > 0:
                    covered[len(row)] -= 1
                    row.append("")
                span, down = _span(cell, "colspan"), _span(cell, "rowspan")
                if down > 1:
                    covered.update({len(row) + k: down - 1 for k in range(span)})
                row += [one_line(self.inline(cell))] + [""] * (span - 1)
            while covered.get(len(row), 0) > 0:
                covered[len(row)] -= 1
                row.append("")
            self.footnotes.clear()  # a table's footnote marks
            grid.append(row)
        return grid


def _skipped_inline(node: Tag) -> bool:
    return node.name in SKIPPED_TAGS or bool(_classes(node) & INLINE_SKIPPED_CLASSES)


def _span(cell: Tag, attribute: str) -> int:
    value = cell.get(attribute)
    return int(value) if isinstance(value, str) and value.strip().isdigit() and int(value) > 0 else 1


def _paragraphs(writer: _HtmlWriter, node: Tag | None) -> str:
    if node is None:
        return ""
    paragraphs = [one_line(writer.inline(p)) for p in node.find_all("p")]
    if not paragraphs:
        title = node.find(class_="ltx_title")
        if isinstance(title, Tag):
            title.extract()
        paragraphs = [one_line(writer.inline(node))]
    writer.footnotes.clear()
    return "\n".join(p for p in paragraphs if p)


def read_arxiv_html(html: str, meta: PaperMeta) -> PaperDoc:
    """The PaperDoc of arXiv's LaTeXML HTML rendering of a paper."""
    soup = BeautifulSoup(html, "lxml")
    article = soup.find(class_="ltx_document") or soup.body or soup
    assert isinstance(article, Tag)
    writer = _HtmlWriter(PageBuilder())
    title_node = article.find(class_="ltx_title_document")
    title = one_line(writer.inline(title_node)) if isinstance(title_node, Tag) else ""
    writer.footnotes.clear()  # \thanks in the title
    abstract_node = article.find(class_="ltx_abstract")
    abstract = _paragraphs(writer, abstract_node if isinstance(abstract_node, Tag) else None)
    writer.builder = PageBuilder(title, abstract)
    writer.block(article)
    doc = writer.builder.build(meta)
    if not doc.full_text.replace(title, "").strip():
        raise UserError(f"{meta.key}: the HTML page holds no paper text (not arXiv's rendering of a paper?); "
                        "pass the paper's PDF")
    log.info("read arXiv HTML: %d pages, %d sections, %d tables", len(doc.pages), len(doc.sections), len(doc.tables))
    return doc
