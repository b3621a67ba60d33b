"""Consortium Exchange: project wiring and the consortium's own domain (members, people, roles, API keys)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
