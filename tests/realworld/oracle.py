"""The independent oracle of the changed-build test bed: what really differs between two
versions of a service, found without apitape.

Standard library only, and never an import of apitape. The service's real client session
(the same `session()` the harness runs) is driven three times, each time against a fresh
instance, through a small logging reverse proxy of our own (`CaptureProxy`, http.server +
http.client) that keeps every request/response pair in order:

    A1: the old version    A2: the old version again    B: the new version

A1 and B are then compared exchange by exchange, in order. A field that differs between A1
and B but not between A1 and A2 is a real difference of the new version; a field that differs
between A1 and A2 is the service's own noise (ids, timestamps, request ids) and is dropped.

What a "field" is (the names are chosen to read like apitape's report, so a comparison can
match them; the rules below are this module's own):

- `status`: the status code; kind `status_changed`.
- `headers.NAME` (lower case) for the headers a client notices: Content-Type, Location,
  Cache-Control, Content-Disposition, Content-Language, WWW-Authenticate, Allow, Vary,
  Access-Control-Allow-Origin/-Methods/-Headers (the list apitape documents as compared in
  docs/report-format.md); kinds `header_changed`, `header_added`, `header_removed`.
  Repeated headers are joined with ", ".
- JSON bodies (a Content-Type with `json` in it): JSON paths `$.a.b[0]` (`.key` for an
  identifier, `["odd key"]` otherwise, `[n]` for list items); kinds `value_changed` (same JSON
  type, other value), `type_changed` (string/number-int/number-float/bool/null/object/array
  differ), `field_added`, `field_removed`, `item_added`, `item_removed` (lists compared index
  by index).
- Any other body (XML, HTML, text, binary): the field `body`, kind `body_changed`, when its
  non-noise part differs. Text is cut into tokens (markup tags, runs of white space, runs of
  other characters) and compared token by token (difflib, positions counted in A1's tokens),
  so a new id inside an XML element is noise at its token while a changed tag, a changed XML
  declaration or a new line break is a real change; binary bodies compare byte for byte.
- `body` with kind `body_format_changed` when the body's category (empty, json, text, binary)
  changed and its bytes did too (the same bytes under another Content-Type are only a
  `headers.content-type` difference).

Each instance's own base URL (the proxy's, and the instance's) is replaced by `{base}` in
compared headers and bodies before comparing: instances run on different ports.

Exchanges are aligned online: A2 and B are captured with A1 as the reference, each request
matched with A1's next ones by (method, path template, query names, conditional header
names). When the new version's client skips a request A1 made (pypiserver 2.4 sends no ETag,
so the session makes no If-None-Match request), the proxy sends A1's request itself at that
point in B's session, if it is safe (GET/HEAD): the direct comparison of that request
(`probe` in the output). An exchange one run has and the other does not is reported as
unaligned.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import gzip
import http.client
import json
import re
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMPARED_HEADERS = (
    "content-type",
    "location",
    "cache-control",
    "content-disposition",
    "content-language",
    "www-authenticate",
    "allow",
    "vary",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
)

_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
}


# --- capture: a logging reverse proxy ---------------------------------------------------------


@dataclass
class Exchange:
    seq: int
    method: str
    path: str  # path and query as the client sent them
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    a1_index: int | None = None  # the reference run's exchange this one answers (see capture)
    probe: bool = False  # sent by the oracle itself: a safe request the client skipped here

    def to_json(self) -> dict:
        return {
            "a1_index": self.a1_index,
            "probe": self.probe,
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "request_headers": self.request_headers,
            "request_body_b64": base64.b64encode(self.request_body).decode(),
            "status": self.status,
            "headers": self.headers,
            "body_b64": base64.b64encode(self.body).decode(),
        }

    @classmethod
    def from_json(cls, d: dict) -> Exchange:
        return cls(
            d["seq"],
            d["method"],
            d["path"],
            [tuple(h) for h in d["request_headers"]],
            base64.b64decode(d["request_body_b64"]),
            d["status"],
            [tuple(h) for h in d["headers"]],
            base64.b64decode(d["body_b64"]),
            d.get("a1_index"),
            d.get("probe", False),
        )


def request_key(method: str, path: str, headers) -> str:
    """How a request is recognised between runs: its template and its conditional headers."""
    cond = sorted({k.lower() for k, _ in headers if k.lower().startswith("if-")})
    return template(method, path) + ("  " + ",".join(cond) if cond else "")


class CaptureProxy:
    """A reverse proxy on a free loopback port that forwards to `upstream` and keeps every
    exchange, in the order the answers went back. The client's Host header is forwarded as
    sent, so redirects and self links point back at the proxy.

    With `reference` (the exchanges of an earlier run, A1), each request is matched online
    with the reference's next requests by `request_key`: it gets `a1_index`; a reference
    request this client skipped (at most 5 back) is sent here by the proxy itself, before the
    request that follows it, when it is safe (GET or HEAD), and kept with `probe=True`: that
    is the direct comparison of a request the new version's client no longer makes."""

    def __init__(self, upstream: str, reference: list[Exchange] | None = None):
        u = urllib.parse.urlsplit(upstream)
        self.up_host, self.up_port = u.hostname, u.port or 80
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._ref = reference
        self._ref_keys = (
            [request_key(e.method, e.path, e.request_headers) for e in reference]
            if reference
            else []
        )
        self._next = 0
        proxy = self

        def send(method, path, headers, body):
            conn = http.client.HTTPConnection(proxy.up_host, proxy.up_port, timeout=300)
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders(body or None)
                resp = conn.getresponse()
                return resp, resp.read(), resp.getheaders()
            finally:
                conn.close()

        def match(method, path, headers) -> int | None:
            """The reference index of this request; sends the skipped safe ones first."""
            if proxy._ref is None:
                return None
            key = request_key(method, path, headers)
            keys, start = proxy._ref_keys, proxy._next
            for q in range(start, min(start + 6, len(keys))):
                if keys[q] != key:
                    continue
                for r in range(start, q):
                    ref = proxy._ref[r]
                    if ref.method not in ("GET", "HEAD"):
                        continue
                    hdrs = [(k, v) for k, v in ref.request_headers if k.lower() not in _HOP]
                    presp, pbody, pheaders = send(ref.method, ref.path, hdrs, ref.request_body)
                    proxy.exchanges.append(
                        Exchange(
                            len(proxy.exchanges),
                            ref.method,
                            ref.path,
                            list(ref.request_headers),
                            ref.request_body,
                            presp.status,
                            pheaders,
                            pbody,
                            r,
                            True,
                        )
                    )
                proxy._next = q + 1
                return q
            return None  # a request the reference run did not make

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _forward(self):
                body = self._body()
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP]
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                    headers.append(("Content-Length", str(len(body))))
                with proxy._lock:  # the sessions are sequential: one request at a time
                    a1_index = match(self.command, self.path, list(self.headers.items()))
                    resp, rbody, rheaders = send(self.command, self.path, headers, body)
                    proxy.exchanges.append(
                        Exchange(
                            len(proxy.exchanges),
                            self.command,
                            self.path,
                            list(self.headers.items()),
                            body,
                            resp.status,
                            rheaders,
                            rbody,
                            a1_index,
                        )
                    )
                self.send_response_only(resp.status, resp.reason)
                length = None
                for k, v in rheaders:
                    lk = k.lower()
                    if lk in _HOP:
                        continue
                    if lk == "content-length":
                        length = v
                        continue
                    self.send_header(k, v)
                no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
                if no_body:
                    if length is not None:
                        self.send_header("Content-Length", length)
                else:
                    self.send_header("Content-Length", str(len(rbody)))
                self.end_headers()
                if not no_body:
                    self.wfile.write(rbody)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CaptureProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def capture(
    start_instance, run_session, workdir: Path, reference: list[Exchange] | None = None
) -> tuple[list[Exchange], dict]:
    """Start a fresh instance, run the session through a CaptureProxy, stop everything.

    start_instance(workdir) -> an object with .url and .stop(); run_session(base_url, workdir,
    log) -> a CompletedProcess."""
    workdir.mkdir(parents=True, exist_ok=True)
    inst = start_instance(workdir / "server")
    info: dict = {"instance": inst.url}
    try:
        with CaptureProxy(inst.url, reference) as proxy:
            info["proxy"] = proxy.url
            t0 = time.monotonic()
            sess = run_session(proxy.url, workdir / "client", workdir / "session.log")
            info["session_exit"] = sess.returncode
            info["session_seconds"] = round(time.monotonic() - t0, 1)
            time.sleep(0.2)
            exchanges = list(proxy.exchanges)
    finally:
        inst.stop()
    info["bases"] = [proxy.url, inst.url]
    return exchanges, info


# --- naming ------------------------------------------------------------------------------------

_ID_LIKE = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{16,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|[A-Za-z0-9_\-.~%]{24,})$"
)


def template(method: str, path: str) -> str:
    """`METHOD /a/{id}/b?k1&k2`: id-like path segments (digits, hex of 16+, UUIDs, tokens of
    24+ characters) become {id}; the query keeps its parameter names only, sorted. Used to align
    exchanges between runs and as the oracle's own endpoint name."""
    u = urllib.parse.urlsplit(path)
    segs = [("{id}" if _ID_LIKE.match(s) else s) for s in u.path.split("/")]
    q = sorted({k for k, _ in urllib.parse.parse_qsl(u.query, keep_blank_values=True)})
    return f"{method} {'/'.join(segs)}" + (("?" + "&".join(q)) if q else "")


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def jpath(keys: tuple) -> str:
    out = "$"
    for k in keys:
        if isinstance(k, int):
            out += f"[{k}]"
        elif _IDENT.match(k):
            out += f".{k}"
        else:
            out += f"[{json.dumps(k)}]"
    return out


def generalize(path: str) -> str:
    """List indices as [*]: `$.items[3].x` -> `$.items[*].x`."""
    return re.sub(r"\[\d+\]", "[*]", path)


# --- comparing two exchanges -------------------------------------------------------------------


def _header(ex: Exchange, name: str) -> str | None:
    vals = [v for k, v in ex.headers if k.lower() == name]
    return ", ".join(vals) if vals else None


def _debased(text: str, bases: list[str]) -> str:
    for b in bases:
        text = text.replace(b, "{base}")
        text = text.replace(b.replace("http://", ""), "{base}")
    return text


def _decoded_body(ex: Exchange) -> bytes:
    enc = (_header(ex, "content-encoding") or "").lower()
    try:
        if enc == "gzip":
            return gzip.decompress(ex.body)
        if enc == "deflate":
            return zlib.decompress(ex.body)
    except (OSError, zlib.error):
        pass
    return ex.body


def body_view(ex: Exchange, bases: list[str]) -> tuple[str, Any]:
    """(category, value): ('empty', None), ('json', parsed), ('text', [tokens]),
    ('binary', bytes). Text (XML, HTML, plain) is cut into tokens: markup tags, runs of
    white space, runs of other characters."""
    raw = _decoded_body(ex)
    if not raw or ex.method == "HEAD":
        return "empty", None
    ctype = (_header(ex, "content-type") or "").split(";")[0].strip().lower()
    charset = "utf-8"
    m = re.search(r"charset=([\w-]+)", _header(ex, "content-type") or "")
    if m:
        charset = m.group(1)
    try:
        text = raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return "binary", raw
    text = _debased(text, bases)
    if "json" in ctype:
        try:
            return "json", json.loads(text)
        except ValueError:
            pass
    if (
        ctype.startswith("text/")
        or "xml" in ctype
        or "javascript" in ctype
        or not ctype
        or text.lstrip().startswith("<")
    ):
        return "text", _TOKEN.findall(text)
    return "binary", raw


_TOKEN = re.compile(r"<[^>]*>|\s+|[^<\s]+")


def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def diff_json(a: Any, b: Any, keys: tuple = ()) -> list[tuple[str, str, Any, Any]]:
    """(path, kind, a_value, b_value) for every difference between two JSON values."""
    ta, tb = _jtype(a), _jtype(b)
    if ta != tb:
        return [(jpath(keys), "type_changed", a, b)]
    out = []
    if ta == "object":
        for k in a:
            if k not in b:
                out.append((jpath((*keys, k)), "field_removed", a[k], None))
            else:
                out += diff_json(a[k], b[k], (*keys, k))
        for k in b:
            if k not in a:
                out.append((jpath((*keys, k)), "field_added", None, b[k]))
    elif ta == "array":
        for i in range(max(len(a), len(b))):
            if i >= len(b):
                out.append((jpath((*keys, i)), "item_removed", a[i], None))
            elif i >= len(a):
                out.append((jpath((*keys, i)), "item_added", None, b[i]))
            else:
                out += diff_json(a[i], b[i], (*keys, i))
    elif a != b:
        out.append((jpath(keys), "value_changed", a, b))
    return out


def _token_changes(a: list[str], b: list[str]) -> list[tuple[int | str, str, str]]:
    """(where in a, a's tokens, b's tokens) for each change a -> b: `where` is the index of a
    replaced/deleted token of a, or `before N` for an insertion before a's token N. Keyed by a's
    positions, so A1 -> A2 and A1 -> B changes can be told apart."""
    out: list[tuple[int | str, str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            for i in range(i1, i2):
                out.append((i, a[i], "".join(b[j1:j2]) if op == "replace" else ""))
        elif op == "insert":
            out.append((f"before {i1}", "", "".join(b[j1:j2])))
    return out


@dataclass
class Diff:
    """One field that differs between two exchanges."""

    field: str
    kind: str
    a: Any
    b: Any
    detail: str = ""


def diff_exchange(x: Exchange, y: Exchange, bx: list[str], by: list[str]) -> list[Diff]:
    """Every field that differs between exchange x (bases bx) and y (bases by)."""
    out: list[Diff] = []
    if x.status != y.status:
        out.append(Diff("status", "status_changed", x.status, y.status))
    for h in COMPARED_HEADERS:
        va, vb = _header(x, h), _header(y, h)
        va = _debased(va, bx) if va is not None else None
        vb = _debased(vb, by) if vb is not None else None
        if va == vb:
            continue
        kind = (
            "header_added" if va is None else "header_removed" if vb is None else "header_changed"
        )
        out.append(Diff(f"headers.{h}", kind, va, vb))
    ca, va = body_view(x, bx)
    cb, vb = body_view(y, by)
    if ca != cb:
        if _decoded_body(x) != _decoded_body(y):  # equal bytes: only the Content-Type changed
            out.append(Diff("body", "body_format_changed", ca, cb))
    elif ca == "json":
        out += [Diff(p, k, a, b) for p, k, a, b in diff_json(va, vb)]
    elif ca == "text" and va != vb:
        for i, old, new in _token_changes(va, vb):
            out.append(Diff("body", "body_changed", old, new, detail=f"token {i}"))
    elif ca == "binary" and va != vb:
        out.append(Diff("body", "body_changed", len(va), len(vb), detail="bytes"))
    return out


# --- the oracle --------------------------------------------------------------------------------


def align(xs: list[Exchange], ys: list[Exchange]) -> list[tuple[int | None, int | None]]:
    """Pairs (index in xs, the reference run; index in ys, captured against it), None where
    one side has no counterpart, in xs's order, from the a1_index the proxy gave ys."""
    of = {e.a1_index: j for j, e in enumerate(ys) if e.a1_index is not None}
    pairs: list[tuple[int | None, int | None]] = [(i, of.get(i)) for i in range(len(xs))]
    pairs += [(None, j) for j, e in enumerate(ys) if e.a1_index is None]
    return pairs


def _noise_key(d: Diff) -> str:
    return f"{d.field}|{d.detail}"


def _is_noise(d: Diff, noise: set[str], noise_fields: set[str]) -> bool:
    if _noise_key(d) in noise:
        return True
    if d.field.startswith("$"):
        # a JSON field is noise when it, or any field above it, differed between A1 and A2
        for f in noise_fields:
            if d.field == f or d.field.startswith(f + ".") or d.field.startswith(f + "["):
                return True
    return False


def real_differences(
    a1: list[Exchange],
    a2: list[Exchange],
    b: list[Exchange],
    bases: dict[str, list[str]],
) -> dict:
    """The oracle: per A1 exchange, the fields differing A1->B and not A1->A2."""
    a2_of = {i: j for i, j in align(a1, a2) if i is not None}
    found = []
    unaligned = []
    noise_count = 0
    for i, j in align(a1, b):
        if i is None or j is None:
            e = b[j] if i is None else a1[i]
            unaligned.append(
                {
                    "side": "only_new" if i is None else "only_old",
                    "index": j if i is None else i,
                    "endpoint": template(e.method, e.path),
                    "method": e.method,
                    "path": e.path,
                }
            )
            continue
        k = a2_of.get(i)
        noise_diffs = diff_exchange(a1[i], a2[k], bases["a1"], bases["a2"]) if k is not None else []
        noise = {_noise_key(d) for d in noise_diffs}
        noise_fields = {d.field for d in noise_diffs}
        for d in diff_exchange(a1[i], b[j], bases["a1"], bases["b"]):
            if k is None or _is_noise(d, noise, noise_fields):
                noise_count += 1
                continue
            found.append(
                {
                    "a1_index": i,
                    "b_index": j,
                    "method": a1[i].method,
                    "path": a1[i].path,
                    "endpoint": template(a1[i].method, a1[i].path),
                    "field": d.field,
                    "kind": d.kind,
                    "old": d.a,
                    "new": d.b,
                    "detail": d.detail,
                    "probe": b[j].probe,
                }
            )
    return {"differences": found, "unaligned": unaligned, "noise_dropped": noise_count}


def save(exchanges: list[Exchange], path: Path) -> None:
    path.write_text(json.dumps([e.to_json() for e in exchanges], indent=1))


def load(path: Path) -> list[Exchange]:
    return [Exchange.from_json(d) for d in json.loads(path.read_text())]


def run_oracle(start_old, start_new, run_session, workdir: Path) -> dict:
    """A1 (old), A2 (old), B (new): capture each session, then the real differences."""
    runs: dict[str, list[Exchange]] = {}
    infos: dict[str, dict] = {}
    for name, start in (("a1", start_old), ("a2", start_old), ("b", start_new)):
        ex, info = capture(start, run_session, workdir / name, runs.get("a1"))
        runs[name], infos[name] = ex, info
        save(ex, workdir / f"{name}.exchanges.json")
    bases = {k: v["bases"] for k, v in infos.items()}
    result = real_differences(runs["a1"], runs["a2"], runs["b"], bases)
    result["runs"] = {k: {**infos[k], "exchanges": len(runs[k])} for k in runs}
    with contextlib.suppress(OSError):
        (workdir / "oracle.json").write_text(json.dumps(result, indent=2, default=str))
    return result


__all__ = ["CaptureProxy", "Exchange", "generalize", "real_differences", "run_oracle", "template"]
