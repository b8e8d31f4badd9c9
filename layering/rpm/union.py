"""Base tree ∪ package trees, with rpm's rules for paths several packages provide.

The union itself is the store's TreeEditor.overlay (no file content is copied, and
untouched base directories keep their tree ids). Around it, the rules rpm applies
when two packages (or a package and the base) provide one path:

* identical files (content and metadata) are shared;
* a directory that exists keeps its metadata, unless the new package lists it and
  whoever placed it only made it as the parent of its files (chrony's
  ``/etc/dhcp/dhclient.d`` before dhcp-common's ``%dir %attr(0750) /etc/dhcp``):
  then the listed metadata wins, as rpm sets the metadata of every directory it lists;
* two files whose rpm *colours* differ (a 32-bit and a 64-bit ELF of a multilib
  pair) are no conflict: the preferred colour wins (64-bit, rpm's ``_prefer_color``
  2 on x86_64) and the other file is left out, as rpm marks it "wrong color";
* a package allowed to replace files (``--force-replacefiles``, as rpm's
  ``--replacefiles``) wins over whatever provides the path, base or layered;
* anything else is a ConflictError naming both packages, found before any overlay so
  the message can name the base package (from the base rpmdb's file lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.errors import ConflictError, PackageError
from core.store import Entry, EntryKind, FileMeta, Store, TreeEditor
from layering.rpm import pathrules, tmpfiles
from layering.rpm.headers import Header, nevra
from layering.rpm.importer import ImportedPackage, PackageFile, package_files

PREFERRED_COLOR = 2  # rpm's %_prefer_color on 64-bit hosts: ELF64 wins over ELF32


def tree_paths(hdr: Header) -> list[tuple[str, PackageFile]]:
    """(tree path, file) of every entry a package placed in a tree (rules of a base)."""
    out = []
    for f in package_files(hdr):
        if f.ghost:
            continue
        try:
            where = pathrules.place(f.path, f.kind, package=nevra(hdr), compose=True)
        except PackageError:
            continue
        if where.action == pathrules.Action.PLACE:
            out.append((where.path, f))
    return out


def header_name(hdr: Header) -> str:
    value = hdr["name"]
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _Owners:
    """Who provided which path so far, and each package's file colours (lazily)."""

    kept: Sequence[Header]
    layered: dict[str, str]  # path -> NEVRA of the layered package that placed it
    headers: dict[str, Header]  # NEVRA -> header, base and layered
    replacefiles: frozenset[str] = frozenset()  # names of packages whose files win
    forced: set[str] = field(default_factory=set)  # NEVRAs of those packages
    _base: dict[str, str] | None = None
    _colors: dict[str, dict[str, int]] | None = None
    _listed: dict[str, set[str]] = field(default_factory=dict)

    def base_owner(self, path: str) -> str | None:
        """The base package owning ``path``; the map is built on first use only."""
        if self._base is None:
            self._base = {}
            for h in self.kept:
                label = nevra(h)
                for p, _ in tree_paths(h):
                    self._base.setdefault(p, label)
        return self._base.get(path)

    def lists(self, label: str | None, path: str) -> bool:
        """Whether ``label``'s header names ``path`` itself (not only files below it)."""
        if label is None or label not in self.headers:
            return False
        if label not in self._listed:
            self._listed[label] = {p for p, _ in tree_paths(self.headers[label])}
        return path in self._listed[label]

    def color(self, label: str | None, path: str) -> int:
        if label is None or label not in self.headers:
            return 0
        if self._colors is None:
            self._colors = {}
        if label not in self._colors:
            self._colors[label] = {p: f.color for p, f in tree_paths(self.headers[label])}
        return self._colors[label].get(path, 0)


def union_packages(
    store: Store,
    base_tree: str | None,
    packages: Sequence[ImportedPackage],
    removed: Sequence[Header],
    kept: Sequence[Header],
    *,
    replacefiles: frozenset[str] = frozenset(),
) -> tuple[str, list[str]]:
    """The union's tree id, and each package's tree as it was overlaid. Packages named
    in ``replacefiles`` replace files that others provide differently."""
    editor = store.edit(base_tree)
    if removed:
        _remove_files(editor, removed, kept, packages)
    current = editor.write()
    owners = _Owners(kept, {}, {nevra(h): h for h in kept}, replacefiles)
    overlaid: list[str] = []
    for pkg in packages:
        owners.headers[pkg.nevra] = pkg.hdr()
        if pkg.name in owners.replacefiles:
            owners.forced.add(pkg.nevra)
        adapted, replaced, claimed = _check_and_adapt(store, current, pkg, owners)
        editor = store.edit(current)
        for path in replaced:
            editor.remove(path)
        for path, meta in claimed:
            editor.put_dir(path, meta)
            owners.layered[path] = pkg.nevra
            overlaid = [_with_dir_meta(store, t, path, meta) for t in overlaid]
        editor.overlay(adapted, label=pkg.nevra)
        current = editor.write()
        overlaid.append(adapted)
    return current, overlaid


def _remove_files(
    editor: TreeEditor,
    removed: Sequence[Header],
    kept: Sequence[Header],
    packages: Sequence[ImportedPackage],
) -> None:
    """Files of override-removed base packages go, unless a kept package owns them too;
    then their directories that are left empty, deepest first, as ``rpm -e`` does (one
    with anything still in it stays)."""
    still_owned = {path for h in kept for path, _ in tree_paths(h)}
    names_left = {header_name(h) for h in kept} | {p.name for p in packages}
    directories: set[str] = set()
    for hdr in removed:
        for path, f in sorted(tree_paths(hdr), reverse=True):
            if path in still_owned:
                continue
            if f.kind == pathrules.Kind.DIR:
                directories.add(path)
            elif editor.exists(path):
                editor.remove(path)
        conf = tmpfiles.conf_name(header_name(hdr))
        if header_name(hdr) not in names_left and editor.exists(conf):
            editor.remove(conf)
    for path in sorted(directories, reverse=True):  # a/b/c before a/b
        if editor.is_empty_dir(path):
            editor.remove(path)


def _check_and_adapt(
    store: Store, current: str, pkg: ImportedPackage, owners: _Owners
) -> tuple[str, list[str], list[tuple[str, FileMeta]]]:
    """Raise ConflictError naming both packages; return pkg's tree adapted to the rules of
    the module doc, the paths of ``current`` that pkg's files replace (colours), and the
    directories of ``current`` that take pkg's metadata (it lists them; whoever made
    them first did so only as a parent of its files)."""
    fix: list[tuple[str, FileMeta]] = []
    drop: list[str] = []
    replace: list[str] = []
    claimed: list[tuple[str, FileMeta]] = []
    new_below = "\0"  # a directory the tree lacks: nothing below it can conflict
    for entry in store.walk(pkg.tree):
        if entry.path.startswith(new_below):
            owners.layered.setdefault(entry.path, pkg.nevra)
            continue
        have = store.lookup(current, entry.path)
        if have is None:
            owners.layered.setdefault(entry.path, pkg.nevra)
            if entry.kind == EntryKind.DIR:
                new_below = entry.path + "/"
            continue
        if entry.kind == EntryKind.DIR and have.kind == EntryKind.DIR:
            if have.meta != entry.meta:
                claim = _claims_dir(pkg.nevra, entry.path, owners)
                (claimed if claim else fix).append((entry.path, (have, entry)[claim].meta))
            continue
        if _same(entry, have):
            continue
        other = owners.layered.get(entry.path) or owners.base_owner(entry.path)
        winner = _colour_winner(
            owners.color(pkg.nevra, entry.path), owners.color(other, entry.path), entry, have
        ) or _forced_winner(pkg.nevra, other, entry, have, owners.forced)
        if winner == "new":
            replace.append(entry.path)
            owners.layered[entry.path] = pkg.nevra
            continue
        if winner == "old":
            drop.append(entry.path)
            continue
        layered = owners.layered.get(entry.path)
        base = owners.base_owner(entry.path)
        other_text = layered or (f"the base package {base}" if base else "the base")
        raise ConflictError(
            f"file conflict: /{entry.path} is provided differently by {pkg.nevra} "
            f"and by {other_text}",
            hint="remove one of the two packages from the request, override the base "
            "package with 'strata override remove', or let the package replace the file "
            "with 'strata install --force-replacefiles'",
        )
    if not fix and not drop:
        return pkg.tree, replace, claimed
    editor = store.edit(pkg.tree)
    for path, meta in fix:
        editor.put_dir(path, meta)
    for path in drop:
        editor.remove(path)
    return editor.write(), replace, claimed


def _with_dir_meta(store: Store, tree: str, path: str, meta: FileMeta) -> str:
    """``tree`` with ``path`` (if it is a directory there) carrying ``meta``: package trees
    overlaid earlier must agree with a directory a later package claimed."""
    have = store.lookup(tree, path)
    if have is None or have.kind != EntryKind.DIR or have.meta == meta:
        return tree
    editor = store.edit(tree)
    editor.put_dir(path, meta)
    return editor.write()


def _claims_dir(label: str, path: str, owners: _Owners) -> bool:
    """A directory a package lists wins over one whoever placed it first made only as
    the parent of its files (rpm applies a listed directory's metadata)"""
    placer = owners.layered.get(path) or owners.base_owner(path)
    return owners.lists(label, path) and not owners.lists(placer, path)


def _same(a: Entry, b: Entry) -> bool:
    return a.kind == b.kind and a.object_id == b.object_id


def _forced_winner(
    new: str, old: str | None, entry: Entry, have: Entry, forced: set[str]
) -> str | None:
    """ "new" or "old" when a --force-replacefiles package is one of the two (the new one
    wins if both are); None otherwise. A directory is never replaced by a file or back."""
    if EntryKind.DIR in (entry.kind, have.kind):
        return None
    if new in forced:
        return "new"
    return "old" if old in forced else None


def _colour_winner(new: int, old: int, entry: Entry, have: Entry) -> str | None:
    """ "new", "old" or None (a real conflict): rpm's multilib rule for two regular files."""
    if entry.kind != EntryKind.FILE or have.kind != EntryKind.FILE:
        return None
    if not new or not old or new == old:
        return None
    if new & PREFERRED_COLOR:
        return "new"
    if old & PREFERRED_COLOR:
        return "old"
    return None
