"""``dtks-token``: print a bearer token for local development and tests.

- ``dtks-token --user operator.1001 [--password ...]``: signs the user in at the identity provider
  (``DTKS_OIDC_ISSUER``, in ``.dtks/env`` after ``make run``) through the authorization-code flow
  with PKCE, as the console does, and prints the provider's access token. Without ``--password``
  the development password rule of the demo's users applies (``dtks_runtime.auth.dev_users``).
- ``dtks-token --role ROLE --region CODE``: mints an HS256 development token with
  ``DTKS_JWT_SECRET``, which services accept outside production only (the tests use these).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import httpx

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.dev_users import PASSWORD_RULE, dev_password
from dtks_runtime.auth.sign_in import CONSOLE_CLIENT, CONSOLE_REDIRECT, SignInError, sign_in_with_pkce
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import RuntimeSettings


def main(argv: list[str] | None = None) -> None:
    """The ``dtks-token`` command. Over 60 lines because it is the command line's declaration (each
    option with its help), which reads best as one argparse block."""
    parser = argparse.ArgumentParser(description="Print a bearer token for local development and tests.")
    provider = parser.add_argument_group("a real token from the identity provider (DTKS_OIDC_ISSUER)")
    provider.add_argument("--user", help="sign this user in at the provider and print their access token")
    provider.add_argument(
        "--password", help=f"the user's password (default: the demo's rule, {PASSWORD_RULE})"
    )
    provider.add_argument("--client", default=CONSOLE_CLIENT, help="the public client to sign in with")
    provider.add_argument(
        "--redirect-uri", default=CONSOLE_REDIRECT, help="one of the client's redirect URIs"
    )
    provider.add_argument(
        "--full",
        action="store_true",
        help="print the provider's whole token response (JSON), refresh token too",
    )
    minted = parser.add_argument_group("a development token signed with DTKS_JWT_SECRET (not in production)")
    minted.add_argument("--role", choices=[r.value for r in Role])
    minted.add_argument("--region", help="region code in the role's scope, or ID for national roles")
    minted.add_argument("--subject", help="who the token names (default: ROLE@REGION)")
    minted.add_argument("--name", help="the person's name, recorded with the events they cause")
    minted.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    minted.add_argument("--program", action="append", default=[], help="for agencies: a granted program")
    args = parser.parse_args(argv)
    settings = RuntimeSettings()
    if args.user:
        if args.role or args.region:
            parser.error(
                "--user signs in at the provider, whose token carries the role and region: drop --role/--region"
            )
        if not settings.oidc_issuer:
            parser.error(
                "--user needs DTKS_OIDC_ISSUER, the provider's issuer URL (`source .dtks/env` after make run)"
            )
        password = args.password if args.password is not None else dev_password(args.user)
        try:
            tokens = asyncio.run(
                sign_in_with_pkce(
                    settings.oidc_issuer,
                    args.user,
                    password,
                    client_id=args.client,
                    redirect_uri=args.redirect_uri,
                )
            )
        except SignInError as exc:
            sys.exit(f"dtks-token: {exc}")
        except httpx.HTTPError as exc:
            sys.exit(f"dtks-token: the identity provider {settings.oidc_issuer} did not answer: {exc!r}")
        print(json.dumps(tokens) if args.full else tokens["access_token"])
        return
    if not args.role or not args.region:
        parser.error("give --user (a token from the provider) or --role and --region (a development token)")
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
