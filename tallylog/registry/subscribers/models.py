"""Models of the subscribers app."""

from django.db import models  # noqa: F401
