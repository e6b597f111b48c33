"""prepbench.document: the same blocks as Markdown and as self-contained HTML."""

import base64

import pytest

from prepbench.document import Document


def sample() -> Document:
    d = Document()
    d.h(1, "Title")
    d.p("First line  \nsecond line with `code` and **bold**")
    d.ul(["one", "two"])
    d.ul([])  # nothing
    d.code("a | b")
    d.table(["key", "value"], [["a|b", 1.5], ["multi\nline", 2]], align="lr")
    return d


def test_markdown_separates_blocks_by_one_blank_line_and_ends_in_a_newline():
    assert sample().markdown() == (
        "# Title\n\n"
        "First line  \nsecond line with `code` and **bold**\n\n"
        "- one\n- two\n\n"
        "```\na | b\n```\n\n"
        "| key | value |\n|---|---:|\n| a\\|b | 1.5 |\n| multi line | 2 |\n"
    )


def test_images_with_and_without_a_caption():
    d = Document()
    d.img("figures/a.png", "What it shows")
    d.img("figures/b.png", "alt only", caption=False)
    assert d.markdown() == "![What it shows](figures/a.png)\n\n*What it shows*\n\n![alt only](figures/b.png)\n"


def test_a_table_refuses_an_alignment_of_the_wrong_length():
    with pytest.raises(ValueError, match="align='l' has 1 letters; expected one per column \\(2\\)"):
        Document().table(["a", "b"], [], align="l")


def test_extend_appends_another_documents_blocks():
    a, b = Document(), Document()
    a.p("a")
    b.p("b")
    a.extend(b)
    assert a.markdown() == "a\n\nb\n"


def test_html_is_self_contained_and_renders_inline_marks(tmp_path):
    (tmp_path / "figures").mkdir()
    png = b"\x89PNG fake bytes"
    (tmp_path / "figures" / "a.png").write_bytes(png)
    d = sample()
    d.img("figures/a.png", "A *figure* <here>")
    d.img("figures/a.png", "bare", caption=False)
    page = d.html(tmp_path, "T & co")
    assert page.startswith("<!DOCTYPE html>") and "<title>T &amp; co</title>" in page
    assert "<h1>Title</h1>" in page
    assert "First line<br>\nsecond line with <code>code</code> and <strong>bold</strong>" in page
    assert "<ul><li>one</li><li>two</li></ul>" in page
    assert "<pre><code>a | b</code></pre>" in page
    assert "<td>a|b</td><td>1.5</td>" in page
    assert base64.b64encode(png).decode() in page
    assert "<figcaption>A <em>figure</em> &lt;here&gt;</figcaption>" in page
    assert page.count("<figcaption>") == 1


def test_links_become_anchors_in_html():
    from prepbench.document import inline_html

    assert inline_html("open the [runs table](http://h:5000/#/x?a=1&b=2) now") == (
        'open the <a href="http://h:5000/#/x?a=1&amp;b=2">runs table</a> now'
    )
