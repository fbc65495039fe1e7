from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The service-centre console's pages (mounted at /console/). Its models, actions and
    roles are the registry's ``volunteers`` app."""

    name = "tallylog.console"
    label = "console"
    verbose_name = "Service centre console"
