"""``make demo``: the main job on a built-in example, in a throwaway sysroot."""

from __future__ import annotations

import sys


def main() -> int:
    print("strata demo: the layering engine is not assembled yet; nothing to show.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
