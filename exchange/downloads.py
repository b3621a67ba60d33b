"""The HTTP response that delivers a version's file under a grant: one shape for the portal and the API.

The file is another member's content served from the exchange's own origin, so it always goes out as an
attachment, with a name outside ASCII or with "%" in RFC 6266's `filename*` (an f-string header outside
Latin-1 becomes one RFC 2047 word, which hides the `attachment` type, and browsers then render the file
inline), and under a sandboxing Content-Security-Policy in case a browser renders it anyway.
SecurityMiddleware adds nosniff.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from django.core.files import File
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from exchange import selectors
from exchange.models import DatasetVersion, Grant
from exchange.services.versions import version_filename

# No script, no plugin, no request to any origin (ours included): a page in the file can do nothing.
SANDBOX = "default-src 'none'; sandbox"


def version_response(*, grant: Grant, version: DatasetVersion, handle: File) -> StreamingHttpResponse:
    """Stream `handle` (opened by services.grant_download for `version` under `grant`) as an attachment
    named after the version, of its media type, never cached; the stream stops if the grant ends. The name
    is what `version_filename` makes of the stored one: the stored name itself, unless the version was
    stored before one of that function's rules came in, as "CON.csv" was before Windows device names were
    renamed; it is then offered under the name an upload gets now ("_CON.csv"), the record unchanged."""
    response = StreamingHttpResponse(
        selectors.version_stream(grant_id=grant.pk, handle=handle), content_type=version.media_type
    )
    response["Content-Length"] = str(version.size)
    response["Content-Disposition"] = _attachment(version_filename(version.filename))
    response["Content-Security-Policy"] = SANDBOX
    response["Cache-Control"] = "no-store"
    return response


def _attachment(filename: str) -> str:
    """The Content-Disposition of a download named `filename`. A name with "%" goes in `filename*` as names
    outside ASCII do: browsers read "%XX" in a plain `filename` as an escape (RFC 6266 appendix D), so the
    file would be saved under another name than the portal shows."""
    if "%" in filename:
        return f"attachment; filename*=utf-8''{quote(filename)}"
    return content_disposition_header(as_attachment=True, filename=filename)


def repr_digest(sha256_hex: str) -> str:
    """The RFC 9530 `Repr-Digest` value of a file whose SHA-256 is `sha256_hex`: a structured-field
    dictionary whose `sha-256` member is a byte sequence, base64 between colons."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode('ascii')}:"
