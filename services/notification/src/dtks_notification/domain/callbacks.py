"""Which callback URLs an agency may give: the runtime's one guard (:mod:`dtks_runtime.callback_guard`),
shared with the DCI adapter, under the names this service's code and tests use."""

from dtks_runtime.callback_guard import (
    METADATA_ADDRESSES,
    CallbackPolicy,
    CallbackRefused,
    CallbackTarget,
    IPAddress,
    check_address,
    embedded_ipv4,
    is_public,
    parse_callback,
)

__all__ = [
    "METADATA_ADDRESSES",
    "CallbackPolicy",
    "CallbackRefused",
    "CallbackTarget",
    "IPAddress",
    "check_address",
    "embedded_ipv4",
    "is_public",
    "parse_callback",
]
