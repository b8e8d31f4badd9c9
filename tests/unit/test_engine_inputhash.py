"""The inputhash decides "No changes.": equal inputs must give equal digests, any change not."""

from __future__ import annotations

from layering.engine.origin_state import LocalPackage, Requests
from layering.engine.plan import LayerInfo, PackageAction, inputhash

BASE = "1" * 64
A = PackageAction("strace-6.1-1.x86_64", "sha256:" + "a" * 64)
B = PackageAction("libunwind-1.6.2-1.x86_64", "sha256:" + "b" * 64)


def _hash(**kw: object) -> str:
    args: dict[str, object] = {
        "base_commit": BASE,
        "requests": Requests(packages=("strace",)),
        "install": [A, B],
        "repomd": {"fedora": "c" * 64},
    }
    args.update(kw)
    return inputhash(**args)  # type: ignore[arg-type]


def test_order_of_inputs_does_not_matter() -> None:
    assert _hash() == _hash(install=[B, A], repomd=[("fedora", "c" * 64)])
    assert _hash(requests=Requests(packages=("a", "b"))) == _hash(
        requests=Requests(packages=("b", "a"))
    )


def test_each_input_changes_the_digest() -> None:
    reference = _hash()
    variants = [
        _hash(base_commit="2" * 64),
        _hash(requests=Requests(packages=("strace", "htop"))),
        _hash(install=[A]),
        _hash(install=[A, PackageAction(B.nevra, "sha256:" + "d" * 64)]),
        _hash(repomd={"fedora": "e" * 64}),
        _hash(remove=["vim-minimal-9-1.x86_64"]),
        _hash(requests=Requests(packages=("strace",), override_remove=("vim-minimal",))),
        _hash(
            requests=Requests(packages=("strace",), local=(LocalPackage("f" * 64, "x-1-1.noarch"),))
        ),
    ]
    assert len({reference, *variants}) == len(variants) + 1


def test_layer_info_round_trips_through_commit_metadata() -> None:
    info = LayerInfo(
        base_checksum=BASE,
        requested=("strace", "htop"),
        inactive=("htop",),
        layered=("strace-6.1-1.x86_64", "libunwind-1.6.2-1.x86_64"),
        package_digests=("a" * 64,),
        repomd=(("fedora", "c" * 64),),
        inputhash="d" * 64,
        version="38",
    )
    meta = info.to_metadata()
    assert meta["strata.base-checksum"] == BASE
    assert meta["version"] == "38"
    back = LayerInfo.from_metadata(meta)
    assert back is not None
    assert back.layered == ("libunwind-1.6.2-1.x86_64", "strace-6.1-1.x86_64")
    assert back.repomd == (("fedora", "c" * 64),)
    assert back.inputhash == "d" * 64
    assert LayerInfo.from_metadata({"version": "38"}) is None
