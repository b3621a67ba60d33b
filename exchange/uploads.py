"""The upload handler that refuses an oversize version file while it arrives, before it is spooled whole.

Interfaces insert it first (`request.upload_handlers.insert(0, ...)`) before anything reads the body; it
counts the bytes of every file in the body together and raises services.UploadTooLarge (413) as soon as
they pass EXCHANGE["MAX_UPLOAD_BYTES"], so the handlers after it (memory, temporary file) never receive
more than the limit plus one chunk and nothing reaches storage. Together, not per file: a body of many
files each under the limit (Django parses up to DATA_UPLOAD_MAX_NUMBER_FILES of them) would otherwise be
spooled to temporary files whole before `refuse_several_files` turns it away. The service checks the
size again for callers that do not go through HTTP.

A version is one file: `refuse_several_files` turns away a multipart body carrying more than one (under
any field names), which Django would otherwise reduce silently to the last one of a field.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict

from consortium.errors import ValidationFailed
from exchange import services


class MaxUploadSizeHandler(FileUploadHandler):
    """Raises services.UploadTooLarge once the bytes received for all the body's files together exceed
    EXCHANGE["MAX_UPLOAD_BYTES"]; passes every chunk through unchanged until then and creates no file of
    its own."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit: int = services.exchange_setting("MAX_UPLOAD_BYTES")
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise services.UploadTooLarge(
                f"The file is larger than the limit of {self.limit} bytes.", limit_bytes=self.limit
            )
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file


def limit_upload_size(request: HttpRequest) -> None:
    """Put MaxUploadSizeHandler first on `request`; call it before anything reads the request body."""
    request.upload_handlers.insert(0, MaxUploadSizeHandler(request))


def refuse_several_files(files: MultiValueDict) -> None:
    """Raise ValidationFailed(one_file_only), naming the count, when `files` (a request's FILES) holds more
    than one uploaded file in all; do nothing for one file or none (the form or serializer asks for it)."""
    count = sum(len(files.getlist(name)) for name in files)
    if count > 1:
        message = f"Upload one file per version; this request carries {count}."
        raise ValidationFailed(message, code="one_file_only", errors={"file": [message]}, files=count)
