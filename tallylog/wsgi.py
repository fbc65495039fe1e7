"""WSGI entry point: ``tallylog.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

from tallylog.home import private_umask

private_umask()  # files the application creates in the home are private to its user
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tallylog.settings")
application = get_wsgi_application()
