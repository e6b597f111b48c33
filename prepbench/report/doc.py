"""A small document model rendered to Markdown and to self-contained HTML (images inlined)."""

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


class Doc:
    """Blocks (headings, paragraphs, lists, code, tables, images) in order."""

    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(("h", level, text))

    def p(self, text):
        self.blocks.append(("p", text))

    def ul(self, items):
        if items:
            self.blocks.append(("ul", list(items)))

    def code(self, text):
        self.blocks.append(("code", text))

    def table(self, header, rows):
        self.blocks.append(("table", list(header), [list(map(str, r)) for r in rows]))

    def img(self, path, caption):
        self.blocks.append(("img", path, caption))

    def markdown(self) -> str:
        return "\n\n".join(_MD[b[0]](*b[1:]) for b in self.blocks) + "\n"

    def html(self, base: Path, title: str) -> str:
        body = "\n".join(_html_block(b, base) for b in self.blocks)
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
        )


def _md_table(header, rows) -> str:
    esc = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


_MD = {
    "h": lambda level, text: "#" * level + " " + text,
    "p": lambda text: text,
    "ul": lambda items: "\n".join(f"- {i}" for i in items),
    "code": lambda text: "```\n" + text + "\n```",
    "table": _md_table,
    "img": lambda path, caption: f"![{caption}]({path})\n\n*{caption}*",
}


def inline(text: str) -> str:
    """Markdown's inline code, bold and italics as HTML."""
    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<em>\1</em>", t)


def _html_block(b, base: Path) -> str:
    kind = b[0]
    if kind == "h":
        return f"<h{b[1]}>{inline(b[2])}</h{b[1]}>"
    if kind == "p":
        return f"<p>{inline(b[1])}</p>"
    if kind == "ul":
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in b[1]) + "</ul>"
    if kind == "code":
        return f"<pre><code>{html.escape(b[1])}</code></pre>"
    if kind == "table":
        head = "".join(f"<th>{inline(c)}</th>" for c in b[1])
        body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in b[2])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    data = base64.b64encode((base / b[1]).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(b[2])}" src="data:image/png;base64,{data}">'
        f"<figcaption>{inline(b[2])}</figcaption></figure>"
    )
