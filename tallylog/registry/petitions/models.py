"""Models of the petitions app."""

from django.db import models  # noqa: F401
