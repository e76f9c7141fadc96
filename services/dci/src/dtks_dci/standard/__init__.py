"""The pinned DCI Social Registry OpenAPI document (see README.md here) and validators built from it.

Each request, response and callback body is checked against the schema the document gives for that
path, with the document's own ``components`` for its ``$ref``s: not against models of ours. OpenAPI
3.0's schema objects are JSON Schema draft 4 with extensions the validator ignores (``example``,
``format: int32``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import yaml

SPEC_FILE = Path(__file__).with_name("social_api_v1.0.0.yaml")
STANDARD_VERSION = "1.0.0"
# Where the copy comes from (README.md): the kit's commit and the upstream commit it is based on.
PINNED_COPY = "OpenSPP/spdci-compliance@80b7bc346613d20ba1cf39af33ed951dd1e997e8:spec/social_api_v1.0.0.yaml"
UPSTREAM = "spdci/standards@b4816e1ecf415a5ac6635085fec0656160d285ea"

Part = Literal["request", "response", "ack", "http_error"]


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    return loaded


def _pointer(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def validator(path: str, part: Part = "request") -> Any:
    """The validator of ``path``'s request body, its synchronous response (``response``, the
    ``default`` response of /sync/*), its acknowledgement (``ack``, the shared ``Response``) or an
    HTTP error (``http_error``, ``HttpErrorResponse``; ``path`` is then ignored)."""
    doc = document()
    if part in ("ack", "http_error"):
        name = "Response" if part == "ack" else "HttpErrorResponse"
        ref = f"#/components/responses/{name}/content/" + _pointer("application/json") + "/schema"
    else:
        where = "requestBody" if part == "request" else "responses/default"
        ref = f"#/paths/{_pointer(path)}/post/{where}/content/{_pointer('application/json')}/schema"
    schema = {"$ref": ref, "components": doc["components"], "paths": doc["paths"]}
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True)


def problems(path: str, body: Any, part: Part = "request") -> list[str]:
    """What in ``body`` breaks the standard's schema for ``path``, each as 'where: why'; empty if valid."""
    found = []
    for error in validator(path, part).iter_errors(body):
        where = "/".join(str(p) for p in error.instance_path) or "(envelope)"
        found.append(f"{where}: {error.message}")
    return found
