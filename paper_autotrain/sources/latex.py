"""Read a paper's LaTeX source (an arXiv e-print folder) into the PaperDoc the PDF parser would give.

The main file's `\\input`/`\\include`/`\\subfile`s are inlined (comments stripped first, so a commented-out
input stays out), `\\iffalse` blocks and comment environments dropped, the user's macros expanded, and the
body cut into headings, running text, floats, display equations and the bibliography. Pages follow
`sources.pages`: page 1 is the title and abstract, then one page per top-level section ("§4 Experiments").
Sections are numbered as printed (4, 4.1, 4.1.1; A, B after `\\appendix`), tables and figures by their float
order, so captions read "Table 2: ..." and `\\ref`s resolve to the printed numbers.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperDoc, PaperMeta

from .latex_text import (
    ROW_BREAK,
    TABULAR_ENVIRONMENTS,
    TexContext,
    TexRenderer,
    find_env_end,
    inert_verbatim,
    is_known_command,
    protect,
    read_args,
    read_group,
    read_optional,
    split_top_level,
    strip_comments,
    to_latex,
)
from .pages import PageBuilder

log = logging.getLogger(__name__)

PREFERRED_MAIN_NAMES = ("ms.tex", "main.tex", "paper.tex")
MAX_INPUT_DEPTH = 20
MAX_MACRO_PASSES = 12
MAX_EXPANSION_GROWTH = 8  # a macro expansion never makes a paper more than this many times longer

INPUT = re.compile(
    r"\\(?P<importing>subimport|import|subinputfrom|inputfrom)\*?\s*\{(?P<dir>[^{}]*)\}\s*\{(?P<file>[^{}]*)\}"
    r"|\\(?P<cmd>input|include|subfile)(?![A-Za-z])\s*(?:\{(?P<braced>[^{}]*)\}|(?P<bare>[^\s{}\\]+))"
)
IFFALSE = re.compile(r"\\iffalse\b.*?\\fi\b", re.S)
DOCUMENT = re.compile(r"\\begin\s*\{document\}(?P<body>.*?)(?:\\end\s*\{document\}|$)", re.S)
DEFINITION = re.compile(
    r"\\(?P<cmd>(?:re)?newcommand|providecommand|DeclareRobustCommand|DeclareMathOperator|def|gdef|edef|xdef|let"
    r"|(?:re)?newenvironment)(?![A-Za-z])\*?"
)
# Redefinitions of these would hide the structure the reader relies on; the printed text is the same without
PROTECTED_NAMES = frozenset(
    "section subsection subsubsection paragraph subparagraph caption label ref cite begin end item input include "
    "bibliography appendix multicolumn multirow footnote textbf emph textit".split()
)
SECTION_LEVELS = {"section": 1, "subsection": 2, "subsubsection": 3, "paragraph": 4, "subparagraph": 5}
FLOATS = {
    "table": "table", "table*": "table", "sidewaystable": "table", "sidewaystable*": "table", "wraptable": "table",
    "figure": "figure", "figure*": "figure", "wrapfigure": "figure", "sidewaysfigure": "figure",
    "teaserfigure": "figure", "algorithm": "algorithm", "algorithm*": "algorithm",
}
DISPLAYS = frozenset(
    "equation equation* align align* gather gather* multline multline* eqnarray eqnarray* flalign flalign* "
    "alignat alignat* displaymath dmath dmath*".split()
)
SINGLE_NUMBER_DISPLAYS = frozenset({"equation", "multline", "dmath"})
STRUCTURE = re.compile(
    r"\\(?P<section>section|subsection|subsubsection|paragraph|subparagraph)(?![A-Za-z])(?P<star>\*?)"
    r"|\\(?P<appendix>appendix)(?![A-Za-z])"
    r"|\\begin\s*\{(?P<env>[A-Za-z]+\*?)\}"
    r"|\\(?P<bib>bibliography|printbibliography)(?![A-Za-z])"
    r"|(?P<dollars>\$\$)"
    r"|(?P<bracket>\\\[)"
)
RULES = re.compile(
    r"\\(?P<name>hline|toprule|midrule|bottomrule|cline|cmidrule|cdashline|hdashline|specialrule|addlinespace"
    r"|morecmidrules|rowcolor|rowcolors|arrayrulecolor|hhline|Xhline|Hline|noalign|endfirsthead|endhead"
    r"|endfoot|endlastfoot|tabucline|firsthline|lasthline|svhline|hiderowcolors|showrowcolors)(?![A-Za-z])"
)
RULE_ARGS = {
    "toprule": "o", "midrule": "o", "bottomrule": "o", "cline": "m", "cmidrule": "opm", "cdashline": "m",
    "specialrule": "mmm", "addlinespace": "o", "rowcolor": "om", "rowcolors": "somm", "arrayrulecolor": "om",
    "hhline": "m", "Xhline": "m", "Hline": "o", "noalign": "m", "tabucline": "om",
}
LABEL = re.compile(r"\\label\s*\{([^}]*)\}")
CAPTION = re.compile(r"\\(?:caption(?![A-Za-z])\*?|captionof\s*\{(?:table|figure|algorithm)\})")
PANEL_ENVIRONMENTS = ("subtable", "subfigure")


# --- files ------------------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _is_main(text: str) -> bool:
    text = strip_comments(inert_verbatim(text))
    return bool(re.search(r"\\documentclass", text)) and bool(re.search(r"\\begin\s*\{document\}", text))


def _readme_main(folder: Path) -> Path | None:
    """The toplevel file arXiv's 00README.json names, when there is one."""
    readme = folder / "00README.json"
    if not readme.is_file():
        return None
    try:
        sources = json.loads(_read(readme)).get("sources", [])
    except (ValueError, AttributeError):
        return None
    for entry in sources:
        if isinstance(entry, dict) and entry.get("usage") == "toplevel" and entry.get("filename"):
            path = folder / str(entry["filename"])
            if path.is_file() and path.suffix == ".tex":
                return path
    return None


def find_main_tex(folder: Path) -> Path | None:
    """The .tex with \\documentclass and \\begin{document}: the one arXiv's 00README.json names, else one named
    ms/main/paper.tex, else the largest; a subfile or standalone figure only when nothing else qualifies.
    None when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    named = _readme_main(folder)
    if named is not None:
        return named
    candidates = [p for p in sorted(folder.rglob("*.tex")) if p.is_file() and _is_main(_read(p))]
    if not candidates:
        return None
    whole = [p for p in candidates if not re.search(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{(?:subfiles|standalone)\}",
                                                    strip_comments(_read(p)))]
    candidates = whole or candidates
    shallow = min(len(p.relative_to(folder).parts) for p in candidates)
    candidates = [p for p in candidates if len(p.relative_to(folder).parts) == shallow]
    for name in PREFERRED_MAIN_NAMES:
        for path in candidates:
            if path.name.lower() == name:
                return path
    return max(candidates, key=lambda p: p.stat().st_size)


def _resolve(root: Path, current: Path, name: str, directory: str | None) -> Path | None:
    name = name.strip().strip('"')
    bases = [root / (directory or ""), current.parent / (directory or "")]
    for base in bases:
        for candidate in (base / name, base / f"{name}.tex"):
            if candidate.is_file():
                return candidate
    return None


def _subfile_body(text: str) -> str:
    """A subfile has its own preamble; only its document body is part of the paper."""
    match = DOCUMENT.search(text)
    return match.group("body") if match and re.search(r"\\documentclass", text) else text


def inline_inputs(path: Path, root: Path, chain: tuple[Path, ...] = ()) -> str:
    """The file's text, comments stripped, with its inputs inlined (recursively; a cycle or a missing file is
    skipped with a warning)."""
    text = strip_comments(inert_verbatim(_read(path)))
    chain = (*chain, path.resolve())

    def replace(match: re.Match[str]) -> str:
        command = match.group("importing") or match.group("cmd")
        name = match.group("file") or match.group("braced") or match.group("bare") or ""
        target = _resolve(root, path, name, match.group("dir"))
        if target is None:
            log.warning("%s: \\%s{%s} not found in the source folder; skipped", path.name, command, name)
            return ""
        if target.resolve() in chain or len(chain) >= MAX_INPUT_DEPTH:
            log.warning("%s: \\%s{%s} would include itself (or nests too deep); skipped", path.name, command, name)
            return ""
        if target.suffix.lower() in (".png", ".pdf", ".jpg", ".jpeg", ".eps"):
            return ""
        body = inline_inputs(target, root, chain)
        return _subfile_body(body) if command == "subfile" else body

    return INPUT.sub(replace, text)


def _local_packages(source: str, folder: Path) -> str:
    """The text of the paper's own .sty files (`\\usepackage{macros}` beside main.tex): macros live there too."""
    texts = []
    for match in re.finditer(r"\\usepackage\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}", source):
        for name in match.group(1).split(","):
            path = folder / f"{name.strip()}.sty"
            if name.strip() and path.is_file():
                texts.append(strip_comments(_read(path)))
    return "\n".join(texts)


# --- macros -----------------------------------------------------------------------------------------------


@dataclass
class Macro:
    body: str
    arguments: int = 0
    default: str | None = None  # the first argument is optional with this default


@dataclass
class Macros:
    commands: dict[str, Macro] = field(default_factory=dict)
    environments: dict[str, tuple[str, str]] = field(default_factory=dict)


def _definition_name(source: str, i: int) -> tuple[str | None, int]:
    """`{\\name}` or `\\name` at i."""
    group = read_group(source, i)
    if group is not None:
        match = re.fullmatch(r"\s*\\([A-Za-z]+)\s*", group[0])
        return (match.group(1) if match else None), group[1]
    match = re.compile(r"\s*\\([A-Za-z@]+|.)").match(source, i)
    if match is None:
        return None, i
    return match.group(1), match.end()


def _read_definition(source: str, match: re.Match[str], macros: Macros) -> int:
    """Records the definition at `match` and returns where it ends."""
    command, i = match.group("cmd"), match.end()
    if command in ("newenvironment", "renewenvironment"):
        name_group = read_group(source, i)
        if name_group is None:
            return i
        (count, default, begin, end), after = read_args(source, name_group[1], "oomm")
        if begin is not None and end is not None and not count:
            macros.environments[name_group[0].strip()] = (begin, end)
        return after
    name, i = _definition_name(source, i)
    if command == "let":
        target = re.compile(r"\s*=?\s*\\([A-Za-z]+|.)").match(source, i)
        if target is None:
            return i
        if name and target.group(1) in macros.commands:
            macros.commands[name] = macros.commands[target.group(1)]
        return target.end()
    count, default = 0, None
    if command in ("def", "gdef", "edef", "xdef"):
        parameters = re.compile(r"[^{]*").match(source, i)
        assert parameters is not None
        count = len(re.findall(r"#\d", parameters.group(0)))
        i = parameters.end()
    elif command != "DeclareMathOperator":
        (number, default), i = read_args(source, i, "oo")
        count = int(number) if number and number.strip().isdigit() else 0
    body = read_group(source, i)
    if body is None:
        return i
    text = f"\\operatorname{{{body[0]}}}" if command == "DeclareMathOperator" else body[0]
    if command == "providecommand" and name and (name in macros.commands or is_known_command(name)):
        return body[1]  # \providecommand defines only what is not defined yet
    if name and re.fullmatch(r"[A-Za-z]+", name) and name not in PROTECTED_NAMES:
        macros.commands[name] = Macro(text, count, default)
    return body[1]


def collect_macros(source: str) -> tuple[Macros, str]:
    """The user's macro and environment definitions, and the source without them."""
    macros = Macros()
    kept, position = [], 0
    for match in DEFINITION.finditer(source):
        if match.start() < position:
            continue
        kept.append(source[position : match.start()])
        position = _read_definition(source, match, macros)
    kept.append(source[position:])
    return macros, "".join(kept)


def _substitute(body: str, arguments: list[str]) -> str:
    text = re.sub(r"(?<!#)#(\d)", lambda m: arguments[int(m.group(1)) - 1] if int(m.group(1)) <= len(arguments)
                  else "", body)
    return text.replace("##", "#")


def _expand_once(source: str, macros: Macros, pattern: re.Pattern[str]) -> tuple[str, int]:
    out, position, count = [], 0, 0
    for match in pattern.finditer(source):
        if match.start() < position:
            continue
        macro = macros.commands[match.group(1)]
        i, arguments = match.end(), []
        if macro.default is not None:
            optional = read_optional(source, i)
            arguments.append(optional[0] if optional else macro.default)
            i = optional[1] if optional else i
        missing = False
        for _ in range(macro.arguments - len(arguments)):
            (argument,), i = read_args(source, i, "m")
            if argument is None:
                missing = True
                break
            arguments.append(argument)
        if missing:
            continue
        out += [source[position : match.start()], _substitute(macro.body, arguments)]
        if macro.arguments == 0 and source.startswith("{}", i):
            i += 2  # "\model{}" is how a paper keeps the space after a macro
        position, count = i, count + 1
    out.append(source[position:])
    return "".join(out), count


def expand_macros(source: str, macros: Macros) -> str:
    """User macros (with #1..#n substituted) and environments expanded, for a bounded number of passes."""
    for name, (begin, end) in macros.environments.items():
        source = re.sub(rf"\\begin\s*\{{{re.escape(name)}\}}", lambda _m, b=begin: b, source)
        source = re.sub(rf"\\end\s*\{{{re.escape(name)}\}}", lambda _m, e=end: e, source)
    if not macros.commands:
        return source
    names = sorted(macros.commands, key=len, reverse=True)
    pattern = re.compile(r"\\(" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z])")
    limit = MAX_EXPANSION_GROWTH * len(source) + 100_000
    for _ in range(MAX_MACRO_PASSES):
        expanded, count = _expand_once(source, macros, pattern)
        if count == 0:
            return expanded
        if len(expanded) > limit:
            log.warning("macro expansion keeps growing the source (a recursive macro?); stopped")
            return source
        source = expanded
    log.warning("macros still unexpanded after %d passes (a recursive macro?)", MAX_MACRO_PASSES)
    return source


# --- structure --------------------------------------------------------------------------------------------


@dataclass
class _Text:
    raw: str


@dataclass
class _Heading:
    level: int
    number: str
    title: str


@dataclass
class _Float:
    kind: str  # table | figure | algorithm
    parts: list[tuple[str, str, str]]  # (number, caption source or "", content) per captioned part


@dataclass
class _Tabular:
    raw: str  # a tabular outside any float
    number: str = ""  # a longtable with a \caption is numbered as a table


@dataclass
class _Display:
    raw: str
    numbers: list[str]


@dataclass
class _Bibliography:
    entries: list[tuple[str, str]]  # (key, text source)


@dataclass
class _Numbering:
    """Counters as LaTeX keeps them."""

    depth: int = 3  # secnumdepth
    sections: list[int] = field(default_factory=lambda: [0, 0, 0])
    in_appendix: bool = False
    floats: dict[str, int] = field(default_factory=lambda: {"table": 0, "figure": 0, "algorithm": 0})
    equation: int = 0

    def heading(self, level: int, starred: bool) -> str:
        if starred or level > min(self.depth, 3):
            return ""
        self.sections[level - 1] += 1
        for deeper in range(level, 3):
            self.sections[deeper] = 0
        top = chr(ord("A") + self.sections[0] - 1) if self.in_appendix else str(self.sections[0])
        return ".".join([top, *(str(n) for n in self.sections[1:level])])

    def appendix(self) -> None:
        self.in_appendix, self.sections = True, [0, 0, 0]

    def next_float(self, kind: str) -> str:
        self.floats[kind] += 1
        return str(self.floats[kind])

    def display(self, environment: str, content: str) -> list[str]:
        if environment.endswith("*") or environment == "displaymath":
            return []
        if environment in SINGLE_NUMBER_DISPLAYS:
            lines = [content]
        else:
            lines = split_top_level(content, ROW_BREAK)
        numbers = []
        for line in lines:
            tag = TAG.search(line)
            if tag:
                numbers.append(tag.group(1))
            elif _numbered_line(line):
                self.equation += 1
                numbers.append(str(self.equation))
        return numbers


TAG = re.compile(r"\\tag\*?\s*\{([^}]*)\}")


def _numbered_line(line: str) -> bool:
    return bool(TAG.search(line)) or (bool(line.strip()) and not re.search(r"\\(?:nonumber|notag)\b", line))


def _caption_parts(raw: str, kind: str, numbering: _Numbering) -> list[tuple[str, str, str]]:
    """A float's captioned parts: one per \\caption outside sub-floats (two minipages with a caption each are
    two tables); a part's content is the float's text up to the next part."""
    outer = raw
    for environment in PANEL_ENVIRONMENTS:
        outer = _blank_environments(outer, environment)
    captions = []
    for match in CAPTION.finditer(outer):
        (_, text), end = read_args(raw, match.end(), "om")
        captions.append((match.start(), end, text or ""))
    if not captions:
        return [("", "", raw)]
    minipages = [m.start() for m in re.finditer(r"\\begin\s*\{minipage\}", outer)]
    if len(captions) > 1 and len(minipages) >= len(captions):
        bounds = [*minipages[1 : len(captions)], len(raw)]
        starts = [0, *bounds[:-1]]
        return [(numbering.next_float(kind), text, raw[start:stop])
                for (_, _, text), start, stop in zip(captions, starts, bounds, strict=True)]
    number = numbering.next_float(kind)
    for _ in captions[1:]:
        numbering.next_float(kind)  # a second \caption in one float still takes a number
    return [(number, captions[0][2], raw)]


def _blank_environments(source: str, name: str) -> str:
    """`source` with each `name` environment's text replaced by spaces (positions kept)."""
    out = source
    for match in re.finditer(rf"\\begin\s*\{{{re.escape(name)}\}}", source):
        _, after = find_env_end(source, name, match.end())
        out = out[: match.start()] + " " * (after - match.start()) + out[after:]
    return out


def _bibliography_entries(source: str) -> list[tuple[str, str]]:
    """(key, text) of each \\bibitem in a thebibliography environment."""
    entries = []
    parts = re.split(r"\\bibitem\b", source)
    for part in parts[1:]:
        (_, key), end = read_args(part, 0, "om")
        text = re.sub(r"\\end\s*\{thebibliography\}.*", "", part[end:], flags=re.S)
        entries.append(((key or "").strip(), text))
    return entries


def _bbl_entries(folder: Path, main: Path) -> list[tuple[str, str]]:
    paths = [main.with_suffix(".bbl")] + sorted(folder.glob("*.bbl"))
    for path in paths:
        if path.is_file():
            return _bibliography_entries(protect(strip_comments(_read(path))))
    return []


def scan_structure(body: str, numbering: _Numbering, bbl: list[tuple[str, str]]) -> list[object]:
    """The body as a list of text, headings, floats, bare tabulars, display equations and the bibliography."""
    items: list[object] = []
    text_start = position = 0
    while True:
        match = STRUCTURE.search(body, position)
        if match is None:
            break
        item, end = _structural_item(body, match, numbering, bbl)
        if item is None:
            position = match.end()
            continue
        items.append(_Text(body[text_start : match.start()]))
        if not isinstance(item, bool):
            items.append(item)
        text_start = position = end
    items.append(_Text(body[text_start:]))
    items = [item for item in items if not (isinstance(item, _Text) and not item.raw.strip())]
    # "\section*{References}" right before the bibliography: the reference list has a page of its own
    return [item for item, after in zip(items, [*items[1:], None], strict=True)
            if not (isinstance(item, _Heading) and isinstance(after, _Bibliography)
                    and re.fullmatch(r"\s*(?:references|bibliography)\s*", item.title, re.I))]


def _structural_item(
    body: str, match: re.Match[str], numbering: _Numbering, bbl: list[tuple[str, str]]
) -> tuple[object | None, int]:
    """The item at `match` and where it ends; (None, _) when the match is ordinary text after all, (True, end)
    for a marker that only changes numbering (\\appendix)."""
    end = match.end()
    if match.group("section"):
        (_, title), after = read_args(body, end, "om")
        if title is None:
            return None, end
        level = SECTION_LEVELS[match.group("section")]
        return _Heading(level, numbering.heading(level, bool(match.group("star"))), title), after
    if match.group("appendix"):
        numbering.appendix()
        return True, end
    if match.group("bib"):
        after = read_args(body, end, "o" if match.group("bib") == "printbibliography" else "m")[1]
        return _Bibliography(bbl), after
    if match.group("dollars"):
        close = body.find("$$", end)
        return (None, end) if close < 0 else (_Display(body[end:close], []), close + 2)
    if match.group("bracket"):
        close = body.find("\\]", end)
        return (None, end) if close < 0 else (_Display(body[end:close], []), close + 2)
    environment = match.group("env")
    if environment not in FLOATS and environment not in DISPLAYS and environment not in TABULAR_ENVIRONMENTS \
            and environment not in ("thebibliography", "acks", "ack", "appendices"):
        return None, end
    content_end, after = find_env_end(body, environment, end)
    content = body[end:content_end]
    if environment in FLOATS:
        kind = FLOATS[environment]
        return _Float(kind, _caption_parts(content, kind, numbering)), after
    if environment in DISPLAYS:
        return _Display(content, numbering.display(environment, content)), after
    if environment in TABULAR_ENVIRONMENTS:
        caption = re.search(r"\\caption\b", content)
        number = numbering.next_float("table") if caption and environment.startswith("longtable") else ""
        return _Tabular(match.group(0) + body[end:after], number), after
    if environment == "thebibliography":
        return _Bibliography(_bibliography_entries(content)), after
    if environment == "appendices":
        numbering.appendix()
        return None, end  # its content is read on; \end{appendices} prints nothing
    return _Heading(1, "", "Acknowledgments"), end  # acmart's acks, NeurIPS's ack: an unnumbered section


def number_labels(items: list[object]) -> dict[str, tuple[str, str]]:
    """label -> (kind, printed number): a label refers to the float or equation it stands in, else to the
    last numbered heading."""
    labels: dict[str, tuple[str, str]] = {}
    current = ""
    for item in items:
        if isinstance(item, _Heading):
            current = (item.number or current) if item.level > 1 else item.number
            for key in LABEL.findall(item.title):
                labels[key] = ("section", current)
        elif isinstance(item, _Text):
            for key in LABEL.findall(item.raw):
                labels.setdefault(key, ("section", current))
        elif isinstance(item, _Float):
            for number, _, content in item.parts:
                for key in LABEL.findall(content):
                    labels[key] = (item.kind, number or "?")
        elif isinstance(item, _Tabular):
            for key in LABEL.findall(item.raw):
                labels[key] = ("table", item.number or "?")
        elif isinstance(item, _Display):
            labels.update(_equation_labels(item))
    return labels


def _equation_labels(item: _Display) -> dict[str, tuple[str, str]]:
    if len(item.numbers) <= 1:
        number = item.numbers[0] if item.numbers else "?"
        return {key: ("equation", number) for key in LABEL.findall(item.raw)}
    labels, numbers = {}, iter(item.numbers)
    for line in split_top_level(item.raw, ROW_BREAK):
        number = next(numbers, "?") if _numbered_line(line) else "?"
        labels |= {key: ("equation", number) for key in LABEL.findall(line)}
    return labels


# --- tables -------------------------------------------------------------------------------------------------


def _drop_rules(content: str) -> str:
    out, position = [], 0
    for match in RULES.finditer(content):
        if match.start() < position:
            continue
        out.append(content[position : match.start()])
        position = read_args(content, match.end(), RULE_ARGS.get(match.group("name"), ""))[1]
    out.append(content[position:])
    return "".join(out)


def _longtable_body(content: str) -> str:
    """A longtable's first head and body, without the head and foot repeated on later pages."""
    if "\\endfirsthead" in content:
        first, rest = content.split("\\endfirsthead", 1)
    else:
        first, rest = "", content
    markers = list(re.finditer(r"\\end(?:head|foot|lastfoot)\b", rest))
    if markers:
        head = rest[: markers[0].start()] if not first else ""
        rest = head + rest[markers[-1].end() :]
    return first + rest


def _cell(source: str, renderer: TexRenderer) -> list[str]:
    """A cell as printed, then one empty cell for each further column a \\multicolumn spans."""
    match = re.search(r"\\multicolumn\b", source)
    if match is None:
        return [renderer.cell(source)]
    (span, _, text), end = read_args(source, match.end(), "mmm")
    width = int(span) if span and span.strip().isdigit() else 1
    return [renderer.cell(source[: match.start()] + (text or "") + source[end:])] + [""] * (width - 1)


def tabular_rows(source: str, renderer: TexRenderer) -> list[list[str]]:
    """Rows of cells of a `\\begin{tabular}...\\end{tabular}` source."""
    match = re.match(r"\\begin\s*\{([A-Za-z]+\*?)\}", source)
    if match is None:
        return []
    environment = match.group(1)
    content_end, _ = find_env_end(source, environment, match.end())
    start = read_args(source, match.end(), TABULAR_ENVIRONMENTS.get(environment, "om"))[1]
    content = source[start:content_end]
    if environment.startswith("longtable"):
        content = without_captions(_longtable_body(content))
    content = _flatten_nested_tabulars(_drop_rules(content))
    rows = []
    for row in split_top_level(content, ROW_BREAK):
        cells = [cell for raw in split_top_level(row, "&") for cell in _cell(raw, renderer)]
        if any(cell for cell in cells):
            rows.append(cells)
    return rows


def _caption_source(source: str) -> str:
    match = CAPTION.search(source)
    return (read_args(source, match.end(), "om")[0][1] or "") if match else ""


def without_captions(source: str) -> str:
    out, position = [], 0
    for match in CAPTION.finditer(source):
        if match.start() < position:
            continue
        out.append(source[position : match.start()])
        position = read_args(source, match.end(), "om")[1]
    out.append(source[position:])
    return "".join(out)


def _flatten_nested_tabulars(content: str) -> str:
    """A tabular inside a cell (a two-line header) as one group, so its `\\\\` and `&` do not split the outer."""
    for name in TABULAR_ENVIRONMENTS:
        pattern = re.compile(rf"\\begin\s*\{{{re.escape(name)}\}}")
        while (match := pattern.search(content)) is not None:
            content_end, after = find_env_end(content, name, match.end())
            start = read_args(content, match.end(), TABULAR_ENVIRONMENTS[name])[1]
            inner = content[start:content_end].replace(ROW_BREAK, " ").replace("&", " ")
            content = content[: match.start()] + "{" + inner + "}" + content[after:]
    return content


def _outer_tabulars(source: str) -> list[str]:
    """The tabular environments of a float, outermost only, in order."""
    found = []
    pattern = re.compile(r"\\begin\s*\{(" + "|".join(re.escape(n) for n in TABULAR_ENVIRONMENTS) + r")\}")
    position = 0
    while (match := pattern.search(source, position)) is not None:
        _, after = find_env_end(source, match.group(1), match.end())
        found.append(source[match.start() : after])
        position = after
    return found


def _panels(content: str, renderer: TexRenderer) -> list[list[str]] | None:
    """Sub-tables with captions of their own, stacked as the PDF parser reads panels: a "(a) Gowalla" row
    above each panel's rows. None when the float has fewer than two captioned sub-tables."""
    panels = []
    for match in re.finditer(r"\\begin\s*\{subtable\}", content):
        content_end, _ = find_env_end(content, "subtable", match.end())
        inner = content[match.end() : content_end]
        caption = CAPTION.search(inner)
        if caption is None:
            continue
        (_, text), _ = read_args(inner, caption.end(), "om")
        panels.append((renderer.cell(text or ""), inner))
    for match in re.finditer(r"\\subfloat\b", content):
        (caption, body), _ = read_args(content, match.end(), "om")
        if caption and body:
            panels.append((renderer.cell(caption), body))
    if len(panels) < 2:
        return None
    rows: list[list[str]] = []
    for index, (caption, inner) in enumerate(panels):
        rows.append([f"({chr(ord('a') + index)}) {caption}"])
        rows += [row for tabular in _outer_tabulars(inner) for row in tabular_rows(tabular, renderer)]
    return rows


# --- rendering into pages -------------------------------------------------------------------------------------

CAPTION_NAMES = {"table": "Table", "figure": "Figure", "algorithm": "Algorithm"}


class _Writer:
    """Renders the scanned items into a PageBuilder."""

    def __init__(self, builder: PageBuilder, renderer: TexRenderer) -> None:
        self.builder = builder
        self.renderer = renderer

    def write(self, item: object) -> None:
        if isinstance(item, _Text):
            self.builder.add_text(self.renderer.paragraphs(item.raw))
        elif isinstance(item, _Heading):
            self.builder.add_heading(item.level, item.number, self.renderer.cell(item.title))
        elif isinstance(item, _Float):
            self._float(item)
        elif isinstance(item, _Tabular):
            caption = f"Table {item.number}: {self.renderer.cell(_caption_source(item.raw))}" if item.number else ""
            if caption:
                self.builder.add_text(caption)
            self.builder.add_table(caption, tabular_rows(item.raw, self.renderer))
        elif isinstance(item, _Display):
            self.builder.add_text(self._display_line(item))
        elif isinstance(item, _Bibliography):
            cite = self.renderer.context.citation
            self.builder.add_references([f"[{cite(key)}] {self.renderer.cell(text)}" for key, text in item.entries])
        for note in self.renderer.context.footnotes:
            self.builder.add_footnote(note)
        self.renderer.context.footnotes.clear()

    def _float(self, item: _Float) -> None:
        name = CAPTION_NAMES[item.kind]
        for number, caption_source, content in item.parts:
            caption = f"{name} {number}: {self.renderer.cell(caption_source)}" if number else ""
            if caption:
                self.builder.add_text(caption)
            if item.kind == "algorithm":
                self.builder.add_text(self.renderer.paragraphs(without_captions(content)))
            if item.kind != "table":
                continue
            panels = _panels(content, self.renderer)
            if panels is not None:
                self.builder.add_table(caption, panels)
                continue
            for tabular in _outer_tabulars(content):
                self.builder.add_table(caption, tabular_rows(tabular, self.renderer))

    @staticmethod
    def _display_line(item: _Display) -> str:
        source = LABEL.sub("", item.raw)
        source = re.sub(r"\\(?:nonumber|notag)\b", "", source)
        line = re.sub(r"\s+", " ", to_latex(source)).strip()
        return f"{line} ({item.numbers[0]})" if len(item.numbers) == 1 else line


# --- the reader ----------------------------------------------------------------------------------------------


def _title(source: str, renderer: TexRenderer) -> str:
    for match in re.finditer(r"\\(?:title|icmltitle)(?![A-Za-z])", source):
        (_, title), _ = read_args(source, match.end(), "om")
        if title:
            return renderer.cell(title)
    return ""


def _take_abstract(body: str) -> tuple[str, str]:
    """The abstract's source and the body without it."""
    match = re.search(r"\\begin\s*\{abstract\}", body)
    if match is not None:
        content_end, after = find_env_end(body, "abstract", match.end())
        return body[match.end() : content_end], body[: match.start()] + body[after:]
    command = re.search(r"\\abstract\s*\{", body)
    if command is not None:
        group = read_group(body, command.end() - 1)
        if group is not None:
            return group[0], body[: command.start()] + body[group[1] :]
    return "", body


def _section_depth(source: str) -> int:
    match = re.search(r"\\setcounter\s*\{secnumdepth\}\s*\{\s*(-?\d+)\s*\}", source)
    if match:
        return int(match.group(1))
    return 2 if re.search(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{llncs\}", source) else 3


def prepare_source(main: Path) -> str:
    """The whole paper as one protected source: inputs inlined, comments and dead blocks dropped, macros expanded."""
    folder = main.parent
    source = protect(inline_inputs(main, folder))
    source = IFFALSE.sub("", source)
    source = re.sub(r"\\begin\s*\{comment\}.*?\\end\s*\{comment\}", "", source, flags=re.S)
    packages = protect(_local_packages(source, folder))
    macros, _ = collect_macros(IFFALSE.sub("", packages))
    document_macros, source = collect_macros(source)
    macros.commands.update(document_macros.commands)
    macros.environments.update(document_macros.environments)
    return expand_macros(source, macros)


def read_latex(folder: Path, meta: PaperMeta) -> PaperDoc:
    """The PaperDoc of a LaTeX source folder; UserError when it holds no main .tex file."""
    folder = Path(folder)
    main = find_main_tex(folder)
    if main is None:
        raise UserError(f"{folder.name or folder}: no LaTeX main file (a .tex with \\documentclass and "
                        "\\begin{document}); pass the paper's source folder or its PDF")
    source = prepare_source(main)
    document = DOCUMENT.search(source)
    body = document.group("body") if document else source
    abstract_source, body = _take_abstract(body)
    numbering = _Numbering(depth=_section_depth(source))
    items = scan_structure(body, numbering, _bbl_entries(main.parent, main))
    context = TexContext(labels=number_labels(items))
    bibliographies = [item for item in items if isinstance(item, _Bibliography)]
    context.citation_order = [key for bib in bibliographies for key, _ in bib.entries]
    renderer = TexRenderer(context)
    builder = PageBuilder(_title(source, renderer), renderer.paragraphs(abstract_source))
    writer = _Writer(builder, renderer)
    for item in items:
        writer.write(item)
    doc = builder.build(meta)
    if not doc.full_text.replace(builder.title, "").strip():
        raise UserError(f"{main.name}: the LaTeX source has no text in its document body; pass the paper's PDF")
    log.info("read LaTeX %s: %d pages, %d sections, %d tables", main.name, len(doc.pages), len(doc.sections),
             len(doc.tables))
    return doc
