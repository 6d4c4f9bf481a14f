"""`$ref`s to other files are read only from the OpenAPI document's folder and below it: a
document must not make apitape read `file:///etc/passwd` or `../../secret`, nor fetch a URL."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from apitape.cli import main
from apitape.contract.openapi import load_openapi, parse_openapi
from apitape.errors import OpenApiSpecError
from apitape.models import Request, Response

REPO = Path(__file__).resolve().parents[2]
SECRET = "planted-outside-secret-4f1c"  # what a file outside the folder holds
SCHEMA_AT = "#/paths/~1books~11/get/responses/200/content/application~1json/schema/$ref"


def document(ref: str) -> str:
    return textwrap.dedent(
        f"""\
        openapi: 3.1.0
        info: {{title: Refs, version: "1"}}
        paths:
          /books/1:
            get:
              responses:
                "200":
                  description: a book
                  content:
                    application/json:
                      schema: {{$ref: "{ref}"}}
        """
    )


BOOK = "type: object\nrequired: [id]\nproperties:\n  id: {type: integer}\n"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """tmp/api/ holds the document's folder; tmp/outside.yaml is beside it, not in it."""
    (tmp_path / "outside.yaml").write_text(f"type: object\ndescription: {SECRET}\n")
    api = tmp_path / "api"
    (api / "schemas").mkdir(parents=True)
    (api / "schemas" / "book.yaml").write_text(BOOK)
    (api / "book.yaml").write_text(BOOK)
    return api


def write(api: Path, ref: str) -> Path:
    path = api / "openapi.yaml"
    path.write_text(document(ref))
    return path


@pytest.mark.parametrize(
    "ref",
    [
        "../outside.yaml",
        "schemas/../../outside.yaml",
        "%2e%2e/outside.yaml",
        "OUTSIDE",  # /tmp/.../outside.yaml
        "file://OUTSIDE",
        "file://localhostOUTSIDE",
        "../../../../../../../../etc/passwd",
        "file:///etc/passwd",
        "link.yaml",  # a symbolic link in the folder to a file outside it
    ],
)
def test_a_ref_to_a_file_outside_the_folder_is_refused(layout: Path, ref: str) -> None:
    outside = layout.parent / "outside.yaml"
    (layout / "link.yaml").symlink_to(outside)
    ref = ref.replace("OUTSIDE", str(outside))
    spec = write(layout, ref)
    with pytest.raises(OpenApiSpecError) as caught:
        load_openapi(str(spec))
    error = caught.value
    assert (error.path, error.line, error.pointer) == (str(spec), 11, SCHEMA_AT)
    assert error.detail.startswith(f"$ref {ref!r} names /")
    assert f"outside the document's folder {layout.resolve()}: " in error.detail
    assert "copy the file there and refer to it by a relative path" in error.detail
    assert SECRET not in str(error) and "root:" not in str(error)


@pytest.mark.parametrize(
    "ref", ["http://127.0.0.1:9/outside.yaml", "https://example.com/book.yaml", "//host/b.yaml"]
)
def test_a_ref_to_the_network_is_refused(layout: Path, ref: str) -> None:
    spec = write(layout, ref)
    with pytest.raises(OpenApiSpecError, match="names a document on the network, and apitape"):
        load_openapi(str(spec))


def test_a_ref_out_of_a_referenced_file_is_refused_naming_that_file(layout: Path) -> None:
    (layout / "schemas" / "wrapper.yaml").write_text(
        "type: object\nproperties:\n  book: {$ref: '../../outside.yaml'}\n"
    )
    spec = write(layout, "schemas/wrapper.yaml")
    with pytest.raises(OpenApiSpecError) as caught:
        load_openapi(str(spec))
    error = caught.value
    assert error.path == str(layout / "schemas" / "wrapper.yaml")
    assert (error.line, error.pointer) == (3, "#/properties/book/$ref")
    assert "'../../outside.yaml' names" in error.detail and SECRET not in str(error)


@pytest.mark.parametrize(
    "ref", ["book.yaml", "./schemas/book.yaml", "schemas/../book.yaml", "FILE_URI", "chain"]
)
def test_refs_inside_the_folder_are_followed(layout: Path, ref: str) -> None:
    if ref == "FILE_URI":
        ref = (layout / "schemas" / "book.yaml").resolve().as_uri()
    if ref == "chain":  # a referenced file that refers on, inside the folder
        (layout / "schemas" / "page.yaml").write_text("$ref: './book.yaml'\n")
        ref = "schemas/page.yaml"
    spec = load_openapi(str(write(layout, ref)))
    request = Request("GET", "http://svc/books/1", ())
    json = (("Content-Type", "application/json"),)
    good, _ = spec.check(request, Response(200, "OK", json, b'{"id": 1}'))
    bad, _ = spec.check(request, Response(200, "OK", json, b'{"id": "one"}'))
    assert good == []  # the referenced schema is the one applied
    assert [(d.path, d.expected, d.actual) for d in bad] == [("$.id", "integer", "string")]


def test_a_document_not_read_from_a_file_follows_no_file_ref() -> None:
    with pytest.raises(OpenApiSpecError, match="names another file, and this document was not"):
        parse_openapi(document("book.yaml"), "text.yaml")
    with pytest.raises(OpenApiSpecError, match=r"names /etc/passwd|another file"):
        parse_openapi(document("file:///etc/passwd"), "text.yaml")


@pytest.mark.parametrize("command", ["contract", "replay"])
def test_the_cli_refuses_it_in_one_line_with_exit_2(layout: Path, command: str) -> None:
    spec = write(layout, "../outside.yaml")
    cassette = str(REPO / "cassettes" / "bookstore.yaml")
    args = [cassette, "--openapi", str(spec)]
    if command == "replay":
        args += ["--target", "http://127.0.0.1:9"]
    result = CliRunner().invoke(main, [command, *args], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stdout == ""
    # A replay says which document it applies as it takes it up; `contract` is given it.
    announced = f"apitape: applying OpenAPI document from {spec}\n" if command == "replay" else ""
    assert result.stderr == announced + (
        f"apitape: error: {spec}, line 11 (at {SCHEMA_AT}): $ref '../outside.yaml' names "
        f"{layout.parent.resolve() / 'outside.yaml'}, outside the document's folder "
        f"{layout.resolve()}: apitape reads $refs only from that folder and below it (after "
        "following symbolic links); copy the file there and refer to it by a relative path\n"
    )
