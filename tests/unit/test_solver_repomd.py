"""repomd.xml reading: the data files and their checksums, or a clear refusal."""

from __future__ import annotations

import pytest

from core.errors import FetchError
from solver.repomd import DataFile, parse_repomd

REPOMD = b"""<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="primary">
    <checksum type="sha256">aa11</checksum>
    <open-checksum type="sha256">bb22</open-checksum>
    <location href="repodata/aa11-primary.xml.zst"/>
  </data>
  <data type="filelists">
    <checksum type="sha512">cc33</checksum>
    <location href="repodata/cc33-filelists.xml.xz"/>
  </data>
  <data type="other"><location href="repodata/x-other.xml.gz"/></data>
</repomd>
"""


def test_data_files_and_their_checksums() -> None:
    assert parse_repomd(REPOMD, where="repo 'r'") == (
        DataFile("primary", "repodata/aa11-primary.xml.zst", "sha256:aa11"),
        DataFile("filelists", "repodata/cc33-filelists.xml.xz", "sha512:cc33"),
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (b"<html>404 not found", "not valid XML"),
        (REPOMD.replace(b'type="primary"', b'type="updateinfo"'), "lists no primary"),
    ],
)
def test_broken_repomd_is_refused_with_a_hint(text: bytes, needle: str) -> None:
    with pytest.raises(FetchError) as caught:
        parse_repomd(text, where="repo 'r'")
    assert str(caught.value).startswith("repo 'r': repomd.xml") and needle in str(caught.value)
    assert "strata cleanup --repomd" in str(caught.value.hint)
