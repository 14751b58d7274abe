"""Mint a local HS256 token: `python -m local.token agents agent-7 [--team cards] [--client web]`.

Shaped like a Cognito access token (`token_use: access`, `scope`, `client_id`), the only kind
the API accepts; the scope is $OIDC_REQUIRED_SCOPE when set (the stack checks it only then).
The client id names the caller's usage plan when $USAGE_CLIENTS lists it; local mode
needs no plan.
"""

from __future__ import annotations

import argparse
import os
import time

import jwt

from chalicelib.config import DEFAULT_DEV_JWT_SECRET, DEV_JWT_SECRET, OIDC_REQUIRED_SCOPE

GROUPS = ("customers", "agents", "supervisors", "auditors")
LOCAL_SCOPE = "servicedesk/api"
LOCAL_CLIENT_ID = "servicedesk-local"


def mint(
    group: str,
    subject: str,
    *,
    team: str | None = None,
    ttl: int = 8 * 3600,
    secret: str | None = None,
    scope: str | None = None,
    client_id: str = LOCAL_CLIENT_ID,
    segment: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "cognito:groups": [group],
        "iat": now,
        "exp": now + ttl,
        "iss": "servicedesk-local",
        "token_use": "access",
        "scope": scope or os.environ.get(OIDC_REQUIRED_SCOPE) or LOCAL_SCOPE,
        "client_id": client_id,
    }
    if team:
        claims["custom:team"] = team
    if segment:
        claims["custom:segment"] = segment
    key = secret or os.environ.get(DEV_JWT_SECRET, DEFAULT_DEV_JWT_SECRET)
    return jwt.encode(claims, key, algorithm="HS256")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("group", choices=GROUPS)
    parser.add_argument("subject")
    parser.add_argument("--team")
    parser.add_argument("--ttl", type=int, default=8 * 3600)
    parser.add_argument("--client", default=LOCAL_CLIENT_ID, help="the token's client_id")
    parser.add_argument("--segment", choices=("standard", "priority", "private"))
    args = parser.parse_args()
    print(
        mint(
            args.group,
            args.subject,
            team=args.team,
            ttl=args.ttl,
            client_id=args.client,
            segment=args.segment,
        )
    )


if __name__ == "__main__":
    main()
