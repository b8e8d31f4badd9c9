"""Benchmarks: Strata's layering cost against reference tools on the same machine.

``python -m bench`` (``make bench``) runs the scenarios in quick mode and prints one
table; ``--full`` adds the 50k and 100k file bases. Nothing here asserts a time: the
table says which goal is met.
"""
