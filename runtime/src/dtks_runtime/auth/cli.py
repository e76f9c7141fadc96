"""``dtks-token --role ROLE --region CODE``: print a development bearer token."""

from __future__ import annotations

import argparse

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import RuntimeSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print a bearer token for local development and tests.")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument(
        "--region", required=True, help="region code in the role's scope, or ID for national roles"
    )
    parser.add_argument("--subject", help="who the token names (default: ROLE@REGION)")
    parser.add_argument("--name", help="the person's name, recorded with the events they cause")
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    parser.add_argument("--program", action="append", default=[], help="for agencies: a granted program")
    args = parser.parse_args(argv)
    settings = RuntimeSettings()
    role = Role(args.role)
    try:
        token = TokenService(settings.shared_secret(), settings.jwt_issuer).issue(
            subject=args.subject or f"{role.value}@{args.region}",
            role=role,
            region=args.region,
            ttl_seconds=args.ttl,
            programs=tuple(args.program),
            name=args.name,
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(token)


if __name__ == "__main__":
    main()
