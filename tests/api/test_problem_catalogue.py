"""Every problem code the API can answer with is in the catalogue (consortium/api/problem_codes.py), with its
statuses, what it means and what to do; the catalogue lists nothing the code no longer raises; docs/
api-errors.md and the schema's Problem component are generated from it, and the component names every
extension member a refusal carries.

The codes are read from the source, not from a list kept by hand: a new code without words fails here.
"""

from __future__ import annotations

import ast
import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from consortium.api import problem_codes, problems

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("consortium", "exchange", "ledger")
# The catalogue names codes without raising them.
CATALOGUE = ROOT / "consortium" / "api" / "problem_codes.py"

# Callees whose `code` is no problem code: DRF's and Django's field errors (the body's code is then
# validation_error; the field's own code stays inside `errors`' messages), the credit engine's transfer codes
# (mint, fee, use, ...) and the lookups that read them.
NOT_PROBLEM_CODES = {"ValidationError", "transfer", "Transfer", "resolve", "replace", "filter", "exclude"}
# Callees that take a code by position, and where: a policy Reason, DRF's exceptions (detail, code). A
# function that hands its own `code` parameter on to one of these (or to `code=`) joins them.
ROOT_POSITIONS = {
    "Reason": 0,
    "AuthenticationFailed": 1,
    "PermissionDenied": 1,
    "ParseError": 1,
    "NotAuthenticated": 1,
    "NotFound": 1,
    "APIException": 1,
}
DRF_STATUS = {
    "AuthenticationFailed": 401,
    "PermissionDenied": 403,
    "ParseError": 400,
    "NotAuthenticated": 401,
}
# Code arguments the walk cannot resolve to literals, each with where its codes come from instead.
FROM_ELSEWHERE = {
    ("consortium/api/problems.py", "code"): "the handler's table (_DRF_CODES) or a DRF exception's own code, "
    "itself raised (and read) elsewhere",
}
PROBLEM_BASE = {"type", "title", "status", "status_code", "detail", "code", "instance"}


def _sources() -> Iterator[Path]:
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            if "migrations" not in path.parts and path != CATALOGUE:
                yield path


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literals(expr: ast.expr) -> set[str]:
    """The strings an expression can evaluate to, where it is a literal, a dict of literals or a choice."""
    if isinstance(expr, ast.Constant):
        return {expr.value} if isinstance(expr.value, str) else set()
    if isinstance(expr, ast.Dict):
        return set().union(*(_literals(value) for value in expr.values))
    if isinstance(expr, ast.IfExp):
        return _literals(expr.body) | _literals(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return set().union(*(_literals(value) for value in expr.values))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get":
        return _literals(expr.func.value).union(*(_literals(arg) for arg in expr.args[1:]))
    return set()


def _positional_args(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [arg.arg for arg in function.args.posonlyargs + function.args.args]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def _code_positions(trees: dict[Path, ast.Module]) -> dict[str, int]:
    """Callee name -> the position of its code argument: the roots, then every function that hands its own
    `code` on to one of them, until no more join."""
    positions = dict(ROOT_POSITIONS)
    functions = [
        node
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "code" in _positional_args(node)
    ]
    joined = True
    while joined:
        joined = False
        for function in functions:
            if function.name in positions:
                continue
            for call in (node for node in ast.walk(function) if isinstance(node, ast.Call)):
                name = _callee(call)
                if name in NOT_PROBLEM_CODES:
                    continue
                by_keyword = any(
                    k.arg == "code" and isinstance(k.value, ast.Name) and k.value.id == "code"
                    for k in call.keywords
                )
                at = positions.get(name or "")
                by_position = (
                    at is not None
                    and at < len(call.args)
                    and isinstance(call.args[at], ast.Name)
                    and call.args[at].id == "code"
                )
                if by_keyword or by_position:
                    positions[function.name] = _positional_args(function).index("code")
                    joined = True
                    break
    return positions


def _error_statuses(trees: dict[Path, ast.Module]) -> dict[str, int]:
    """Our error classes (ServiceError and its subclasses, by name) -> their HTTP status."""
    classes = {
        node.name: node
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }

    def status(name: str) -> int | None:
        node = classes.get(name)
        if node is None:
            return None
        for statement in node.body:
            if (
                isinstance(statement, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "status" for t in statement.targets)
                and isinstance(statement.value, ast.Constant)
            ):
                return int(statement.value.value)
        bases = [base.id for base in node.bases if isinstance(base, ast.Name)]
        return next((s for s in map(status, bases) if s is not None), None)

    def is_error(name: str) -> bool:
        node = classes.get(name)
        if node is None:
            return False
        bases = [base.id for base in node.bases if isinstance(base, ast.Name)]
        return name == "ServiceError" or any(is_error(base) for base in bases)

    found = {name: status(name) for name in classes if is_error(name)}
    return {name: value for name, value in found.items() if value is not None}


class _Walk(ast.NodeVisitor):
    """Collects (code, status or None, site) for every code literal that can reach a problem body."""

    def __init__(self, path: str, positions: dict[str, int], statuses: dict[str, int]) -> None:
        self.path, self.positions, self.statuses = path, positions, statuses
        self.found: list[tuple[str, int | None, str]] = []
        self.unresolved: list[str] = []
        self.extensions: set[str] = set()
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []

    def _add(self, codes: set[str], status: int | None, node: ast.AST) -> None:
        self.found += [(code, status, f"{self.path}:{getattr(node, 'lineno', 0)}") for code in codes]

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # An error class's (or a DRF permission's) own code: `code = "..."`.
        for statement in node.body:
            if (
                isinstance(statement, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "code" for t in statement.targets)
                and isinstance(statement.value, ast.Constant)
            ):
                self._add(_literals(statement.value), self.statuses.get(node.name), statement)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        # The problem handler's own refusals: {"code": "...", ...}.
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "code" and isinstance(value, ast.Constant):
                self._add(_literals(value), None, node)
            if self.path == "consortium/api/problems.py" and isinstance(key, ast.Constant):
                self.extensions.add(str(key.value))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        # The handler's extension members of DRF's refusals: extra["..."] = ...
        for target in node.targets:
            if (
                self.path == "consortium/api/problems.py"
                and isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id == "extra"
                and isinstance(target.slice, ast.Constant)
            ):
                self.extensions.add(str(target.slice.value))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node)
        if name is not None and name not in NOT_PROBLEM_CODES:
            value = next((k.value for k in node.keywords if k.arg == "code"), None)
            at = self.positions.get(name)
            if value is None and at is not None and at < len(node.args):
                value = node.args[at]
            status = self.statuses.get(name, DRF_STATUS.get(name))
            if value is not None:
                self._add(self._codes(value), status, node)
            if name in self.statuses:
                self.extensions |= {k.arg for k in node.keywords if k.arg is not None}
        self.generic_visit(node)

    def _codes(self, value: ast.expr) -> set[str]:
        if isinstance(value, ast.Constant):
            return _literals(value)
        if isinstance(value, ast.Attribute) and value.attr == "code":
            return set()  # hands on a code raised (and read) where it was made: `first.code`, `exc.code`
        if isinstance(value, ast.Name) and self.functions:
            function = self.functions[-1]
            arguments = function.args
            if value.id in {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}:
                return set()  # a parameter: the callers' literals are read at their calls
            assigned = set().union(
                *(
                    _literals(node.value)
                    for node in ast.walk(function)
                    if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets)
                )
            )
            if assigned:
                return assigned
        if (self.path, ast.unparse(value)) not in FROM_ELSEWHERE:
            self.unresolved.append(f"{self.path}:{value.lineno}: code={ast.unparse(value)}")
        return set()


@pytest.fixture(scope="module")
def walked() -> tuple[dict[str, set[int | None]], dict[str, list[str]], list[str], set[str]]:
    trees = {path: ast.parse(path.read_text(), str(path)) for path in _sources()}
    positions = _code_positions(trees)
    statuses = _error_statuses(trees)
    codes: dict[str, set[int | None]] = collections.defaultdict(set)
    sites: dict[str, list[str]] = collections.defaultdict(list)
    unresolved: list[str] = []
    extensions: set[str] = set()
    for path, tree in trees.items():
        walk = _Walk(str(path.relative_to(ROOT)), positions, statuses)
        walk.visit(tree)
        for code, status, site in walk.found:
            codes[code].add(status)
            sites[code].append(site)
        unresolved += walk.unresolved
        extensions |= walk.extensions
    # The handler's tables: DRF's exceptions and Django's form limits.
    for code, _ in problems._DRF_CODES.values():
        codes[code].add(None)
    for code, *_ in problems._FORM_LIMITS.values():
        codes[code].add(400)
    return codes, sites, unresolved, extensions - PROBLEM_BASE - {"code"}


def test_the_walk_finds_the_codes_it_must(walked) -> None:
    """The walk is not vacuous: codes raised each way are found (a keyword, a helper's position, a Reason, a
    class attribute, a dict lookup, the handler's own)."""
    codes, _, _, _ = walked
    assert {
        "api_key_revoked",  # AuthenticationFailed(..., code=)
        "seq_out_of_range",  # ValidationFailed(..., code=)
        "unknown_grade",  # _choice(..., code) -> _invalid(field, code, ...)
        "purpose_not_allowed",  # Reason("...", ...)
        "upload_too_large",  # class attribute
        "grant_expired",  # code = {...}.get(state, ...)
        "payload_too_large",  # {"code": ...}
        "throttled",  # _DRF_CODES
    } <= set(codes)
    assert not {"mint", "fee", "use", "read_only", "malformed_hex"} & set(codes)


def test_every_code_code_can_raise_is_in_the_catalogue(walked) -> None:
    codes, sites, unresolved, _ = walked
    assert not unresolved, f"code arguments the catalogue test cannot read: {unresolved}"
    missing = {code: sites[code][:3] for code in sorted(set(codes) - set(problem_codes.CODES))}
    assert not missing, (
        f"Problem codes without an entry in consortium/api/problem_codes.py (say what each means and what "
        f"the client should do, then regenerate docs/api-errors.md): {missing}"
    )


def test_the_catalogue_lists_no_code_nothing_raises(walked) -> None:
    codes, _, _, _ = walked
    assert sorted(set(problem_codes.CODES) - set(codes)) == []


def test_each_code_documents_the_statuses_its_raise_sites_give(walked) -> None:
    codes, _, _, _ = walked
    wrong = {
        code: (
            sorted(status for status in statuses if status is not None),
            problem_codes.CODES[code].statuses,
        )
        for code, statuses in codes.items()
        if code in problem_codes.CODES
        and not {s for s in statuses if s} <= set(problem_codes.CODES[code].statuses)
    }
    assert not wrong, f"code: (statuses raised, statuses documented): {wrong}"


def test_every_entry_says_what_it_means_and_what_to_do() -> None:
    assert len(problem_codes.CODES) == sum(len(entries) for _, entries in problem_codes.GROUPS), (
        "a code twice"
    )
    for entry in problem_codes.CODES.values():
        assert entry.means.strip() and entry.action.strip() and entry.statuses, entry.code
        assert "|" not in entry.means + entry.action, entry.code  # a Markdown table cell


def test_the_published_catalogue_is_generated_from_it() -> None:
    published = (ROOT / "docs" / "api-errors.md").read_text()
    assert published == problem_codes.catalogue_markdown(), (
        "docs/api-errors.md is out of date; regenerate it: "
        ".venv/bin/python -m consortium.api.problem_codes > docs/api-errors.md"
    )


@pytest.fixture(scope="module")
def problem_schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]["Problem"]


def test_the_schema_describes_every_extension_member(walked, problem_schema) -> None:
    _, _, _, extensions = walked
    assert {"reasons", "limit_bytes", "retry_after_seconds", "suggested_path"} <= extensions  # found
    undocumented = sorted(extensions - set(problem_schema["properties"]))
    assert not undocumented, f"Extension members missing from ProblemSerializer: {undocumented}"
    assert set(problem_schema["required"]) == {"type", "title", "status", "detail", "code"}


def test_the_schema_lists_the_codes(problem_schema) -> None:
    description = problem_schema["properties"]["code"]["description"]
    assert all(f"`{code}`" in description for code in problem_codes.CODES)
