"""A witness of our own (C2SP tlog-witness): cosigns the checkpoints of the logs it is
configured with, never two inconsistent ones and never a smaller tree after a larger one.

``state`` keeps one SQLite row per log origin; ``service`` decides each add-checkpoint
request (no HTTP); ``server`` serves it over HTTP with the standard library. The command
is ``tallylog witness serve`` (tallylog/cli/witnesscmds.py). Not part of ``tallylog.tlog``:
it uses it.
"""
