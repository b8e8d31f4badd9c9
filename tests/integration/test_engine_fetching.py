"""Getting packages into the store once: digest index, cache reuse, --cache-only, local RPMs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import FetchError
from core.progress import QuietProgress
from core.store import Store
from fixtures.rpms import build_rpm
from layering.engine.fetching import (
    PackageFetcher,
    find_cached,
    keep_local_rpm,
    read_rpm_file,
    restore_local_rpm,
)
from solver import PackageRef
from solver.fetch import file_checksum
from tests.conftest import needs_rpmbuild
from tests.integration.engine_gpg_support import can_sign, make_key, private_copy, sign

pytestmark = needs_rpmbuild


def _ref(path: Path, **kw: object) -> PackageRef:
    info = read_rpm_file(path)
    fields: dict[str, object] = {
        "name": info.name,
        "epoch": 0,
        "version": "1.0",
        "release": "1",
        "arch": "x86_64",
        "nevra": info.nevra,
        "repo": "test",
        "location": path.as_uri(),
        "checksum": f"sha256:{info.file_sha256}",
    }
    fields.update(kw)
    return PackageRef(**fields)  # type: ignore[arg-type]


def _fetcher(store: Store, tmp: Path, **kw: object) -> PackageFetcher:
    return PackageFetcher(
        store,
        download_dir=tmp / "downloads",
        read_tree_file=lambda path: None,
        progress=QuietProgress(),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.init(tmp_path / "repo")


def test_second_obtain_reuses_the_cached_import_without_fetching(
    store: Store, tmp_path: Path
) -> None:
    rpm_path = build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"})
    ref = _ref(rpm_path)
    first = _fetcher(store, tmp_path).obtain([ref])
    assert (first.cached, first.downloaded) == (0, 1)
    assert first.packages[0].nevra == "fetchme-1.0-1.x86_64"
    assert not list((tmp_path / "downloads").glob("*.rpm")), "downloads are dropped after import"

    def no_network(*args: object, **kw: object) -> Path:
        raise AssertionError("a cached package must not be fetched")

    again = _fetcher(store, tmp_path, fetch_url=no_network).obtain([ref])
    assert (again.cached, again.downloaded) == (1, 0)
    assert again.packages == first.packages
    assert find_cached(store, ref.checksum) == first.packages[0]


def test_cache_only_refuses_to_download(store: Store, tmp_path: Path) -> None:
    ref = _ref(build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"}))
    with pytest.raises(FetchError, match="not in the cache"):
        _fetcher(store, tmp_path, cache_only=True).obtain([ref])
    assert store.refs("strata/") == {}


def test_download_only_then_cache_only(store: Store, tmp_path: Path) -> None:
    ref = _ref(build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"}))
    paths, cached = _fetcher(store, tmp_path).download([ref])
    assert cached == 0 and len(paths) == 1
    assert store.refs("strata/") == {}, "download-only imports nothing"
    got = _fetcher(store, tmp_path, cache_only=True).obtain([ref])
    assert got.packages[0].nevra == "fetchme-1.0-1.x86_64"


def test_wrong_digest_is_refused(store: Store, tmp_path: Path) -> None:
    ref = _ref(
        build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"}), checksum="sha256:" + "0" * 64
    )
    with pytest.raises(FetchError):
        _fetcher(store, tmp_path).obtain([ref])
    assert store.refs("strata/") == {}


def test_gpgcheck_without_a_signature_is_refused(store: Store, tmp_path: Path) -> None:
    ref = _ref(
        build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"}),
        gpgcheck=True,
        gpgkeys=("file:///etc/pki/rpm-gpg/KEY",),
    )
    with pytest.raises(FetchError, match="GPG key file:///etc/pki/rpm-gpg/KEY not found"):
        _fetcher(store, tmp_path).obtain([ref])
    assert store.refs("strata/pkg/") == {}


def test_local_rpm_survives_the_original_file(store: Store, tmp_path: Path) -> None:
    src = build_rpm("localone", files={"/usr/share/localone/a": "a\n"})
    copy = tmp_path / src.name
    copy.write_bytes(src.read_bytes())
    info = read_rpm_file(copy)
    keep_local_rpm(store, info)
    copy.unlink()
    back = restore_local_rpm(store, info.header_sha256, info.nevra, tmp_path)
    assert file_checksum(back) == info.file_sha256
    with pytest.raises(FetchError, match="no longer in the store"):
        restore_local_rpm(store, "f" * 64, "gone-1-1.x86_64", tmp_path)


def test_cached_package_is_verified_when_its_repo_now_asks_for_it(
    store: Store, tmp_path: Path
) -> None:
    rpm_path = build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"})
    _fetcher(store, tmp_path).obtain([_ref(rpm_path)])  # from a repo without gpgcheck
    strict = _ref(rpm_path, gpgcheck=True, gpgkeys=("file:///etc/pki/rpm-gpg/KEY",))
    with pytest.raises(FetchError, match="not found in the deployment"):
        _fetcher(store, tmp_path).obtain([strict])


@pytest.mark.skipif(not can_sign(), reason="rpmsign/gpg missing")
def test_signed_package_is_checked_once(store: Store, tmp_path: Path) -> None:
    public, _ = make_key(tmp_path / "gpg", "k@example.com")
    rpm_path = private_copy(build_rpm("signed", files={"/usr/share/signed/a": "a\n"}), tmp_path)
    sign(rpm_path, tmp_path / "gpg", "k@example.com")
    keys = {"/etc/pki/rpm-gpg/KEY": public}
    ref = _ref(rpm_path, gpgcheck=True, gpgkeys=("file:///etc/pki/rpm-gpg/KEY",))

    def fetcher(**kw: object) -> PackageFetcher:
        return PackageFetcher(
            store,
            download_dir=tmp_path / "downloads",
            read_tree_file=keys.get,
            progress=QuietProgress(),
            **kw,  # type: ignore[arg-type]
        )

    assert fetcher().obtain([ref]).downloaded == 1

    def no_network(*args: object, **kw: object) -> Path:
        raise AssertionError("a verified cached package must not be fetched again")

    assert fetcher(fetch_url=no_network).obtain([ref]).cached == 1


def test_a_package_missing_on_one_mirror_comes_from_the_next(store: Store, tmp_path: Path) -> None:
    rpm_path = build_rpm("mirrored", files={"/usr/share/mirrored/a": "a\n"})
    corrupt = tmp_path / "corrupt" / rpm_path.name
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\0" + rpm_path.read_bytes()[1:])
    missing = (tmp_path / "missing" / rpm_path.name).as_uri()
    ref = _ref(rpm_path, location=missing, mirrors=(corrupt.as_uri(), rpm_path.as_uri()))
    got = _fetcher(store, tmp_path).obtain([ref])
    assert got.packages[0].nevra == "mirrored-1.0-1.x86_64"
    assert (got.cached, got.downloaded) == (0, 1)

    store2 = Store.init(tmp_path / "repo2")
    dead = _ref(rpm_path, location=missing, mirrors=(corrupt.as_uri(),))
    with pytest.raises(FetchError) as caught:
        _fetcher(store2, tmp_path / "2").obtain([dead])
    message = str(caught.value)
    assert "Downloading mirrored-1.0-1.x86_64 from repo 'test': every mirror failed" in message
    assert missing in message and "no such file" in message
    assert corrupt.as_uri() in message and "checksum mismatch" in message
    assert not list((tmp_path / "2" / "downloads").glob("*"))


def test_a_metadata_name_with_a_path_writes_nothing_outside_the_cache(
    store: Store, tmp_path: Path
) -> None:
    """primary.xml named the package ``../../../../x/PWNED`` with a sha1 checksum: the
    download is named by a digest, and the name mismatch refuses the file."""
    rpm_path = build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"})
    hostile = "../../../../" + str(tmp_path.relative_to("/")) + "/outside/PWNED"
    ref = _ref(
        rpm_path,
        name=hostile,
        nevra=f"{hostile}-1.0-1.x86_64",
        checksum=f"sha1:{file_checksum(rpm_path, 'sha1')}",
    )
    (tmp_path / "outside").mkdir()
    with pytest.raises(FetchError) as caught:
        _fetcher(store, tmp_path).obtain([ref])
    assert "is not the package the metadata of repo 'test' describes" in str(caught.value)
    assert "the file is 'fetchme-1.0-1.x86_64'" in str(caught.value)
    assert not any((tmp_path / "outside").iterdir())
    assert not list((tmp_path / "downloads").iterdir())
    assert not list(store.refs("strata/")), "nothing was imported or indexed"


@pytest.mark.parametrize(
    "field", [{"name": "fetchother"}, {"version": "2.0"}, {"epoch": 1}, {"arch": "noarch"}]
)
def test_a_file_that_is_not_the_package_the_metadata_names_is_refused(
    store: Store, tmp_path: Path, field: dict[str, object]
) -> None:
    rpm_path = build_rpm("fetchme", files={"/usr/share/fetchme/a": "a\n"})
    with pytest.raises(FetchError, match="is not the package the metadata"):
        _fetcher(store, tmp_path).obtain([_ref(rpm_path, **field)])
    assert not list((tmp_path / "downloads").iterdir())
    assert find_cached(store, _ref(rpm_path).checksum) is None
