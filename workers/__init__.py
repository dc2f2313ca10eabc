"""Celery worker side: the app and thin task modules that call into scimhub."""
