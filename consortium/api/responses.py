"""The API's 201 Created: the new object's representation, and its address in Location (RFC 9110 15.3.2)."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse


def created(request: Request, data: Any, *, at: str, key: object) -> Response:
    """201 with `data`, and Location naming the created object's detail route `at` (by its `key`)."""
    location = reverse(at, args=[key], request=request)
    return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})
