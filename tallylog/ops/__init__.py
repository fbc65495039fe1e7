"""The operator's view: the site's health (``health``), served to Prometheus at ``/metrics``
(``metrics``) and printed by ``tallylog status``, and proven backups (``backup``).

An interface beside ``web``, ``api`` and ``console`` (docs/architecture.md): it reads the
domain through its querysets and actions and holds no domain rule of its own.
"""
