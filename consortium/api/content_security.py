"""The Content-Security-Policy of every answer under /api/v1/ (django-csp's csp decorator, applied to each of
the API's views in consortium/urls.py): data under a policy that lets nothing load or run, and the browsable
API's HTML page under the tightest policy it works under.

Data (JSON, problem+json, CSV, any answer that is not the browsable page) gets API_POLICY: nothing may be
loaded, the answer may not be framed, and a browser that renders it anyway treats it as a sandboxed page
(no script, no form, no same-origin access), as GitHub's API does with `default-src 'none'`. A file download
sets its own sandbox policy (exchange/downloads.py), which django-csp's middleware leaves as it is.

The browsable API's page (DRF's rest_framework/base.html, which this project does not override) loads its
stylesheets, scripts, fonts (Bootstrap's glyphicons) and one image (bootstrap-tweaks.css's grid.png) from
DRF's static files, submits its forms and sends its AJAX requests (PUT, PATCH, DELETE, OPTIONS) to its own
URL, and has three kinds of inline content:

- a JSON data block (`<script type="application/json" id="drf_csrf">`), which the browser never runs, so
  no script-src needs to admit it;
- one <style> block: pygments' stylesheet for code in descriptions (it also sets `pre { line-height }`),
  admitted by its SHA-256 in style-src;
- a few fixed style="" attributes in DRF's templates (the Filters and Extra Actions buttons, the search
  box, the ordering menu's check mark, nested fieldsets), admitted by their SHA-256 in style-src-attr
  with 'unsafe-hashes': exactly those values, not any style attribute.

Hashes rather than nonces: a nonce would need our own copy of DRF's template, and it would not survive the
page's AJAX forms, which replace the document with the answer's HTML (document.write): the new page keeps
the first page's policy, whose nonce is not the new page's, so its <style> would be refused. A hash of
the same content holds for every page. A browser without style-src-attr (older than CSP 3) refuses the
style attributes, which only float two buttons to the right.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from csp.constants import NONE, SELF, UNSAFE_HASHES
from csp.decorators import csp
from django.http import HttpRequest, HttpResponseBase
from rest_framework.compat import pygments_css
from rest_framework.renderers import BrowsableAPIRenderer

API_POLICY: dict[str, Any] = {"default-src": [NONE], "frame-ancestors": [NONE], "sandbox": True}

# Every style="" value in the templates DRF's browsable API renders (base.html, filters/, horizontal/);
# tests/api/test_api_csp.py reads DRF's templates and fails on one missing here.
DRF_STYLE_ATTRIBUTES = (
    "float: right; margin-right: 10px",
    "width: 350px",
    "float: right",
    "border-bottom: 1px solid #e5e5e5",
    "border-bottom: 0",
)


def hash_source(text: str) -> str:
    """The CSP hash source ('sha256-<base64>') that admits inline content whose text is `text`."""
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


_CODE_STYLE = pygments_css(BrowsableAPIRenderer.code_style)  # None without pygments: then no <style> block
BROWSABLE_API_POLICY: dict[str, Any] = {
    "default-src": [NONE],
    "script-src": [SELF],
    "style-src": [SELF, *([hash_source(_CODE_STYLE)] if _CODE_STYLE else [])],
    "style-src-attr": [UNSAFE_HASHES, *(hash_source(value) for value in DRF_STYLE_ATTRIBUTES)],
    "img-src": [SELF],
    "font-src": [SELF],
    "connect-src": [SELF],
    "form-action": [SELF],
    "base-uri": [NONE],
    "frame-ancestors": [NONE],
}

View = TypeVar("View", bound=Callable[..., HttpResponseBase])
_data = csp(API_POLICY)
_page = csp(BROWSABLE_API_POLICY)


def api_content_policy(view: View) -> View:
    """`view` with each answer under BROWSABLE_API_POLICY if it is the browsable API's page, else under
    API_POLICY. DRF has picked the renderer when the view returns (an error is problem+json whatever was
    asked, consortium.api.problems), and renders only after this, so the choice is made on the renderer."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        page = isinstance(getattr(response, "accepted_renderer", None), BrowsableAPIRenderer)

        def answered(_: HttpRequest) -> HttpResponseBase:  # django-csp's decorators take a view
            return response

        return (_page if page else _data)(answered)(request)

    return cast(View, wrapped)
