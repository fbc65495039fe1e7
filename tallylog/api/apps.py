from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "tallylog.api"
    label = "api"
