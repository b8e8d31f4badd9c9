"""Property-based fuzzing of every parser of untrusted input.

Repository files and metadata come from mirrors, treefiles and origins from
disk anyone with root may have edited, boot entries from the boot partition,
RPM header fields from packages. Whatever the bytes, a parser returns a value or
raises the project's ``StrataError`` (a clear message for the user): never
another exception, which would reach the user as a traceback.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import solv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import PackageError, StrataError
from core.sysroot.bootloader import parse_entry
from core.sysroot.origin import Origin
from core.sysroot.textdecode import decode_text
from core.sysroot.tmpfiles import parse_tmpfiles
from layering.engine.treefile import parse as parse_treefile
from layering.rpm.pathrules import Kind, place
from layering.rpm.tmpfiles import TmpfilesLine
from solver.labels import check_label
from solver.mirrors import parse_metalink, parse_mirrorlist
from solver.repoconf import read_repo_file
from solver.repomd import parse_repomd
from solver.transaction import PoolInput, package_ref

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text shaped like each format, so the fuzzer gets past the first line often.
ini_like = st.lists(
    st.one_of(
        st.sampled_from(["[origin]", "[packages]", "[r]", "[", "]", "#", "=", "\\"]),
        st.builds(
            "{}={}".format,
            st.sampled_from(["refspec", "baserefspec", "requested", "baseurl", "timeout",
                             "minrate", "enabled", "gpgcheck", "gpgkey", "mirrorlist", "x"]),
            st.text(max_size=30),
        ),
        st.text(max_size=40),
    ),
    max_size=12,
).map("\n".join)  # fmt: skip
raw_bytes = st.binary(max_size=300)


def _ok_or_strata(call: object, *args: object, **kw: object) -> None:
    with contextlib.suppress(StrataError):
        call(*args, **kw)  # type: ignore[operator]


@FUZZ
@given(ini_like, st.dictionaries(st.sampled_from(["basearch", "releasever"]), st.text(max_size=8)))
def test_repo_files(text: str, variables: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.repo"
        path.write_text(text, errors="surrogateescape")
        _ok_or_strata(read_repo_file, path, variables)


@FUZZ
@given(st.one_of(raw_bytes, ini_like.map(lambda t: t.encode(errors="surrogateescape"))))
def test_repo_files_as_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.repo"
        path.write_bytes(data)
        _ok_or_strata(read_repo_file, path, {})


xml_text = st.text(max_size=20).map(escape)


@FUZZ
@given(st.one_of(raw_bytes, st.builds(
    '<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="{}"><location href="{}"/>'
    '<checksum type="{}">{}</checksum></data></repomd>'.format,
    st.sampled_from(["primary", "filelists", "x"]), xml_text,
    st.sampled_from(["sha256", "sha1", "md5", "crc"]), xml_text).map(str.encode)))  # fmt: skip
def test_repomd(data: bytes) -> None:
    _ok_or_strata(parse_repomd, data, where="fuzz")


@FUZZ
@given(raw_bytes)
def test_mirrorlists_and_metalinks(data: bytes) -> None:
    _ok_or_strata(parse_mirrorlist, data, url="https://m.example/list", repo_id="r")
    _ok_or_strata(parse_metalink, data, url="https://m.example/ml", repo_id="r")


@FUZZ
@given(st.tuples(xml_text, xml_text, xml_text, xml_text, xml_text, xml_text))
def test_primary_xml_through_libsolv_to_package_refs(fields: tuple[str, ...]) -> None:
    """A hostile primary.xml: libsolv takes what it takes; our reading of it refuses
    what is not a plain package identity."""
    name, epoch, version, release, arch, href = fields
    primary = (
        '<?xml version="1.0"?><metadata xmlns="http://linux.duke.edu/metadata/common" '
        'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1"><package type="rpm">'
        f"<name>{name}</name><arch>{arch}</arch>"
        f'<version epoch="{epoch}" ver="{version}" rel="{release}"/>'
        f'<checksum type="sha256" pkgid="YES">{"0" * 64}</checksum>'
        f'<location href="{href}"/><format/></package></metadata>'
    )
    pool = solv.Pool()
    pool.setarch("x86_64")
    repo = pool.add_repo("fuzz")
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(primary)
        f.flush()
        fp = solv.xfopen(f.name)
        repo.add_rpmmd(fp, None, 0)
        fp.close()
    for solvable in repo.solvables:
        try:
            ref = package_ref(solvable, PoolInput())
        except StrataError:
            continue
        for field in (ref.name, ref.version, ref.release, ref.arch):
            check_label(field, "field")  # what survives is a plain label


@FUZZ
@given(st.one_of(raw_bytes.map(lambda b: b.decode("utf-8", "replace")), st.builds(
    "kind: {}\nref: {}\npackages: {}\nrepos: {}\n{}".format,
    st.sampled_from(["", "x", "[a]"]), st.text(max_size=15),
    st.sampled_from(["[]", "[a, b]", "a", "{}", "[1]"]),
    st.sampled_from(["[]", "[r]", "r", "[..]"]), st.text(max_size=30))))  # fmt: skip
def test_treefiles(text: str) -> None:
    _ok_or_strata(parse_treefile, text, Path("/fuzz/treefile.yaml"))


@FUZZ
@given(st.one_of(ini_like, raw_bytes.map(lambda b: b.decode("latin-1"))))
def test_origin_files(text: str) -> None:
    _ok_or_strata(Origin.from_ini, text)


@FUZZ
@given(raw_bytes, st.sampled_from(["# x\n", "title x\n", "version 2\n", "options ostree=/a\n"]))
def test_bls_entries(data: bytes, prefix: str) -> None:
    def parse(blob: bytes) -> None:
        parse_entry(decode_text(blob, Path("e.conf")), None, name="e.conf")

    _ok_or_strata(parse, prefix.encode() + data)


@FUZZ
@given(st.text(max_size=40), st.text(max_size=40), st.sampled_from(["d", "L", "C", "f"]))
def test_tmpfiles_lines_we_write_read_back_to_the_same_path(
    name: str, target: str, kind: str
) -> None:
    path = "/var/lib/" + name
    line = TmpfilesLine(kind, path, 0o755, target="/usr/" + target)
    try:
        text = line.render()
    except PackageError:
        return
    parsed, warnings = parse_tmpfiles(text + "\n", "fuzz.conf")
    assert warnings == [] and len(parsed) == 1, text
    assert parsed[0].path == path, text
    if kind in "LC":
        assert parsed[0].argument == "/usr/" + target, text


@FUZZ
@given(st.text(max_size=60), st.sampled_from(list(Kind)), st.booleans())
def test_rpm_header_paths(path: str, kind: Kind, compose: bool) -> None:
    _ok_or_strata(place, path, kind, package="fuzz-1-1.x86_64", compose=compose)
    _ok_or_strata(check_label, path, "name")
