"""Signing a person in at the identity provider over plain HTTP, as the console does in a browser:
the authorization-code flow with PKCE (S256), the provider's login form filled in.

``dtks-token --user`` and the tests use it. It needs no password grant in the realm: the Resource
Owner Password Credentials grant is deprecated (OAuth 2.0 Security BCP, RFC 9700), skips whatever the
provider's login would ask besides a password, and a client allowing it would be one more thing to
remove before a real deployment. The price is reading Keycloak's login page (its form's ``action``),
which a custom login theme could change.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

CONSOLE_CLIENT = "dtks-console"
# The console's local address, among the client's redirect URIs in deploy/keycloak. The flow never
# follows the redirect: the code is read from its Location header.
CONSOLE_REDIRECT = "http://127.0.0.1:8090/signed-in"


class SignInError(Exception):
    """The provider did not sign the person in (wrong password, unknown or disabled user, no form)."""


async def sign_in_with_pkce(
    issuer: str,
    username: str,
    password: str,
    *,
    client_id: str = CONSOLE_CLIENT,
    redirect_uri: str = CONSOLE_REDIRECT,
) -> dict[str, Any]:
    """The provider's token response (access, refresh and id token) for a person's user name and
    password, obtained through the authorization-code flow with PKCE."""
    issuer = issuer.rstrip("/")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    async with httpx.AsyncClient(timeout=30) as browser:  # keeps Keycloak's session cookies
        page = await browser.get(
            f"{issuer}/protocol/openid-connect/auth",
            params={
                "client_id": client_id,
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        page.raise_for_status()
        # Keycloak's session cookies are Secure: a browser sends them to http://127.0.0.1 (a secure
        # context to it), httpx's cookie jar does not, so they are passed on by hand.
        cookies = "; ".join(f"{name}={value}" for name, value in page.cookies.items())
        form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
        if form is None:
            raise SignInError(f"no login form in the provider's page: {page.text[:300]}")
        answer = await browser.post(
            html.unescape(form.group(1)),
            data={"username": username, "password": password},
            headers={"Cookie": cookies},
        )
        if answer.status_code != 302:
            # The login page again, with its message: wrong password, unknown or disabled user.
            raise SignInError(f"the provider did not sign {username} in (answer {answer.status_code})")
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise SignInError(
                f"the provider's redirect carried no code for this sign-in: {query.get('error')}"
            )
        tokens = await browser.post(
            f"{issuer}/protocol/openid-connect/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        if tokens.status_code != 200:
            raise SignInError(f"the provider refused the code: {tokens.text[:300]}")
        return dict(tokens.json())
