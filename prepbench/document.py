"""One small document model for every Markdown (and HTML) file prepbench writes.

    doc = Document()
    doc.h(1, "Title")
    doc.p("A paragraph; `code`, **bold** and *italic* work in both outputs.  \\nA hard line break.")
    doc.table(["ratio", "measured"], [["a", "1.0"]], align="lr")
    doc.img("figures/a.png", "What the figure shows")            # image, then its caption in italics
    doc.img("figures/b.png", "alt text", caption=False)           # the image alone
    doc.extend(other_document)                                     # append another document's blocks
    doc.markdown()                    # blocks separated by one blank line, ending in a newline
    doc.html(base_dir, "Title")       # self-contained HTML: images embedded from base_dir

Markdown table cells have `|` escaped and line breaks replaced by spaces.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f3f3f3}"
    "pre{background:#f6f6f6;padding:.7em;overflow-x:auto;font-size:.85em}"
    "img{max-width:100%}figcaption{font-size:.9em;color:#555}code{background:#f3f3f3}"
)
ALIGN = {"l": "---", "r": "---:", "c": ":---:"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def inline_html(text: str) -> str:
    """Markdown's inline marks (`code`, **bold**, *italic*, [links](url), a trailing-two-space line
    break) as HTML."""
    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<em>\1</em>", t)
    return t.replace("  \n", "<br>\n")


class Document:
    """An ordered list of blocks (headings, paragraphs, lists, code, tables, images)."""

    def __init__(self):
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def ul(self, items) -> None:
        """A bullet list; nothing for no items."""
        if items:
            self.blocks.append(("ul", list(items)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def table(self, header, rows, align: str | None = None) -> None:
        """align: one letter per column, l (default), r or c."""
        header = list(header)
        align = align or "l" * len(header)
        if len(align) != len(header):
            raise ValueError(f"align={align!r} has {len(align)} letters; expected one per column ({len(header)})")
        self.blocks.append(("table", header, [list(map(str, r)) for r in rows], align))

    def img(self, path: str, text: str, caption: bool = True) -> None:
        """An image with `text` as its alt text and, if `caption`, as its caption below it."""
        self.blocks.append(("img", path, text, caption))

    def extend(self, other: Document) -> None:
        self.blocks.extend(other.blocks)

    def markdown(self) -> str:
        return "\n\n".join(_markdown(b) for b in self.blocks) + "\n"

    def html(self, base: Path, title: str) -> str:
        body = "\n".join(_html(b, Path(base)) for b in self.blocks)
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><style>{CSS}</style></head><body>\n" + body + "\n</body></html>\n"
        )


def _markdown(block: tuple) -> str:
    kind = block[0]
    if kind == "h":
        return "#" * block[1] + " " + block[2]
    if kind == "p":
        return block[1]
    if kind == "ul":
        return "\n".join(f"- {item}" for item in block[1])
    if kind == "code":
        return "```\n" + block[1] + "\n```"
    if kind == "table":
        _, header, rows, align = block
        lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + "".join(ALIGN[a] + "|" for a in align)]
        return "\n".join(lines + ["| " + " | ".join(map(_cell, row)) + " |" for row in rows])
    _, path, text, caption = block  # img
    return f"![{text}]({path})" + (f"\n\n*{text}*" if caption else "")


def _html(block: tuple, base: Path) -> str:
    kind = block[0]
    if kind == "h":
        return f"<h{block[1]}>{inline_html(block[2])}</h{block[1]}>"
    if kind == "p":
        return f"<p>{inline_html(block[1])}</p>"
    if kind == "ul":
        return "<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in block[1]) + "</ul>"
    if kind == "code":
        return f"<pre><code>{html.escape(block[1])}</code></pre>"
    if kind == "table":
        _, header, rows, _ = block
        head = "".join(f"<th>{inline_html(c)}</th>" for c in header)
        body = "".join("<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    _, path, text, caption = block  # img
    data = base64.b64encode((base / path).read_bytes()).decode("ascii")
    figcaption = f"<figcaption>{inline_html(text)}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(text)}" src="data:image/png;base64,{data}">{figcaption}</figure>'
