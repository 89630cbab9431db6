"""Measurement and experiment tools: benchmarks, parser search diagnostics, seed summaries,
ensembles, cross-domain checks. Application layer: nothing in the library imports them.

Each module is a command, ``python -m treenn.experiments.<name> --help``.
"""
