"""Consortium REST views: health (members, users and API keys are added by their services' issue)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def _database_status() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # health must report any failure, never raise
        return {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}


def _broker_status() -> dict[str, Any]:
    if not settings.CELERY_BROKER_URL:
        return {"ok": True, "mode": "eager"}
    from consortium.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "mode": "broker", "transport": conn.transport_cls}
    except Exception as exc:  # health must report any failure, never raise
        return {"ok": False, "mode": "broker", "error": exc.__class__.__name__}


class HealthView(APIView):
    """Liveness and readiness: 200 when the database and the broker answer, 503 otherwise."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {"status": serializers.CharField(), "database": serializers.DictField(), "broker": serializers.DictField()},
        )
    )
    def get(self, request: Request) -> Response:
        database, broker = _database_status(), _broker_status()
        ok = database["ok"] and broker["ok"]
        return Response(
            {"status": "ok" if ok else "degraded", "database": database, "broker": broker},
            status=200 if ok else 503,
        )
