"""OpenAPI 3.0 and 3.1 documents: loaded, checked, and used to validate exchanges.

The only module that imports openapi-core. Everything else sees an `OpenApiSpec`, its
`Operation`s, and contract violations as `Difference`s whose `kind` is `contract_status`,
`contract_body`, `contract_header` or `contract_request`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

from openapi_core import OpenAPI
from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    SecurityValidationError,
)
from openapi_core.validation.response.exceptions import MissingData, MissingRequiredHeader
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable
from werkzeug.datastructures import Headers as HeaderMap
from werkzeug.datastructures import ImmutableMultiDict

from apitape.config import load_yaml_data, yaml_line
from apitape.errors import ConfigError, OpenApiSpecError
from apitape.http.endpoints import Template
from apitape.jsonpath import json_path
from apitape.models import Difference, Request, Response, first_header

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SUPPORTED = re.compile(r"^3\.[01]\.\d+$")
_VARIABLE = re.compile(r"\{([^{}/]*)\}")


@dataclass(frozen=True)
class Operation:
    """One documented operation: `GET /books/{bookId}` with the statuses it documents.

    `path` is the template as the document writes it; `base_paths` are the path parts of
    the servers that serve it ("" for the root), `statuses` the keys of its `responses`
    (`200`, `4XX`, `default`).
    """

    method: str
    path: str
    operation_id: str | None = None
    statuses: tuple[str, ...] = ()
    base_paths: tuple[str, ...] = ("",)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def fits(self, path: str) -> bool:
        """Whether a request path (with the server's base path) fits this operation's template."""
        return any(_template_regex(base + self.path).fullmatch(path) for base in self.base_paths)

    def documents(self, status: int) -> str | None:
        """The `responses` key that covers `status`: the code, its range (`4XX`), or `default`."""
        for key in (str(status), f"{status // 100}XX"):
            if key in self.statuses:
                return key
        return "default" if "default" in self.statuses else None


@dataclass(frozen=True)
class OpenApiSpec:
    """A loaded and checked OpenAPI document with its operations, ready to validate traffic."""

    source: str
    version: str
    title: str
    operations: tuple[Operation, ...]
    _validator: OpenAPI = field(repr=False, compare=False)

    def templates(self) -> tuple[Template, ...]:
        """The document's path templates (with the servers' base paths) as endpoint names,
        the most literal first so `/books/search` wins over `/books/{bookId}`."""
        paths = dict.fromkeys(base + op.path for op in self.operations for base in op.base_paths)
        ordered = sorted(paths, key=lambda p: (p.count("{"), -p.count("/")))
        return tuple(Template(None, tuple(p.split("/"))) for p in ordered)

    def operation_for(self, method: str, url: str) -> Operation | None:
        """The documented operation a request belongs to, or None (an undocumented endpoint).

        A concrete path wins over a templated one, as the specification says.
        """
        path = urlsplit(url).path or "/"
        method = method.upper()
        fitting = [op for op in self.operations if op.method == method and op.fits(path)]
        return min(fitting, key=lambda op: op.path.count("{"), default=None)

    def check(
        self, request: Request, response: Response, *, body_kept: bool = True
    ) -> tuple[list[Difference], list[Difference]]:
        """Validate one exchange: (response violations, request violations).

        `body_kept=False` for a response whose body the recorder left out for size: its
        status and headers are still checked, its body is not.
        """
        adapted = _RequestAdapter(request)
        with warnings.catch_warnings():
            # openapi-core checks http and apiKey security, and warns about oauth2 and
            # openIdConnect on every request: it cannot check them, and neither can we
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            request_errors = [
                d
                for error in self._validator.request_validator.iter_errors(adapted)
                for d in _request_differences(error)
            ]
        response_errors = [
            d
            for error in self._validator.response_validator.iter_errors(
                adapted, _ResponseAdapter(response, body_kept)
            )
            for d in _response_differences(error, response)
            if body_kept or not d.path.startswith(("$", "body"))
        ]
        return response_errors, request_errors


# --------------------------------------------------------------------------- loading


def load_openapi(path: str) -> OpenApiSpec:
    """Read, resolve and check an OpenAPI 3.0 or 3.1 document (YAML or JSON).

    Raises OpenApiSpecError naming the file and the line or JSON pointer of the problem.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OpenApiSpecError(path, "no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OpenApiSpecError(path, f"cannot be read ({exc})") from None
    return parse_openapi(text, path, base_uri=Path(path).resolve().as_uri())


def parse_openapi(text: str, source: str = "<openapi>", base_uri: str = "") -> OpenApiSpec:
    """Parse and check an OpenAPI document; `source` names it in errors, `base_uri` is where
    relative `$ref`s to other files are looked up."""
    raw = _read_data(text, source)
    _check_size(raw, source, text)
    try:
        return _parse_data(raw, text, source, base_uri)
    except RecursionError:
        raise OpenApiSpecError(
            source, "nests (through its $refs) too deeply to be checked; simplify the document"
        ) from None


_MAX_DEPTH = 100
_MAX_NODES = 2_000_000


def _check_size(data: Any, source: str, text: str) -> None:
    """Refuse a document nested deeper than any real one (deep enough to exhaust Python's
    stack while it is checked), or one whose YAML aliases expand into millions of values."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    visited = 0
    while stack:
        node, keys = stack.pop()
        visited += 1
        if visited > _MAX_NODES:
            raise OpenApiSpecError(
                source, f"expands into more than {_MAX_NODES:,} values (YAML aliases?)"
            )
        if len(keys) > _MAX_DEPTH:
            raise OpenApiSpecError(
                source,
                f"nests lists or mappings more than {_MAX_DEPTH} levels deep; no OpenAPI "
                "document needs that many (is it recursive through YAML aliases?)",
                yaml_line(text, list(keys[:20])),
                _pointer(keys[:20]) + "/...",
            )
        if isinstance(node, dict):
            stack.extend((value, (*keys, str(key))) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, (*keys, index)) for index, value in enumerate(node))


def _parse_data(raw: Any, text: str, source: str, base_uri: str) -> OpenApiSpec:
    data = _plain(raw)
    if not isinstance(data, dict):
        raise OpenApiSpecError(source, "is not an OpenAPI document: expected a mapping at the top")
    version = _version(data, text, source)
    if not isinstance(data.get("paths"), dict):
        raise OpenApiSpecError(
            source,
            "has no 'paths' mapping; apitape checks traffic against the documented paths",
            yaml_line(text, ["paths"]) if "paths" in data else None,
            "#/paths",
        )
    _check_local_refs(data, data, (), text, source, base_uri, _ReferencedFiles.of(base_uri))
    operations = _operations(data)
    try:
        validator = OpenAPI.from_dict(_with_relative_servers(data), base_uri=base_uri)
    except OpenAPIValidationError as exc:
        keys = list(exc.absolute_path)
        raise OpenApiSpecError(
            source,
            f"is not a valid OpenAPI {version} document: {exc.message}",
            yaml_line(text, keys) if keys else None,
            _pointer(keys) if keys else None,
        ) from None
    except Unresolvable as exc:
        raise OpenApiSpecError(
            source, f"a $ref cannot be resolved ({exc}); fix the reference or the file it names"
        ) from None
    except Exception as exc:  # openapi-core's own spec errors have no common base
        raise OpenApiSpecError(source, f"cannot be used as an OpenAPI document ({exc})") from None
    title = str(data.get("info", {}).get("title", "")) if isinstance(data.get("info"), dict) else ""
    return OpenApiSpec(source, version, title, operations, validator)


def _read_data(text: str, source: str) -> Any:
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise OpenApiSpecError(
                source, f"is not valid JSON ({exc.msg}, column {exc.colno})", exc.lineno
            ) from None
        except RecursionError:
            raise OpenApiSpecError(
                source, "nests arrays or objects too deeply to be read; fix the file"
            ) from None
        except ValueError as exc:  # valid JSON, but an integer of more than 4,300 digits
            raise OpenApiSpecError(source, f"holds a value that cannot be read ({exc})") from None
    try:
        return load_yaml_data(text, source)
    except ConfigError as exc:
        raise OpenApiSpecError(source, exc.detail, exc.line) from None


def _plain(value: Any) -> Any:
    """JSON-shaped data: YAML's unquoted `200:` keys become strings, its dates ISO text."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _version(data: dict[str, Any], text: str, source: str) -> str:
    if "swagger" in data:
        raise OpenApiSpecError(
            source,
            f"is a Swagger {data['swagger']} document; apitape checks OpenAPI 3.0 and 3.1 "
            "documents: convert it first (for example with swagger2openapi)",
            yaml_line(text, ["swagger"]),
            "#/swagger",
        )
    version = data.get("openapi")
    if not isinstance(version, str) or not _SUPPORTED.match(version):
        found = "no 'openapi' key" if version is None else f"openapi: {version!r}"
        raise OpenApiSpecError(
            source,
            f"has {found}; apitape checks OpenAPI 3.0.x and 3.1.x documents "
            "(the version is a quoted string such as '3.1.0')",
            yaml_line(text, ["openapi"]) if version is not None else None,
            "#/openapi",
        )
    return version


@dataclass
class _ReferencedFiles:
    """The folder every file a `$ref` names must be in (None: the document was not read from
    a file), and the files already checked."""

    folder: Path | None
    checked: set[Path] = field(default_factory=set)

    @classmethod
    def of(cls, base_uri: str) -> _ReferencedFiles:
        parts = urlsplit(base_uri)
        if parts.scheme != "file":
            return cls(None)
        return cls(Path(unquote(parts.path)).resolve().parent)


def _check_local_refs(
    node: Any,
    root: Any,
    keys: tuple[str | int, ...],
    text: str,
    source: str,
    base_uri: str,
    files: _ReferencedFiles,
) -> None:
    """Fail on the first `$ref` that points nowhere or outside the document's folder, naming
    where the `$ref` is; the files it names are checked the same way."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_local_refs(item, root, (*keys, index), text, source, base_uri, files)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        where = (*keys, "$ref")
        target, _, fragment = ref.partition("#")
        if target:
            problem = _file_ref_problem(ref, urljoin(base_uri, target), source, files)
            if problem:
                raise OpenApiSpecError(source, problem, yaml_line(text, where), _pointer(where))
        elif _resolve(root, fragment) is None:
            raise OpenApiSpecError(
                source,
                f"$ref {ref!r} points to nothing in this document; fix the reference or add "
                "what it names",
                yaml_line(text, where),
                _pointer(where),
            )
    for key, value in node.items():
        _check_local_refs(value, root, (*keys, key), text, source, base_uri, files)


def _file_ref_problem(ref: str, uri: str, source: str, files: _ReferencedFiles) -> str | None:
    """Why a `$ref` to another file cannot be followed, or None (its file checked in turn).

    Only files in the document's folder or below it are read: a document from elsewhere
    must not make apitape read `file:///etc/passwd` or `../../home/me/.netrc` (whose text
    an error message would show), nor fetch a URL."""
    parts = urlsplit(uri)
    if parts.scheme not in ("file", "") or parts.netloc not in ("", "localhost"):
        return (
            f"$ref {ref!r} names a document on the network, and apitape reads none: save "
            "it in the document's folder and refer to it by a relative path"
        )
    if files.folder is None or not parts.scheme:
        return (
            f"$ref {ref!r} names another file, and this document was not read from a file: "
            "load it from its file so that $refs are read from its folder"
        )
    try:
        path = Path(unquote(parts.path)).resolve()
    except (OSError, ValueError, RuntimeError):
        return f"$ref {ref!r} names a file that does not exist"
    if not path.is_relative_to(files.folder):
        return (
            f"$ref {ref!r} names {path}, outside the document's folder {files.folder}: "
            "apitape reads $refs only from that folder and below it (after following "
            "symbolic links); copy the file there and refer to it by a relative path"
        )
    try:
        if not path.is_file():
            return f"$ref {ref!r} names a file that does not exist"
    except (OSError, ValueError):
        return f"$ref {ref!r} names a file that does not exist"
    if path not in files.checked:
        files.checked.add(path)
        _check_referenced_file(path, Path(source).parent / path.relative_to(files.folder), files)
    return None


def _check_referenced_file(path: Path, shown: Path, files: _ReferencedFiles) -> None:
    """Check the `$ref`s of a file another `$ref` names, relative to that file."""
    name = str(shown)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OpenApiSpecError(name, f"cannot be read ({exc})") from None
    raw = _read_data(text, name)
    _check_size(raw, name, text)
    data = _plain(raw)
    _check_local_refs(data, data, (), text, name, path.as_uri(), files)


_MISSING = object()


def _resolve(root: Any, fragment: str) -> Any:
    node = root
    for raw in fragment.split("/")[1:] if fragment else []:
        key = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node if node is not None else _MISSING


def _pointer(keys: Iterable[Any]) -> str:
    return "#" + "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in keys)


def _server_paths(servers: Any) -> tuple[str, ...] | None:
    """The path part of each server URL ("" for the root), variables at their defaults."""
    if not isinstance(servers, list) or not servers:
        return None
    paths = []
    for server in servers:
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            continue
        url = server["url"]
        variables = server.get("variables")
        defaults = {
            name: str(v["default"])
            for name, v in (variables.items() if isinstance(variables, dict) else ())
            if isinstance(v, dict) and "default" in v
        }
        url = _VARIABLE.sub(lambda m, d=defaults: d.get(m[1], m[0]), url)  # type: ignore[misc]
        path = urlsplit(url).path if "://" in url else url
        paths.append(path.rstrip("/"))
    return tuple(dict.fromkeys(paths)) or None


def _operations(data: dict[str, Any]) -> tuple[Operation, ...]:
    root = _server_paths(data.get("servers")) or ("",)
    operations = []
    for path, item in data["paths"].items():
        if not isinstance(item, dict) or not isinstance(path, str):
            continue
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            responses = operation.get("responses")
            bases = (
                _server_paths(operation.get("servers"))
                or _server_paths(item.get("servers"))
                or root
            )
            operations.append(
                Operation(
                    method.upper(),
                    path,
                    operation.get("operationId"),
                    tuple(str(k) for k in responses) if isinstance(responses, dict) else (),
                    bases,
                )
            )
    return tuple(operations)


def _with_relative_servers(data: dict[str, Any]) -> dict[str, Any]:
    """The document with every server reduced to its path: traffic is recorded against
    staging or a laptop, never at the host the document names, and openapi-core would
    otherwise refuse every request to another host."""

    def relative(servers: Any) -> Any:
        paths = _server_paths(servers)
        return [{"url": p or "/"} for p in paths] if paths else servers

    copy = dict(data)
    if "servers" in copy:
        copy["servers"] = relative(copy["servers"])
    paths = {}
    for path, item in data["paths"].items():
        if isinstance(item, dict):
            item = dict(item)
            if "servers" in item:
                item["servers"] = relative(item["servers"])
            for method in METHODS:
                if isinstance(item.get(method), dict) and "servers" in item[method]:
                    item[method] = {**item[method], "servers": relative(item[method]["servers"])}
        paths[path] = item
    copy["paths"] = paths
    return copy


@functools.lru_cache(maxsize=1024)
def _template_regex(template: str) -> re.Pattern[str]:
    """`/books/{bookId}` as a regex of whole paths; a variable is one segment or part of one."""
    literals = _VARIABLE.split(template)[::2]
    return re.compile("[^/]+".join(re.escape(part) for part in literals))


# --------------------------------------------------------------------------- validating


class _RequestAdapter:
    """An apitape Request in the shape openapi-core reads."""

    def __init__(self, request: Request) -> None:
        parts = urlsplit(request.url)
        self.host_url = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path or "/"
        self.method = request.method.lower()
        self.body: bytes | None = request.body or None
        self.content_type = (first_header(request.headers, "content-type") or "").lower()
        cookies: SimpleCookie = SimpleCookie()
        for name, value in request.headers:
            if name.lower() == "cookie":
                with contextlib.suppress(CookieError):  # a malformed cookie is no parameter
                    cookies.load(value)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            header=HeaderMap(list(request.headers)),
            cookie=ImmutableMultiDict({k: m.value for k, m in cookies.items()}),
        )


class _ResponseAdapter:
    """An apitape Response in the shape openapi-core reads."""

    def __init__(self, response: Response, body_kept: bool) -> None:
        self.status_code = response.status
        self.headers = HeaderMap(list(response.headers))
        self.content_type = (first_header(response.headers, "content-type") or "").lower()
        self.data: bytes | None = response.body if body_kept else None


def _response_differences(error: Exception, response: Response) -> Iterator[Difference]:
    cause = error.__cause__
    if isinstance(error, ResponseNotFound):
        documented = list(error.availableresponses)
        yield Difference("status", "contract_status", documented, response.status)
    elif isinstance(error, MissingRequiredHeader):
        yield Difference(
            f"headers.{error.name.lower()}",
            "contract_header",
            "required",
            None,
            actual_present=False,
        )
    elif isinstance(error, MissingData):
        yield Difference("body", "contract_body", "a body", "empty")
    elif isinstance(cause, MediaTypeNotFound):
        yield Difference(
            "headers.content-type",
            "contract_header",
            list(cause.availableMimetypes),
            cause.mimetype,
        )
    elif isinstance(cause, MediaTypeDeserializeError):
        yield Difference("body", "contract_body", f"valid {cause.mimetype}", "unparseable")
    elif isinstance(cause, InvalidSchemaValue):
        name = getattr(error, "name", None)
        if name is not None:  # a header whose value does not fit its schema
            yield from _schema_differences(cause, f"headers.{name.lower()}", "contract_header")
        else:
            yield from _schema_differences(cause, "", "contract_body")
    elif not isinstance(error, PathError):
        yield Difference(
            "response", "contract_body", None, _describe(error), expected_present=False
        )


def _request_differences(error: Exception) -> Iterator[Difference]:
    cause = error.__cause__
    if isinstance(error, PathError):
        return  # not documented: coverage counts it
    if isinstance(error, SecurityValidationError):
        yield Difference(
            "request:security", "contract_request", "credentials", None, actual_present=False
        )
    elif isinstance(error, MissingRequiredParameter):
        yield Difference(
            f"request:{error.location}.{error.name}",
            "contract_request",
            "required",
            None,
            actual_present=False,
        )
    elif isinstance(error, ParameterValidationError):
        where = f"request:{error.location}.{error.name}"
        if isinstance(cause, InvalidSchemaValue):
            yield from _schema_differences(cause, where, "contract_request")
        elif isinstance(cause, CastError):
            yield Difference(where, "contract_request", cause.type, cause.value)
        else:
            yield Difference(
                where, "contract_request", None, _describe(cause or error), expected_present=False
            )
    elif isinstance(error, MissingRequiredRequestBody):
        yield Difference("request:body", "contract_request", "a body", None, actual_present=False)
    elif isinstance(cause, InvalidSchemaValue):
        yield from _schema_differences(cause, "request:", "contract_request")
    elif isinstance(cause, MediaTypeNotFound):
        yield Difference(
            "request:headers.content-type",
            "contract_request",
            list(cause.availableMimetypes),
            cause.mimetype,
        )
    elif isinstance(cause, MediaTypeDeserializeError):
        yield Difference(
            "request:body", "contract_request", f"valid {cause.mimetype}", "unparseable"
        )
    else:
        yield Difference(
            "request", "contract_request", None, _describe(error), expected_present=False
        )


def _schema_differences(error: InvalidSchemaValue, prefix: str, kind: str) -> Iterator[Difference]:
    """One Difference per schema error: its JSON path, what the schema wants, what was there.

    `prefix` is "" for a response body (`$.price`), `request:` for a request body
    (`request:$.price`), else the place of a header or parameter (`headers.x-rate-limit`).
    """
    missing: set[tuple[str, str]] = set()
    for found in map(_as_any, error.schema_errors):  # jsonschema's ValidationError
        path = json_path(list(found.absolute_path))
        path = prefix + path if prefix in ("", "request:") else prefix + path[1:]
        if found.validator == "required" and isinstance(found.instance, dict):
            # jsonschema reports each missing property as its own error, each with the
            # whole `required` list: name every missing property once
            for name in found.validator_value:
                if name not in found.instance and (path, name) not in missing:
                    missing.add((path, name))
                    yield Difference(
                        _join(path, name), kind, "required", None, actual_present=False
                    )
        elif found.validator == "type":
            expected = _type_names(found.validator_value)
            yield Difference(path, kind, expected, _json_type(found.instance))
        else:
            wanted = f"{found.validator} {json.dumps(found.validator_value, default=str)}"
            yield Difference(path, kind, wanted, found.instance)


def _as_any(value: Any) -> Any:
    return value


def _join(path: str, name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return f"{path}.{name}"
    return f"{path}[{json.dumps(name)}]"


def _type_names(value: Any) -> str:
    return " or ".join(value) if isinstance(value, list) else str(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _describe(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
