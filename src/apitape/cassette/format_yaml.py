"""vcrpy-compatible YAML cassettes: read safely one interaction at a time, written append-only.

apitape writes a header, then appends one exchange at a time, each followed by an end marker
line, so a file cut off at any byte still loads every exchange before the cut. Reading splits
the `interactions` list into one chunk per entry (at the end markers in files apitape wrote,
at the list's `- ` lines in others) and loads each chunk alone: memory stays that of one
entry, an error names its line, and libyaml builds small node trees that the garbage collector
does not have to walk again and again. A file that does not split this way (flow style, an
odd layout) is loaded whole, as before.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from apitape.cassette.format_yaml_tags import MAP, MERGE, SEQ, STR, resolve
from apitape.cassette.format_yaml_text import entry_yaml
from apitape.cassette.shape import Entry, FlowDict, FlowList, header_dict, torn_warning
from apitape.errors import CassetteError

HEADER_COMMENT = "# apitape cassette, format 1: vcrpy-compatible YAML, see docs/cassette-format.md"
END_MARKER = "# end of exchange "
# An exchange is complete once its end marker line, newline included, is in the file.
_END_MARKER_LINE = re.compile(r"^# end of exchange [^\n]*\n", re.MULTILINE)
_INTERACTIONS_LINE = re.compile(r"interactions:[ \t]*(?:#[^\n]*)?\r?\n?")

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """libyaml's safe loader, plus the plain-data Python tags old vcrpy cassettes carry.

    vcrpy on older Pythons wrote strings as `!!python/unicode` or `!!python/str`, header
    pairs as `!!python/tuple`, and file-like or iterator request bodies as
    `!!python/object/new:_io.BytesIO` or `!!python/object/apply:builtins.iter`. Each is read
    here as the data it holds (text, a list, bytes) by a constructor of its own; nothing is
    imported or called, and every other `!!python/...` tag is still refused.
    """


def _construct_tuple(loader: Any, node: Node) -> list[Any]:
    if not isinstance(node, SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "a !!python/tuple must be a list", node.start_mark
        )
    return list(loader.construct_sequence(node, deep=True))


def _bytes_of(value: Any, node: Node) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list) and all(isinstance(part, bytes | str) for part in value):
        return b"".join(_bytes_of(part, node) for part in value)
    raise yaml.constructor.ConstructorError(
        None, None, "a serialised request body must hold bytes or text", node.start_mark
    )


def _body_argument(loader: Any, node: Node, key: str) -> bytes:
    """The first item of `key` (`state` of a BytesIO, `args` of iter) as bytes."""
    if not isinstance(node, MappingNode):
        raise yaml.constructor.ConstructorError(
            None, None, f"expected a mapping with '{key}'", node.start_mark
        )
    mapping = loader.construct_mapping(node, deep=True)
    value = mapping.get(key) or [b""]
    return _bytes_of(value[0] if isinstance(value, list) and value else b"", node)


_Loader.add_constructor("tag:yaml.org,2002:python/unicode", yaml.SafeLoader.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:python/str", yaml.SafeLoader.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)
_Loader.add_constructor(
    "tag:yaml.org,2002:python/object/new:_io.BytesIO",
    lambda loader, node: _body_argument(loader, node, "state"),
)
_Loader.add_constructor(
    "tag:yaml.org,2002:python/object/apply:builtins.iter",
    lambda loader, node: _body_argument(loader, node, "args"),
)


class _FastResolution:
    """Tag resolution for libyaml's per-node calls, cheaper than yaml's Resolver's: the same
    tags (see apitape.cassette.format_yaml_tags) without the path-resolver bookkeeping no cassette
    uses. The loader calls it for every node it loads; the emitter, for every scalar it
    writes, to know whether the text would read back as another type (so must be quoted)."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        return resolve(kind, value, implicit)


class _ChunkLoader(_FastResolution, _Loader):
    """The same loader with fast tag resolution, noting merge keys (`<<`)."""

    saw_merge = False

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        tag = resolve(kind, value, implicit)
        if tag == MERGE:
            self.saw_merge = True
        return tag


class _Dumper(_FastResolution, _BaseDumper):  # type: ignore[misc]
    """libyaml's safe dumper with readable text bodies and one-line header value lists."""


def _text_style(text: str) -> str | None:
    # Multi-line text (pretty JSON, HTML) reads best as a literal block; the emitter falls
    # back to a quoted style by itself when the text holds characters a block cannot keep.
    return "|" if "\n" in text else None


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(STR, text, style=_text_style(text))


def _represent_flow_list(dumper: yaml.SafeDumper, values: FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence(SEQ, values, flow_style=True)


def _represent_flow_dict(dumper: yaml.SafeDumper, values: FlowDict) -> yaml.MappingNode:
    return dumper.represent_mapping(MAP, values.items(), flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(FlowList, _represent_flow_list)
_Dumper.add_representer(FlowDict, _represent_flow_dict)


# --------------------------------------------------------------------------- writing


_DUMP_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "allow_unicode": True,
    "default_flow_style": False,
    "width": 1_000_000,  # fold nothing: a folded body is hard to read and to grep
}


def dump_yaml(data: Any) -> str:
    """YAML text in the cassette's style: block layout, keys in insertion order, UTF-8 kept.

    Plain data (dicts, lists, text, numbers, bytes) goes to the emitter as a node tree built
    here, the tree yaml's generic representer builds, node for node, at more cost: it looks
    each value's type up along its class's MRO and keeps every container for aliases. An
    entry with a multi-line body (which entry_text leaves to this): 91 -> 79 us. Anything
    else, or a container met twice (which yaml writes as an alias), takes yaml's own way.
    """
    stream = io.StringIO()
    dumper = _Dumper(stream, **_DUMP_OPTIONS)
    try:
        dumper.open()
        try:
            node = _plain_node(dumper, data, set())
        except _NotPlain:
            return str(yaml.dump(data, Dumper=_Dumper, **_DUMP_OPTIONS))
        dumper.serialize(node)
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()


class _NotPlain(Exception):
    """The data holds what only yaml's own representer writes right."""


_SCALARS = (type(None), bool, int, float, bytes)


def _plain_node(dumper: Any, data: Any, containers: set[int]) -> Node:
    """The node yaml's representer (with _Dumper's representers) makes of plain data."""
    kind = type(data)
    if kind is str:
        return ScalarNode(STR, data, style=_text_style(data))
    if kind is dict or kind is FlowDict or kind is list or kind is FlowList:
        if id(data) in containers:
            raise _NotPlain  # met twice: yaml writes an anchor and an alias
        containers.add(id(data))
        if kind is dict or kind is FlowDict:
            pairs = [
                (_plain_node(dumper, key, containers), _plain_node(dumper, value, containers))
                for key, value in data.items()
            ]
            return MappingNode(MAP, pairs, flow_style=kind is FlowDict)
        items = [_plain_node(dumper, item, containers) for item in data]
        return SequenceNode(SEQ, items, flow_style=kind is FlowList)
    if kind in _SCALARS:
        return dumper.represent_data(data)  # type: ignore[no-any-return]
    raise _NotPlain


def entry_text(entry: dict[str, Any], exchange_id: str) -> str:
    """The text appended to a cassette for one entry: a list item and its end marker."""
    text = entry_yaml(entry)
    if text is None:  # not in the subset written directly (a multi-line body, say)
        text = dump_yaml([entry])
    # A body ending in blank lines is written as a `|+` block, after which the emitter closes
    # the document with `...`: another entry appended after that would make the file invalid.
    text = text.removesuffix("...\n")
    return text + f"{END_MARKER}{exchange_id}\n"


def header_text(created_at: str, extra: dict[str, Any] | None = None) -> str:
    """The text a new cassette starts with, up to the `interactions:` key."""
    return f"{HEADER_COMMENT}\n" + dump_yaml(header_dict(created_at, extra)) + "interactions:\n"


# --------------------------------------------------------------------------- reading


def drop_torn_tail(text: str, path: str) -> tuple[str, str | None]:
    """Cut off whatever follows the last complete exchange of an apitape-written file."""
    markers = list(_END_MARKER_LINE.finditer(text))
    last_marker = markers[-1] if markers else None
    if last_marker is not None:
        complete_end = last_marker.end()
    else:
        header_end = text.find("\ninteractions:")
        if header_end < 0:
            return text, None  # not even a complete header: let the YAML parser explain
        complete_end = text.find("\n", header_end + 1) + 1 or len(text)
    tail = text[complete_end:]
    if not tail.strip():
        return text, None
    return text[:complete_end], torn_warning(path, text.count("\n", 0, complete_end) + 1)


def yaml_error(
    exc: yaml.YAMLError, path: str, first_line: int = 1, text: str = ""
) -> CassetteError:
    """A YAML error as a CassetteError naming the line (`first_line`: where `text` began)."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + first_line if mark is not None else None
    if isinstance(exc, yaml.constructor.ConstructorError):
        return CassetteError(
            path,
            f"{exc.problem}; apitape loads cassettes safely and never runs a YAML tag, "
            "so remove the tag or re-record the cassette",
            line,
        )
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        return CassetteError(
            path,
            f"is not valid YAML (character #x{exc.character:04x} is not allowed: {exc.reason}); "
            "fix the file or re-record it",
            first_line + text.count("\n", 0, exc.position) if text else None,
        )
    problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else exc
    return CassetteError(path, f"is not valid YAML ({problem}); fix the file or re-record it", line)


def value_error(exc: Exception, path: str, node: Node | None, first_line: int = 1) -> CassetteError:
    """A value YAML parsed but Python cannot build (an integer of 5,000 digits, February 30th)
    or a document nested too deeply, as a CassetteError naming the line of the value."""
    if isinstance(exc, RecursionError):
        line = node.start_mark.line + first_line if node is not None else None
        return CassetteError(
            path, "nests lists or mappings too deeply to be read; fix the file", line
        )
    found = _failing_scalar(node) if node is not None else None
    where = found if found is not None else node
    line = where.start_mark.line + first_line if where is not None else None
    if "integer string conversion" in str(exc):
        problem = "holds an integer of more than 4,300 digits, more than Python reads"
    else:
        problem = f"holds a value that cannot be read ({exc})"
    return CassetteError(path, f"{problem}; fix the value, or quote it to keep it as text", line)


def _failing_scalar(root: Node) -> Node | None:
    """The first scalar under `root` that the safe constructor cannot build (error path)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ScalarNode):
            checker = _Loader("")
            try:
                checker.construct_object(node)
            except (ValueError, OverflowError, yaml.YAMLError):
                return node
            finally:
                checker.dispose()
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                stack += [value, key]
    return None


_UNBUILDABLE = (ValueError, OverflowError, RecursionError)
"""What the safe constructor raises, besides YAMLError, for text it parsed."""


class _Fallback(Exception):
    """The text did not split into entries; load the document whole instead."""


class YamlReader:
    """Reads one YAML cassette's entries in order; `metadata` is its `apitape` header.

    `lines` are the file's lines (each ending in "\\n" but perhaps the last); `whole_text`
    returns the whole file for documents that have to be loaded at once. A torn tail of an
    apitape-written file is dropped with a warning appended to `warnings`.
    """

    def __init__(
        self,
        path: str,
        lines: Iterable[str],
        whole_text: Callable[[], str],
        warnings: list[str],
    ) -> None:
        self.path = path
        self.metadata: dict[str, Any] = {}
        self._lines = lines
        self._whole_text = whole_text
        self._warnings = warnings
        self._ours = False
        self._unmarked = False  # apitape's header, but no end markers: read as plain YAML
        self._yielded = 0

    def entries(self) -> Iterator[Entry]:
        """Each entry of `interactions`, loaded chunk by chunk where the layout allows."""
        try:
            for entry in self._chunked():
                self._yielded += 1
                yield entry
        except _Fallback:
            yield from self._whole(skip=self._yielded)

    # ----------------------------------------------------------------- chunked reading

    def _chunked(self) -> Iterator[Entry]:
        lines = iter(self._lines)
        head: list[str] = []
        for line in lines:
            if not head:
                self._ours = line.startswith(HEADER_COMMENT)
            head.append(line)
            if _INTERACTIONS_LINE.fullmatch(line):
                break
        else:
            raise _Fallback  # no block `interactions:` key at the top level
        header = self._load_part("".join(head))
        if not isinstance(header, dict) or header.get("interactions", "missing") is not None:
            raise _Fallback  # not a mapping whose `interactions:` line starts the list
        self._set_metadata(header)
        split = self._split_at_markers if self._ours else self._split_at_items
        for text, first_line in split(lines, len(head) + 1):
            yield from self._chunk_entries(text, first_line)

    def _split_at_markers(self, lines: Iterator[str], number: int) -> Iterator[tuple[str, int]]:
        """Chunks that each end at an end marker; what follows the last one is a torn write.

        The markers are an optimisation: a file with apitape's header and two or more
        entries but no marker at all was not laid out by apitape's writer (edited by hand,
        or by another tool), and is read as plain YAML instead. A single entry without its
        marker cannot be told from a first exchange cut off mid-write, and is dropped with a
        warning that says how to keep it.
        """
        chunk: list[str] = []
        start = number
        marked = False
        for line in lines:
            chunk.append(line)
            number += 1
            if line.startswith(END_MARKER) and line.endswith("\n"):
                marked = True
                yield "".join(chunk), start
                chunk, start = [], number
        if "".join(chunk).strip():
            if not marked and _count_items(chunk) >= 2:
                self._unmarked = True
                raise _Fallback
            hint = "" if marked else _NO_MARKER_HINT
            self._warnings.append(torn_warning(self.path, start) + hint)

    def _split_at_items(self, lines: Iterator[str], number: int) -> Iterator[tuple[str, int]]:
        """Chunks that each start at a `- ` item of the list; what follows the list is read
        as more top-level keys. A wrong split (a quoted scalar's continuation line at the
        item's indentation) leaves an unterminated chunk, which fails and falls back."""
        chunk: list[str] = []
        start = number
        prefix: str | None = None
        for line in lines:
            stripped = line.lstrip(" ")
            blank_or_comment = stripped[:1] in ("", "\n", "\r", "#")
            if prefix is None and not blank_or_comment:
                indent = len(line) - len(stripped)
                if not _starts_item(stripped, "-"):
                    self._read_rest(line, lines)  # `interactions:` had no list
                    return
                prefix = line[:indent] + "-"
            if prefix is not None and _starts_item(line, prefix):
                if chunk:
                    yield "".join(chunk), start
                chunk, start = [line], number
            elif not blank_or_comment and prefix is not None and _outdented(line, prefix):
                if chunk:
                    yield "".join(chunk), start
                self._read_rest(line, lines)
                return
            else:
                chunk.append(line)
            number += 1
        if chunk:
            yield "".join(chunk), start

    def _read_rest(self, line: str, lines: Iterator[str]) -> None:
        """The top-level keys after the list (vcrpy writes `version: 1` there)."""
        rest = self._load_part(line + "".join(lines))
        if not isinstance(rest, dict) or "interactions" in rest:
            raise _Fallback
        header = {"apitape": self.metadata, **rest} if self.metadata else rest
        self._set_metadata(header)

    def _set_metadata(self, header: dict[str, Any]) -> None:
        meta = header.get("apitape")
        self.metadata = meta if isinstance(meta, dict) else {}

    def _load_part(self, text: str) -> Any:
        """The header before the list or the keys after it; any error is explained by
        loading the whole document."""
        loader = _Loader(text)
        try:
            return loader.get_single_data()
        except (yaml.YAMLError, *_UNBUILDABLE):
            raise _Fallback from None
        finally:
            loader.dispose()

    def _chunk_entries(self, text: str, first_line: int) -> list[Entry]:
        loader = _ChunkLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return []
            if not isinstance(node, SequenceNode) or node.tag != SEQ:
                raise _Fallback
            generic = loader.saw_merge or _may_hold_an_anchor(text)
            entries: list[Entry] = []
            for item in node.value:
                try:
                    value = _construct(loader, item, generic)
                except _UNBUILDABLE as exc:
                    raise value_error(exc, self.path, item, first_line) from None
                entries.append((value, first_line + item.start_mark.line))
            return entries
        except yaml.YAMLError as exc:
            if self._ours:  # chunks end at apitape's own markers: the error is in this entry
                raise yaml_error(exc, self.path, first_line, text) from None
            raise _Fallback from None
        except RecursionError:
            raise value_error(RecursionError(), self.path, None, first_line) from None
        finally:
            loader.dispose()

    # ----------------------------------------------------------------- whole document

    def _whole(self, skip: int) -> Iterator[Entry]:
        text = self._whole_text()
        self._ours = text.startswith(HEADER_COMMENT) and not self._unmarked
        if self._ours:
            text, torn = drop_torn_tail(text, self.path)
            if torn and torn not in self._warnings:
                self._warnings.append(torn)
        loader = _Loader(text)
        root = None
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.YAMLError as exc:
            raise yaml_error(exc, self.path, 1, text) from None
        except _UNBUILDABLE as exc:
            raise value_error(exc, self.path, root) from None
        finally:
            loader.dispose()
        if not isinstance(data, dict):
            raise CassetteError(
                self.path,
                "is not a cassette: expected a mapping with an 'interactions' list at the top",
            )
        interactions = data.get("interactions")
        if interactions is None:
            if "interactions" not in data:
                raise CassetteError(
                    self.path, "has no 'interactions' key; is this a vcrpy/apitape cassette?"
                )
            interactions = []  # a cassette whose recorder stopped before the first exchange
        if not isinstance(interactions, list):
            raise CassetteError(
                self.path, "'interactions' must be a list of {request, response} entries"
            )
        self._set_metadata(data)
        lines = _item_lines(root)
        for index in range(skip, len(interactions)):
            yield interactions[index], lines[index] if index < len(lines) else None


def _may_hold_an_anchor(text: str) -> bool:
    """Whether an `&name` anchor may be in the text (aliases to it would share one value,
    which only the safe constructor keeps); an `&` inside a URL or a word is not one."""
    at = text.find("&")
    while at >= 0:
        if (at == 0 or text[at - 1] in " \t\r\n[{,") and text[at + 1 : at + 2].strip():
            return True
        at = text.find("&", at + 1)
    return False


_NO_MARKER_HINT = (
    "; if that exchange is complete (a file edited by hand), end it with a "
    f"'{END_MARKER}1' line, or remove the first line ('{HEADER_COMMENT[:22]}...')"
)


def _count_items(lines: list[str]) -> int:
    """How many items the list these lines hold has at its outermost indentation."""
    prefix = None
    count = 0
    for line in lines:
        stripped = line.lstrip(" ")
        if prefix is None and stripped[:1] == "-" and _starts_item(stripped, "-"):
            prefix = line[: len(line) - len(stripped)] + "-"
        if prefix is not None and _starts_item(line, prefix):
            count += 1
    return count


def _starts_item(line: str, prefix: str) -> bool:
    """Whether a line starts a list item at the indentation `prefix` ends with `-`."""
    return line.startswith(prefix) and line[len(prefix) : len(prefix) + 1] in (" ", "\n", "\r", "")


def _outdented(line: str, prefix: str) -> bool:
    """Whether a content line is indented less than the list's items (the list has ended)."""
    indent = len(prefix) - 1
    return len(line) - len(line.lstrip(" ")) < indent or (indent == 0 and line[0] not in " \t")


def _item_lines(root: Node | None) -> list[int]:
    if not isinstance(root, MappingNode):
        return []
    for key, value in root.value:
        if key.value == "interactions" and isinstance(value, SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _construct(loader: _ChunkLoader, node: Node, generic: bool) -> Any:
    """The value of a node, as the safe constructor would build it."""
    if not generic:
        try:
            return _plain(loader, node)
        except TypeError:
            pass  # an unhashable mapping key: the safe constructor explains it
    return loader.construct_object(node, deep=True)


def _plain(loader: _ChunkLoader, node: Node) -> Any:
    """Strings, lists and mappings built directly; any other tag by the safe constructor
    (which refuses tags that would run code). Only for chunks without anchors or merges."""
    tag = node.tag
    if node.__class__ is ScalarNode:
        return node.value if tag == STR else loader.construct_object(node)
    if node.__class__ is MappingNode and tag == MAP:
        return {_plain(loader, key): _plain(loader, value) for key, value in node.value}
    if node.__class__ is SequenceNode and tag == SEQ:
        return [_plain(loader, item) for item in node.value]
    return loader.construct_object(node, deep=True)
