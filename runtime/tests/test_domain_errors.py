"""A domain error becomes a problem document with the status its service's table gives its code."""

from __future__ import annotations

import pydantic
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dtks_contracts.identifiers import Nik
from dtks_runtime.errors import DomainError
from dtks_runtime.problems import PROBLEM_JSON, install_problem_handlers, validation_errors


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, {"window_closed": 409, "too_many_requests": 429})

    @app.get("/closed")
    async def closed() -> None:
        raise DomainError(
            "window_closed",
            "The window is closed until 2027-01-02.",
            errors=[{"field": "village_code", "message": "closed"}],
            extra={"until": "2027-01-02"},
        )

    @app.get("/refused")
    async def refused() -> None:
        raise DomainError("not_in_table", "A rule refused it.")

    @app.get("/busy")
    async def busy() -> None:
        raise DomainError("too_many_requests", "Try again in 7 seconds.", extra={"retry_after": 7})

    return app


def test_a_429_that_says_when_to_come_back_says_it_in_retry_after_too() -> None:
    answer = TestClient(_app()).get("/busy")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7"
    assert answer.json()["retry_after"] == 7
    assert "retry-after" not in TestClient(_app()).get("/closed").headers


def test_a_domain_error_answers_with_the_status_its_code_has_in_the_table() -> None:
    answer = TestClient(_app()).get("/closed")
    assert answer.status_code == 409
    assert answer.headers["content-type"] == PROBLEM_JSON
    doc = answer.json()
    assert doc["code"] == "window_closed"
    assert doc["type"] == "urn:dtks:problem:window_closed"
    assert doc["detail"] == "The window is closed until 2027-01-02."
    assert doc["errors"] == [{"field": "village_code", "message": "closed"}]
    assert doc["until"] == "2027-01-02"


def test_a_code_the_table_does_not_name_answers_422() -> None:
    answer = TestClient(_app()).get("/refused")
    assert answer.status_code == 422
    assert answer.json()["code"] == "not_in_table"


def test_validation_errors_name_fields_as_an_operator_sees_them() -> None:
    errors = [{"loc": ("members", 0, "nik"), "msg": "bad", "type": "value_error"}]
    assert validation_errors(errors, within="body") == [
        {"field": "members[0].nik", "message": "bad", "type": "value_error"}
    ]
    assert (
        validation_errors([{"loc": ("body", "reasons", 1), "msg": "m", "type": "t"}])[0]["field"]
        == "reasons[1]"
    )


def test_a_coded_refusal_keeps_its_plain_parameters_for_the_clients_words() -> None:
    # The contracts' own checks give a code and parameters (a NIK's length); pydantic's value errors
    # carry the exception object itself in their context, which is left out.
    class Member(pydantic.BaseModel):
        nik: Nik

    with pytest.raises(pydantic.ValidationError) as refused:
        Member(nik="12345")
    [error] = validation_errors(refused.value.errors(), within="body")
    assert error == {
        "field": "nik",
        "message": "NIK 12345 : must be exactly 16 digits, got 5 characters",
        "type": "identifier_length",
        "params": {"label": "NIK", "value": "12345", "length": 16, "got": 5},
    }
    plain = [
        {"loc": ("x",), "msg": "Value error, no", "type": "value_error", "ctx": {"error": ValueError("no")}}
    ]
    assert "params" not in validation_errors(plain)[0]
