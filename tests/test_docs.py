"""The pages a reader meets (README.md, docs/*.md and the published studies' READMEs): every relative
link and image resolves, as GitHub renders them. A link's file must exist; a `#anchor` must name a
heading of its page by GitHub's slug rule (lower case, punctuation dropped, spaces to hyphens, a
repeated heading numbered -1, -2, ...)."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from prepbench import ROOT

PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "results").glob("*/README.md")],
    key=str,
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The page without code: links in code blocks and spans are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup gone, lower case, only letters, digits, spaces, hyphens
    and underscores kept, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def broken(page: Path) -> list[str]:
    problems = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = unquote(target).partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"{target}: {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file} does not exist")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            problems.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page):
    assert broken(page) == []


def test_the_slug_rule_is_githubs():
    assert slug("Data (`data=NAME`)") == "data-dataname"
    assert slug("The `converged` study: the answer") == "the-converged-study-the-answer"
    assert slug("C5: ZCA regularized as the literature does it") == "c5-zca-regularized-as-the-literature-does-it"
    assert slug("Speed (`python -m prepbench.bench`)") == "speed-python--m-prepbenchbench"


def test_a_broken_link_or_anchor_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_docs.ROOT", tmp_path)
    (tmp_path / "a.md").write_text("# Top\n## Two words\n## Two words\n")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#two-words-1) [ok](#here) `[not a link](nowhere.md)` [web](https://example.org)\n"
        "# Here\n[gone](gone.md) [bad anchor](a.md#three) ![figure](fig.png)\n"
    )
    assert broken(page) == [
        "gone.md: gone.md does not exist",
        "a.md#three: no heading #three in a.md",
        "fig.png: fig.png does not exist",
    ]


def test_the_front_page_is_short_and_shows_a_figure_that_exists():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 250
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert figures and all((ROOT / figure).exists() for figure in figures)
