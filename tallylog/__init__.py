"""tallylog: a registry for mass public declarations whose tally anyone can verify."""

__version__ = "0.1.0"
