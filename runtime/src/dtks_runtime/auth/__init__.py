"""Bearer JWTs carrying a role and a region scope, and FastAPI dependencies that enforce them."""

from dtks_runtime.auth.principal import Principal, check_scope
from dtks_runtime.auth.tokens import TokenError, TokenService

__all__ = ["Principal", "TokenError", "TokenService", "check_scope"]
