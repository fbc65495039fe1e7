"""Subcommands (see tallylog/cli/__init__.py for the contract)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add this module's subcommands to ``sub``."""
