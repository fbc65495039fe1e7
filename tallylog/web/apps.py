from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "tallylog.web"
    label = "web"
