"""LaTeX markup to the text a reader of the printed paper sees.

`TexRenderer.paragraphs` turns running text into paragraphs, `TexRenderer.cell` a table cell or a caption
into one line, `math_to_text` inline math into readable text ("$d=64$" -> "d=64", "$10^{-4}$" -> "1e-4",
the form the extractor's number patterns read). Before rendering, a source goes through `prepare`: verbatim
text is made inert, comments are stripped, and escaped characters and `\\\\` become private-use placeholders
so that braces, `&` and `$` can be matched without counting backslashes again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

ROW_BREAK = "\ue000"  # `\\` (and \tabularnewline): a table row's end, a line break in text
PARAGRAPH = "\ue010"  # a blank line in the source
_ESCAPED = {"{": "\ue001", "}": "\ue002", "%": "\ue003", "&": "\ue004", "$": "\ue005", "#": "\ue006", "_": "\ue007"}
_LITERAL = {mark: char for char, mark in _ESCAPED.items()}
# Verbatim text is made inert when a file is read: nothing in it is a command, a group or a comment
_INERT = _ESCAPED | {"\\": "\ue008", "~": "\ue009", "^": "\ue00a", "\n": "\ue00b"}
_INERT_LITERAL = {mark: char for char, mark in _INERT.items()}
VERBATIM_SOURCE = re.compile(
    r"(?P<begin>\\begin\s*\{(?P<env>verbatim\*?|Verbatim|lstlisting|minted)\}(?:\[[^\]\n]*\])?(?:\{[^}\n]*\})?)"
    r"(?P<body>.*?)(?P<end>\\end\s*\{(?P=env)\})"
    r"|\\verb(?![A-Za-z])\*?(?P<delimiter>[^A-Za-z\s*])(?P<inline>[^\n]*?)(?P=delimiter)",
    re.S,
)

# `%` starts a comment unless escaped (an odd run of backslashes); the comment eats its line end and the
# next line's indentation, as TeX does ("word%\n  word" is one word).
COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%[^\n]*(?:\n[ \t]*)?")
DIMENSION = r"\[\s*-?[\d.]+\s*(?:pt|em|ex|mm|cm|in|bp|pc|dd|sp|mu)\s*\]"
LINE_BREAK = re.compile(rf"\\\\\*?(?:\s*{DIMENSION})?|\\tabularnewline\b")


def strip_comments(source: str) -> str:
    return COMMENT.sub(lambda m: m.group(1), source)


def prepare(source: str) -> str:
    """A source as the renderer reads it: verbatim inert, comments stripped, escapes protected."""
    return protect(strip_comments(inert_verbatim(source)))


def protect(source: str) -> str:
    """`\\\\` to ROW_BREAK, then `\\{ \\} \\% \\& \\$ \\# \\_` to placeholders (in that order: `\\\\{` is a
    line break before a group, not an escaped brace)."""
    source = LINE_BREAK.sub(ROW_BREAK, source)
    return re.sub(r"\\([{}%&$#_])", lambda m: _ESCAPED[m.group(1)], source)


def to_literal(text: str) -> str:
    text = "".join(_INERT_LITERAL.get(ch, ch) for ch in text)
    return text.replace(ROW_BREAK, "\n").replace(PARAGRAPH, "\n")


def to_latex(text: str) -> str:
    """Placeholders back to LaTeX (a display equation is quoted as its source)."""
    text = "".join("\\" + _LITERAL[ch] if ch in _LITERAL else _INERT_LITERAL.get(ch, ch) for ch in text)
    return text.replace(ROW_BREAK, "\\\\").replace(PARAGRAPH, " ")


def _commented(source: str, position: int) -> bool:
    """True when `position` stands after an unescaped % on its line."""
    line = source[source.rfind("\n", 0, position) + 1 : position]
    return bool(re.search(r"(?<!\\)(?:\\\\)*%", line))


def inert_verbatim(source: str) -> str:
    """Verbatim environments and \\verb|...| with their content made inert (a listing's `\\section` or `%` is
    text): the environment keeps its markers, \\verb becomes a group."""

    def replace(match: re.Match[str]) -> str:
        if _commented(source, match.start()):
            return match.group(0)
        if match.group("inline") is not None:
            return "{" + "".join(_INERT.get(ch, ch) for ch in match.group("inline")) + "}"
        body = "".join(_INERT.get(ch, ch) for ch in match.group("body"))
        return match.group("begin") + body + match.group("end")

    return VERBATIM_SOURCE.sub(replace, source)


# --- reading arguments ----------------------------------------------------------------------------------


def skip_spaces(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\n\r":
        i += 1
    return i


def read_group(s: str, i: int) -> tuple[str, int] | None:
    """The content of the brace group at `i` (after spaces) and the index after it; None when there is none.
    An unclosed group runs to the end."""
    i = skip_spaces(s, i)
    if i >= len(s) or s[i] != "{":
        return None
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1 : j], j + 1
    return s[i + 1 :], len(s)


def read_optional(s: str, i: int, open_: str = "[", close: str = "]") -> tuple[str, int] | None:
    """An optional argument `[...]` (braces inside may hold brackets) at `i`, after spaces."""
    i = skip_spaces(s, i)
    if i >= len(s) or s[i] != open_:
        return None
    depth = 0
    for j in range(i + 1, len(s)):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
        elif s[j] == close and depth <= 0:
            return s[i + 1 : j], j + 1
    return None


def read_argument(s: str, i: int) -> tuple[str, int] | None:
    """A mandatory argument: a brace group, a control sequence, or one character."""
    group = read_group(s, i)
    if group is not None:
        return group
    i = skip_spaces(s, i)
    if i >= len(s) or s[i] == "}":
        return None
    if s[i] == "\\":
        match = re.match(r"\\(?:[A-Za-z]+|.)", s[i:], re.S)
        assert match is not None
        return match.group(0), i + match.end()
    return s[i], i + 1


def read_args(s: str, i: int, spec: str) -> tuple[list[str | None], int]:
    """Arguments by an xparse-like spec: o = [optional], m = mandatory, s = a star, p = (parenthesised)."""
    found: list[str | None] = []
    for kind in spec:
        if kind == "s":
            star = s.startswith("*", i)
            found.append("*" if star else None)
            i += star
            continue
        read = {"o": read_optional, "m": read_argument, "p": lambda t, j: read_optional(t, j, "(", ")")}[kind](s, i)
        if read is None:
            found.append(None)
            if kind == "m":
                break
            continue
        found.append(read[0])
        i = read[1]
    return found, i


def find_env_end(s: str, name: str, i: int) -> tuple[int, int]:
    """(end of the content, index after `\\end{name}`) for an environment whose content starts at `i`;
    nested environments of the same name are skipped. Unclosed: runs to the end."""
    marker = re.compile(rf"\\(begin|end)\s*\{{{re.escape(name)}\}}")
    depth = 1
    for match in marker.finditer(s, i):
        depth += 1 if match.group(1) == "begin" else -1
        if depth == 0:
            return match.start(), match.end()
    return len(s), len(s)


def split_top_level(s: str, separator: str) -> list[str]:
    """`s` split on `separator` where it stands outside braces and nested environments."""
    parts, depth, envs, start = [], 0, 0, 0
    for match in re.finditer(r"\\begin\s*\{[^}]*\}|\\end\s*\{[^}]*\}|[{}]|" + re.escape(separator), s):
        token = match.group(0)
        if token.startswith("\\begin"):
            envs += 1
        elif token.startswith("\\end"):
            envs = max(0, envs - 1)
        elif token == "{":
            depth += 1
        elif token == "}":
            depth = max(0, depth - 1)
        elif depth == 0 and envs == 0:
            parts.append(s[start : match.start()])
            start = match.end()
    parts.append(s[start:])
    return parts


# --- vocabulary -------------------------------------------------------------------------------------------

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "varpi": "ϖ", "rho": "ρ", "varrho": "ϱ", "sigma": "σ", "varsigma": "ς", "tau": "τ",
    "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ",
    "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ",
    "Omega": "Ω",
}
MATH_SYMBOLS = GREEK | {
    "times": "×", "cdot": "·", "cdots": "···", "ldots": "...", "dots": "...", "leq": "≤", "le": "≤", "geq": "≥",
    "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼", "simeq": "≃", "propto": "∝", "equiv": "≡",
    "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩", "emptyset": "∅",
    "varnothing": "∅", "infty": "∞", "sum": "∑", "prod": "∏", "int": "∫", "partial": "∂", "nabla": "∇",
    "forall": "∀", "exists": "∃", "to": "→", "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒",
    "mapsto": "↦", "leftrightarrow": "↔", "ell": "ℓ", "pm": "±", "mp": "∓", "top": "⊤", "intercal": "⊤",
    "bot": "⊥", "odot": "⊙", "oplus": "⊕", "otimes": "⊗", "circ": "∘", "ast": "*", "star": "⋆",
    "dagger": "†", "ddagger": "‡", "prime": "′", "mid": "|", "vert": "|", "Vert": "‖",
    "langle": "⟨", "rangle": "⟩", "lceil": "⌈", "rceil": "⌉", "lfloor": "⌊", "rfloor": "⌋",
    "setminus": "∖", "backslash": "\\", "wedge": "∧", "vee": "∨", "neg": "¬", "lnot": "¬", "gg": "≫",
    "ll": "≪", "triangleq": "≜", "coloneqq": "≔", "colon": ":", "checkmark": "✓",
}
TEXT_SYMBOLS = {
    "ldots": "...", "dots": "...", "textellipsis": "...", "textendash": "–", "textemdash": "—", "S": "§",
    "P": "¶", "dag": "†", "ddag": "‡", "textdagger": "†", "textdaggerdbl": "‡", "textasteriskcentered": "*",
    "ast": "*", "checkmark": "✓", "cmark": "✓", "xmark": "✗", "times": "×", "texttimes": "×", "pm": "±",
    "textpm": "±", "ss": "ß", "o": "ø", "O": "Ø", "aa": "å", "AA": "Å", "ae": "æ", "AE": "Æ", "oe": "œ",
    "OE": "Œ", "l": "ł", "L": "Ł", "i": "i", "j": "j", "LaTeX": "LaTeX", "TeX": "TeX", "BibTeX": "BibTeX",
    "textbackslash": "\\", "textasciitilde": "~", "textasciicircum": "^", "textless": "<", "textgreater": ">",
    "textbar": "|", "textbullet": "•", "copyright": "©", "textcopyright": "©", "textregistered": "®",
    "texttrademark": "™", "textdegree": "°", "degree": "°", "euro": "€", "textperthousand": "‰",
    "textquotedblleft": '"', "textquotedblright": '"', "textquoteleft": "'", "textquoteright": "'",
    "newline": "\n", "linebreak": "\n", "par": PARAGRAPH, "smallskip": "\n", "medskip": "\n",
    "bigskip": "\n", "quad": " ", "qquad": " ", "enspace": " ", "thinspace": " ", "space": " ",
    "textminus": "-", "textunderscore": "_", "slash": "/", "textsection": "§", "textparagraph": "¶",
} | {name: char for name, char in GREEK.items()} | {
    "leq": "≤", "geq": "≥", "approx": "≈", "sim": "∼", "rightarrow": "→", "to": "→", "infty": "∞",
}
# Accents: the command and the combining mark it puts on the next letter.
ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304", ".": "\u0307",
    "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328", "r": "\u030a", "d": "\u0323",
    "b": "\u0331",
}
SPACES = {",": " ", ";": " ", ":": " ", " ": " ", "!": "", "/": "", "@": "", "-": "", ">": " "}
# Commands whose arguments print nothing, by xparse-like spec (o optional, m mandatory, s star).
DROPPED = {
    "label": "m", "vspace": "sm", "hspace": "sm", "vskip": "", "hskip": "", "includegraphics": "som",
    "bibliographystyle": "m", "nocite": "m", "color": "om", "cellcolor": "om", "rowcolor": "om",
    "columncolor": "om", "definecolor": "mmm", "setlength": "mm", "addtolength": "mm", "setcounter": "mm",
    "addtocounter": "mm", "stepcounter": "m", "refstepcounter": "m", "addcontentsline": "mmm", "thanks": "m",
    "author": "om", "affiliation": "om", "affil": "om", "email": "m", "institute": "m", "institution": "m",
    "orcid": "m", "authornote": "m", "authornotemark": "o", "keywords": "m", "ccsdesc": "om",
    "acmConference": "ommm", "acmBooktitle": "m", "acmDOI": "m", "acmISBN": "m", "acmPrice": "m",
    "acmYear": "m", "acmMonth": "m", "acmVolume": "m", "acmNumber": "m", "acmArticle": "m", "acmJournal": "m",
    "copyrightyear": "m", "setcopyright": "m", "settopmatter": "m", "received": "om", "title": "om",
    "subtitle": "m", "date": "m", "titlenote": "m", "shorttitle": "m", "shortauthors": "m", "maketitle": "",
    "phantom": "m", "hphantom": "m", "vphantom": "m", "rule": "omm", "pagestyle": "m", "thispagestyle": "m",
    "newpage": "", "clearpage": "", "cleardoublepage": "", "pagebreak": "o", "nopagebreak": "o", "centering": "",
    "raggedright": "", "raggedleft": "", "noindent": "", "indent": "", "index": "m", "hypersetup": "m",
    "captionsetup": "om", "usepackage": "om", "RequirePackage": "om", "documentclass": "om", "footnotemark": "o",
    "linespread": "m", "fontsize": "mm", "selectfont": "", "normalsize": "", "small": "", "footnotesize": "",
    "scriptsize": "", "tiny": "", "large": "", "Large": "", "LARGE": "", "huge": "", "Huge": "", "bf": "",
    "it": "", "em": "", "rm": "", "sf": "", "tt": "", "sc": "", "sl": "", "bfseries": "", "itshape": "",
    "mdseries": "", "rmfamily": "", "sffamily": "", "ttfamily": "", "scshape": "", "upshape": "", "normalfont": "",
    "boldmath": "", "unboldmath": "", "xspace": "", "protect": "", "relax": "", "null": "", "hfill": "",
    "vfill": "", "hline": "", "toprule": "o", "midrule": "o", "bottomrule": "o", "cline": "m",
    "cmidrule": "opm", "addlinespace": "o", "strut": "", "mathstrut": "", "displaystyle": "", "textstyle": "",
    "scriptstyle": "", "limits": "", "nolimits": "", "nonumber": "", "notag": "", "allowbreak": "",
    "IEEEpeerreviewmaketitle": "", "IEEEoverridecommandlockouts": "", "twocolumn": "o", "onecolumn": "",
    "balance": "", "appendix": "", "tableofcontents": "", "printccsdesc": "", "bibliography": "m",
    "printbibliography": "o", "arraystretch": "", "tabcolsep": "", "extracolsep": "m", "fboxsep": "",
    "graphicspath": "m", "input": "m", "include": "m", "newtheorem": "smomo", "theoremstyle": "m", "sloppy": "",
    "looseness": "", "itemsep": "", "parskip": "", "topsep": "", "ignorespaces": "", "unskip": "",
    "leavevmode": "", "makeatletter": "", "makeatother": "", "frenchspacing": "", "nolinenumbers": "",
    "linenumbers": "", "let": "mm", "setuptable": "m", "acmSubmissionID": "m",
    "icmlauthor": "mm", "icmlaffiliation": "mm", "icmlcorrespondingauthor": "mm", "icmlkeywords": "m",
    "icmltitle": "m", "icmltitlerunning": "m", "printAffiliationsAndNotice": "m", "runningtitle": "m",
    "runningauthor": "m", "authorrunning": "m", "titlerunning": "m", "tnotetext": "om", "fntext": "om",
    "cortext": "om", "address": "om", "ead": "om", "tnoteref": "m", "fnref": "m", "corref": "m",
    "Description": "om", "citestyle": "m", "AtBeginDocument": "m", "AtEndDocument": "m",
}
# Commands whose leading arguments print nothing; the argument after them is the text.
PREFIXED = {
    "textcolor": "om", "colorbox": "om", "fcolorbox": "omm", "href": "m", "bibinfo": "m", "bibfield": "m",
    "parbox": "ooom", "resizebox": "smm", "scalebox": "mo", "rotatebox": "om", "raisebox": "moo",
    "makebox": "oo", "framebox": "oo", "captionof": "m", "multicolumn": "mm", "multirow": "omomo",
    "adjustbox": "m", "setcellgapes": "m", "SetCell": "om", "hyperref": "o", "hyperlink": "m", "hypertarget": "m",
    "foreignlanguage": "om", "rlap": "", "llap": "", "smash": "o", "caption": "so",
    "subcaption": "so", "IEEEPARstart": "", "section": "so", "subsection": "so", "subsubsection": "so",
    "paragraph": "so", "textsuperscript": "", "textsubscript": "", "num": "o", "tablenum": "o",
}
# Wrappers whose argument is printed as-is in math too (a math font, an accent, `\text`).
WRAPPERS = frozenset(
    "mathbf mathrm mathcal mathbb mathit mathsf mathtt mathfrak mathscr mathnormal boldsymbol bm pmb hat "
    "widehat tilde widetilde bar overline underline vec dot ddot check breve acute grave mathring "
    "overrightarrow overleftarrow underbrace overbrace textbf textit textsc textsl textup textmd textsf texttt "
    "emph uline uuline sout xout textnormal textrm mbox hbox fbox text texttt makecell shortstack operatorname "
    "mathop mathrel mathbin mathord mathopen mathclose mathpunct mathchoice thead Centerstack "
    "underset overset stackrel".split()
)
TWO_ARGUMENT_SETS = frozenset({"underset", "overset", "stackrel"})  # \underset{below}{symbol}: print the symbol
CITE_COMMANDS = frozenset(
    "cite citep citet citealp citealt citeauthor citeyear citeyearpar parencite textcite autocite footcite "
    "Cite Citep Citet Citealp Citeauthor citenum shortcite citeN cites supercite".split()
)
REF_COMMANDS = frozenset("ref eqref autoref cref Cref pageref nameref vref Vref subref labelcref".split())
KIND_NAMES = {"section": "Section", "table": "Table", "figure": "Figure", "equation": "Eq.", "algorithm": "Algorithm"}
BLOCK_COMMANDS = frozenset(
    "State Statex Require Ensure Return Input Output If ElsIf Else EndIf For ForAll EndFor While EndWhile "
    "Repeat Until Function EndFunction Procedure EndProcedure Loop EndLoop KwIn KwOut KwData KwResult".split()
)
DROPPED_ENVIRONMENTS = frozenset(
    "comment CCSXML tikzpicture pgfpicture picture axis filecontents filecontents* IEEEkeywords keywords "
    "thebibliography IEEEbiography IEEEbiographynophoto".split()
)
# Code and configuration listings, printed as typed (their arguments print nothing)
VERBATIM_ENVIRONMENTS = {"verbatim": "", "verbatim*": "", "Verbatim": "o", "lstlisting": "o", "minted": "om"}
MATH_ENVIRONMENTS = frozenset(
    "math displaymath equation equation* align align* aligned gather gather* gathered multline multline* "
    "eqnarray eqnarray* flalign flalign* alignat alignat* split cases dcases array matrix pmatrix bmatrix "
    "vmatrix Vmatrix smallmatrix subequations".split()
)
TABULAR_ENVIRONMENTS = {"tabular": "om", "tabular*": "mom", "tabularx": "mom", "tabulary": "mom", "longtable": "om",
                        "longtable*": "om", "NiceTabular": "om", "tblr": "m", "supertabular": "om", "xtabular": "om"}
# Environment arguments that print nothing (`\begin{minipage}[t]{0.5\linewidth}`).
ENVIRONMENT_ARGS = {
    "minipage": "ooom", "wrapfigure": "omom", "wraptable": "omom", "adjustbox": "m", "multicols": "mo",
    "spacing": "m", "subtable": "om", "subfigure": "om", "threeparttable": "o", "tablenotes": "o",
    "list": "mm", "description": "o", "itemize": "o", "enumerate": "o", "algorithmic": "o", "algorithm": "o",
    "table": "o", "table*": "o", "figure": "o", "figure*": "o", "center": "", "flushleft": "", "flushright": "",
}
SCIENTIFIC = re.compile(
    r"(?P<a>\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|×|\\!\s*\\times)\s*10\s*\^\s*"
    r"(?:\{\s*(?P<s1>[-−+]?)\s*(?P<k1>\d+)\s*\}|(?P<k2>\d))"
)
POWER_OF_TEN = re.compile(r"(?<![\d.])10\s*\^\s*(?:\{\s*(?P<s1>[-−+]?)\s*(?P<k1>\d+)\s*\}|(?P<s2>-?)(?P<k2>\d))")
# "10$^{-4}$", "5$\times 10^{-3}$" in running text: the number belongs inside the math
SPLIT_POWER = re.compile(r"(?P<n>(?<![\d.])\d+(?:\.\d+)?)\s*\$\s*(?P<m>(?:\^\s*\{?\s*-?\s*\d+\s*\}?|\\times\s*10\s*\^"
                         r"\s*\{?\s*-?\s*\d+\s*\}?))\s*\$")
TEXT_POWER = re.compile(r"(?<![\d.])10\s*\\textsuperscript\s*\{\s*(?P<k>[-−]?\d+)\s*\}")
MARKERS = {"*": "*", "∗": "*", "†": "†", "‡": "‡", "§": "§", "¶": "¶", "′": "′", "'": "′", "+": "+", "-": "-"}


def is_known_command(name: str) -> bool:
    """A command the renderer prints by itself (a `\\providecommand` of it changes nothing)."""
    return any(name in table for table in (TEXT_SYMBOLS, MATH_SYMBOLS, DROPPED, PREFIXED, WRAPPERS, ACCENTS)) or \
        name in TexRenderer._handlers


def _power(sign: str, digits: str) -> str:
    exponent = int(digits)
    if sign in ("-", "−"):
        return f"1e-{exponent}"
    return str(10**exponent) if exponent <= 9 else f"1e{exponent}"


def _scientific(match: re.Match[str]) -> str:
    sign, digits = match.group("s1") or "", match.group("k1") or match.group("k2")
    mantissa = match.group("a")
    if sign in ("-", "−"):
        return f"{mantissa}e-{int(digits)}"
    value = float(mantissa) * 10 ** int(digits)
    return str(int(value)) if value.is_integer() and value < 1e12 else f"{mantissa}e{int(digits)}"


def numbers_in_math(source: str) -> str:
    """'10^{-4}' -> '1e-4', '5\\times 10^{-3}' -> '5e-3', '10^{3}' -> '1000', '1{,}024' -> '1,024'."""
    source = SCIENTIFIC.sub(_scientific, source)
    source = POWER_OF_TEN.sub(lambda m: _power(m.group("s1") or m.group("s2") or "", m.group("k1") or m.group("k2")),
                              source)
    return source.replace("{,}", ",")


def _join_split_powers(source: str) -> str:
    source = SPLIT_POWER.sub(lambda m: f"${m.group('n')}{m.group('m')}$", source)
    return TEXT_POWER.sub(lambda m: _power("-" if m.group("k").startswith(("-", "−")) else "", m.group("k")
                                           .lstrip("-−")), source)


# --- rendering --------------------------------------------------------------------------------------------


@dataclass
class TexContext:
    """What a rendered text refers to: label -> (kind, number), bibliography keys in printed order."""

    labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    citation_order: list[str] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    _numbers: dict[str, int] = field(default_factory=dict)

    def citation(self, key: str) -> int:
        """The reference number printed for `key`: its place in the bibliography, else in order of first use."""
        if not self._numbers:
            self._numbers = {k: n for n, k in enumerate(self.citation_order, start=1)}
        if key not in self._numbers:
            self._numbers[key] = len(self._numbers) + 1
        return self._numbers[key]

    def reference(self, key: str, command: str) -> str:
        kind, number = self.labels.get(key, ("", "?"))
        if command == "eqref" or (kind == "equation" and command in ("cref", "Cref", "autoref")):
            number = f"({number})"
        if command in ("autoref", "cref", "Cref", "vref", "Vref") and kind in KIND_NAMES:
            return f"{KIND_NAMES[kind]} {number}"
        return "?" if command in ("pageref",) else number


class TexRenderer:
    """Renders protected LaTeX (see `protect`) as reader text, resolving citations and references in `context`."""

    def __init__(self, context: TexContext | None = None) -> None:
        self.context = context or TexContext()

    # public entry points

    def paragraphs(self, source: str) -> str:
        """Running text: a blank line separates paragraphs (one output line each), a line end is a space."""
        source = re.sub(r"\n[ \t]*\n\s*", PARAGRAPH, source).replace("\n", " ")
        return tidy(self.render(_join_split_powers(source)))

    def cell(self, source: str) -> str:
        """A table cell, caption or title: one line."""
        return re.sub(r"\s+", " ", tidy(self.render(_join_split_powers(source)))).strip()

    def render(self, source: str, math: bool = False) -> str:
        out: list[str] = []
        special = _MATH_SPECIAL if math else _TEXT_SPECIAL
        i = 0
        while i < len(source):
            match = special.search(source, i)
            if match is None:
                out.append(source[i:])
                break
            out.append(source[i : match.start()])
            text, i = self._special(source, match.start(), math)
            out.append(text)
        return "".join(out)

    # one special character

    def _special(self, s: str, i: int, math: bool) -> tuple[str, int]:
        char = s[i]
        if char == "{":
            group = read_group(s, i)
            assert group is not None
            return self.render(group[0], math), group[1]
        if char == "}":
            return "", i + 1
        if char == "~":
            return " ", i + 1
        if char == ROW_BREAK:
            return (" " if math else "\n"), i + 1
        if char == "$":
            return self._inline_math(s, i, math)
        if char in "^_":
            return self._script(s, i)
        if char == "&":
            return " ", i + 1
        return self._command(s, i, math)

    def _inline_math(self, s: str, i: int, math: bool) -> tuple[str, int]:
        if math:
            return "", i + 1
        delimiter = "$$" if s.startswith("$$", i) else "$"
        end = s.find(delimiter, i + len(delimiter))
        if end < 0:
            return "", i + len(delimiter)
        return math_to_text(s[i + len(delimiter) : end], self), end + len(delimiter)

    def _script(self, s: str, i: int) -> tuple[str, int]:
        argument = read_argument(s, i + 1)
        if argument is None:
            return "", i + 1
        text = self.render(argument[0], math=True).strip()
        if s[i] == "_":
            return text, argument[1]
        if text and all(ch in MARKERS for ch in text):  # "0.18$^{**}$", "$^\dagger$"
            return "".join(MARKERS[ch] for ch in text), argument[1]
        if len(text) <= 1 or (text.startswith("(") and text.endswith(")")):
            return f"^{text}", argument[1]
        return f"^({text})", argument[1]

    def _command(self, s: str, i: int, math: bool) -> tuple[str, int]:
        match = _CONTROL.match(s, i)
        if match is None:
            return "", i + 1
        name, end = match.group(1), match.end()
        if len(name) == 1 and not name.isalpha():
            return self._symbol_command(s, name, end, math)
        handler = self._handlers.get(name)
        if handler is not None:
            return handler(self, s, name, end, math)
        if name in ACCENTS:
            return self._accent(s, name, end)
        if name in WRAPPERS:
            return self._wrapper(s, name, end, math)
        if name in DROPPED:
            return "", read_args(s, end, DROPPED[name])[1]
        if name in PREFIXED:
            return "", read_args(s, end, PREFIXED[name])[1]
        if name in BLOCK_COMMANDS:
            return ("\n" if not math else " "), end
        symbols = MATH_SYMBOLS if math else TEXT_SYMBOLS
        if name in symbols:
            return symbols[name], end
        return (name if math else ""), end  # an unknown operator in math (\log, \softmax) prints its name

    def _symbol_command(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        if name in ACCENTS and not math:
            return self._accent(s, name, end)
        if name in SPACES:
            return SPACES[name], end
        if name == "(":
            close = s.find("\\)", end)
            close = len(s) if close < 0 else close
            return math_to_text(s[end:close], self), min(len(s), close + 2)
        if name == "[":
            close = s.find("\\]", end)
            close = len(s) if close < 0 else close
            return math_to_text(s[end:close], self), min(len(s), close + 2)
        if name in (")", "]"):
            return "", end
        if name == "|":
            return "‖", end
        return name, end

    def _accent(self, s: str, name: str, end: int) -> tuple[str, int]:
        argument = read_argument(s, end)
        if argument is None:
            return "", end
        letter = self.render(argument[0]).strip()
        if not letter:
            return "", argument[1]
        return unicodedata.normalize("NFC", letter[0] + ACCENTS[name] + letter[1:]), argument[1]

    def _wrapper(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (_, _, argument), after = read_args(s, end, "som")
        if argument is None:
            return "", after
        if name in TWO_ARGUMENT_SETS:
            second = read_argument(s, after)
            if second is None:
                return self.render(argument, math), after
            return self.render(second[0], math), second[1]
        text_mode = name in ("text", "mbox", "hbox", "textrm", "textnormal", "textit", "textbf", "emph", "texttt")
        return self.render(argument, math and not text_mode), after

    # commands with their own handling

    def _cite(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (_, _, _, keys), after = read_args(s, end, "soom")
        if not keys:
            return "", after
        numbers = [str(self.context.citation(key.strip())) for key in keys.split(",") if key.strip()]
        return f"[{', '.join(numbers)}]", after

    def _ref(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (_, keys), after = read_args(s, end, "sm")
        if keys is None:
            return "", after
        found = [self.context.reference(key.strip(), name) for key in keys.split(",") if key.strip()]
        return ", ".join(found), after

    def _footnote(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (_, text), after = read_args(s, end, "om")
        if text:
            self.context.footnotes.append(self.cell(text))
        return "", after

    def _item(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        label = read_optional(s, end)
        if label is None:
            return "\n• ", end
        return f"\n{self.cell(label[0])} ", label[1]

    def _begin(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        group = read_group(s, end)
        if group is None:
            return "", end
        environment, start = group[0].strip(), group[1]
        if environment in DROPPED_ENVIRONMENTS:
            return "", find_env_end(s, environment, start)[1]
        if environment in VERBATIM_ENVIRONMENTS:
            content_end, after = find_env_end(s, environment, start)
            options = s.startswith(("[", "{"), start)  # not when `inert_verbatim` took them with the \begin
            content = s[read_args(s, start, VERBATIM_ENVIRONMENTS[environment])[1] if options else start : content_end]
            return "\n" + to_literal(content) + "\n", after
        if environment in MATH_ENVIRONMENTS:
            content_end, after = find_env_end(s, environment, start)
            content = s[start:content_end]
            if environment == "array":  # its column spec prints nothing
                content = content[read_args(content, 0, "om")[1] :]
            return (self.render(content, True) if math else math_to_text(content, self)), after
        if environment in TABULAR_ENVIRONMENTS:
            content_end, after = find_env_end(s, environment, start)
            content = s[read_args(s, start, TABULAR_ENVIRONMENTS[environment])[1] : content_end]
            return " ".join(self.cell(cell) for row in split_top_level(content, ROW_BREAK)
                            for cell in split_top_level(row, "&")), after
        return ("" if math else "\n"), read_args(s, start, ENVIRONMENT_ARGS.get(environment, ""))[1]

    def _end(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        group = read_group(s, end)
        return ("" if math else "\n"), (group[1] if group else end)

    def _fraction(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (top, bottom), after = read_args(s, end, "mm")
        parts = [self.render(part or "", True).strip() for part in (top, bottom)]
        parts = [p if re.fullmatch(r"[\w.′]*", p) else f"({p})" for p in parts]
        return "/".join(parts), after

    def _root(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (_, radicand), after = read_args(s, end, "om")
        text = self.render(radicand or "", True).strip()
        return (f"√{text}" if re.fullmatch(r"[\w.]*", text) else f"√({text})"), after

    def _sized_delimiter(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        if s.startswith(".", end):
            return "", end + 1  # \left. prints nothing
        return "", end

    def _literal(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        argument = read_group(s, end)
        return (to_literal(argument[0]), argument[1]) if argument else ("", end)

    def _skip_dimension(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        match = _DIMENSION_AFTER.match(s, end)
        return "", (match.end() if match else end)

    def _character(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        match = re.compile(r"\s*(?:'([0-7]+)|\"([0-9A-Fa-f]+)|(\d+))").match(s, end)
        if match is None:
            return "", end
        octal, hexadecimal, decimal = match.groups()
        code = int(octal, 8) if octal else int(hexadecimal, 16) if hexadecimal else int(decimal)
        return (chr(code) if 0 < code < 0x110000 else ""), match.end()

    def _diagonal(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (_, first, second), after = read_args(s, end, "omm")
        return " / ".join(self.render(part, math).strip() for part in (first, second) if part), after

    def _si(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        (_, value, _), after = read_args(s, end, "omm")
        return self.render(numbers_in_math(value or ""), True), after

    def _math_wrapper(self, s: str, name: str, end: int, math: bool) -> tuple[str, int]:
        argument = read_argument(s, end)
        if argument is None:
            return "", end
        return math_to_text(argument[0], self), argument[1]

    _handlers: dict[str, Callable[[TexRenderer, str, str, int, bool], tuple[str, int]]] = {}


_DIMENSION_AFTER = re.compile(
    r"\s*=?\s*-?\s*(?:[\d.]+\s*(?:pt|em|ex|mm|cm|in|bp|pc|dd|sp|mu|fil+)|\\[A-Za-z]+)"
    r"(?:\s*(?:plus|minus)\s*-?[\d.]+\s*(?:pt|em|ex|mm|cm|in|bp|pc|dd|sp|mu|fil+))*"
)
_CONTROL = re.compile(r"\\([A-Za-z]+|.)", re.S)
_TEXT_SPECIAL = re.compile(rf"[\\{{}}$~{ROW_BREAK}]")
_MATH_SPECIAL = re.compile(rf"[\\{{}}$~^_&{ROW_BREAK}]")

TexRenderer._handlers = (
    {name: TexRenderer._cite for name in CITE_COMMANDS}
    | {name: TexRenderer._ref for name in REF_COMMANDS}
    | {name: TexRenderer._footnote for name in ("footnote", "footnotetext", "tablefootnote")}
    | {name: TexRenderer._skip_dimension for name in (
        "kern", "mkern", "hskip", "vskip", "mskip", "raise", "lower", "moveleft", "moveright")}
    | {name: TexRenderer._sized_delimiter for name in (
        "left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
        "Biggl", "Biggr", "bigm", "Bigm")}
    | {"item": TexRenderer._item, "begin": TexRenderer._begin, "end": TexRenderer._end,
       "frac": TexRenderer._fraction, "dfrac": TexRenderer._fraction, "tfrac": TexRenderer._fraction,
       "sqrt": TexRenderer._root, "url": TexRenderer._literal, "nolinkurl": TexRenderer._literal,
       "path": TexRenderer._literal, "SI": TexRenderer._si,
       "char": TexRenderer._character,
       "diagbox": TexRenderer._diagonal, "backslashbox": TexRenderer._diagonal, "slashbox": TexRenderer._diagonal,
       "ensuremath": TexRenderer._math_wrapper}
)


def math_to_text(source: str, renderer: TexRenderer | None = None) -> str:
    """Inline math as readable text: numbers as the extractor reads them, symbols as unicode, scripts
    without braces ('L_2' -> 'L2', '0.18^{*}' -> '0.18*')."""
    renderer = renderer or TexRenderer()
    text = renderer.render(numbers_in_math(source), math=True)
    return re.sub(r"\s+", " ", text).strip()


def tidy(text: str) -> str:
    """Rendered text to lines: placeholders to characters, TeX dashes and quotes, spaces collapsed."""
    text = to_literal(text)
    text = text.replace("---", "—").replace("--", "–").replace("``", '"').replace("''", '"').replace("`", "'")
    lines = []
    for line in text.split("\n"):
        line = re.sub(r"[ \t\u00a0]+", " ", line).strip()
        line = re.sub(r"(?<=\S) +([,.;:])(?=\s|$)", r"\1", line)  # the space a dropped \label or \footnote left
        if line:
            lines.append(line)
    return "\n".join(lines)
