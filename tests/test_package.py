"""Floors that hold for the whole package, not one module."""

from pathlib import Path

import prepbench

MAX_MODULE_LINES = 500  # past this a module holds more than one concern: split it by concern


def test_no_module_is_over_the_line_limit():
    package = Path(prepbench.__file__).parent
    lengths = {str(p.relative_to(package.parent)): len(p.read_text().splitlines()) for p in package.rglob("*.py")}
    too_long = {path: n for path, n in sorted(lengths.items()) if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
