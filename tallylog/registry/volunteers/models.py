"""Models of the volunteers app."""

from django.db import models  # noqa: F401
