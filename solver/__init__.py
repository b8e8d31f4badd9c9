"""libsolv: base package set + repositories + requests -> a frozen transaction.

The public contract (docs/architecture.md, "The seams"): ``RepoConfig``,
``read_repo_files``, ``PackageRef``, ``Request``, ``Transaction``, ``solve`` and
``fetch``. ``solve_pool`` is the same decision on a ready-made pool, for logic
tests and benchmarks.
"""

from solver.fetch import fetch
from solver.repoconf import read_repo_files
from solver.solve import solve
from solver.transaction import PoolInput, solve_pool
from solver.types import PackageRef, RepoConfig, Request, Transaction

__all__ = [
    "PackageRef",
    "PoolInput",
    "RepoConfig",
    "Request",
    "Transaction",
    "fetch",
    "read_repo_files",
    "solve",
    "solve_pool",
]
