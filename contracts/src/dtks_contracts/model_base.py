"""The one base class of every contract model, so that these rules hold everywhere."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ContractModel(BaseModel):
    """Immutable (an event or a submitted record is a fact, not a draft); unknown fields are errors
    (a misspelt field would otherwise vanish silently) — readers of stored events relax that with
    `model_validate(..., extra="ignore")`, see `EventEnvelope.typed_payload`; and validation errors
    never echo the input, because the input is full of NIKs, names and birth dates that would
    otherwise end up in logs."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)
