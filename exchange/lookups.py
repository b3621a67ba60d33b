"""`element_icontains`: whether any string of a JSON list contains a text, ignoring case, on SQLite as on
PostgreSQL (a dataset's keywords)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Lookup


@models.JSONField.register_lookup
class ElementContainsIgnoringCase(Lookup):
    """Matches each element by itself, never the list's JSON text: SQLite keeps that text as json.dumps
    wrote it, every character outside ASCII escaped (Ö as \\u00d6), where no case folding reaches, and a
    search for '", "' would match the punctuation between two keywords."""

    lookup_name = "element_icontains"
    prepare_rhs = False  # the text searched for, not a JSON value

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, tuple[str]]:
        return "%s", (f"%{connection.ops.prep_for_like_query(value)}%",)

    def _elements_like(
        self, compiler: Any, connection: Any, elements: str, like: str
    ) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        # lhs and rhs are the compiler's SQL for the column and a placeholder; the values travel as params.
        sql = f"EXISTS (SELECT 1 FROM {elements.format(lhs)} WHERE {like.format(rhs)} ESCAPE '\\')"  # noqa: S608
        return sql, [*lhs_params, *rhs_params]

    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        # LIKE folds every script's case there: consortium.sqlite_unicode.
        return self._elements_like(compiler, connection, "json_each({}) AS element", "element.value LIKE {}")

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return self._elements_like(
            compiler, connection, "jsonb_array_elements_text({}) AS element", "element ILIKE {}"
        )
