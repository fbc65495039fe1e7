"""Models of the news app."""

from django.db import models  # noqa: F401
