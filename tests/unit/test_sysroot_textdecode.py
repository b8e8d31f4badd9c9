"""Sysroot text with bytes that are not UTF-8: tolerated where only displayed, else named."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.sysroot.textdecode import comment, decode_text


def test_utf8_text_is_returned_as_is() -> None:
    assert decode_text("title café\n".encode(), Path("x")) == "title café\n"


def test_a_latin1_comment_is_shown_with_a_replacement_character() -> None:
    text = decode_text(b"# caf\xe9\n[origin]\nrefspec=a\n", Path("x.origin"))
    assert text.splitlines() == ["# caf\ufffd", "[origin]", "refspec=a"]


def test_a_latin1_value_is_refused_naming_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        decode_text(b"[origin]\nrefspec=caf\xe9\n", Path("/s/d.origin"), error=ConfigError)
    assert str(caught.value).startswith("/s/d.origin:2 is not UTF-8 text: 'refspec=caf\ufffd'")


def test_what_counts_as_displayed_is_the_callers_choice() -> None:
    def title(line: str) -> bool:
        return comment(line) or line.startswith("title")

    assert decode_text(b"title caf\xe9\n", Path("e.conf"), displayed=title) == "title caf\ufffd\n"
