import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.tokens import (
    LocalTokenVerifier,
    OidcTokenVerifier,
    TokenRejectedError,
)
from chalicelib.domain.identity import Role
from local.token import mint

SECRET = "test-secret-that-is-long-enough-for-hs256"
ISSUER = "https://cognito-idp.ap-east-1.amazonaws.com/pool"
AUDIENCE = "client-123"
SCOPE = "servicedesk/api"


def _claims(**overrides):
    """A Cognito access token's claims."""
    now = int(time.time())
    claims = {
        "sub": "cust-1",
        "cognito:groups": ["customers"],
        "iat": now,
        "exp": now + 600,
        "token_use": "access",
        "scope": f"openid {SCOPE}",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _hs256(claims, key=SECRET):
    return "Bearer " + jwt.encode(claims, key, algorithm="HS256")


def test_local_token_gives_the_caller():
    caller = LocalTokenVerifier(SECRET).verify(_hs256(_claims(**{"custom:team": "cards"})))
    assert (caller.role, caller.id, caller.team) == (Role.CUSTOMER, "cust-1", "cards")


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
        _hs256(_claims(), key="another-secret-that-is-long-enough-too"),
        _hs256(_claims(exp=int(time.time()) - 3600)),
        _hs256({k: v for k, v in _claims().items() if k != "exp"}),
        _hs256(_claims(**{"cognito:groups": ["visitors"]})),
        _hs256(_claims(**{"cognito:groups": ["customers", "auditors"]})),
        _hs256(_claims(sub="")),
        "Bearer " + jwt.encode(_claims(), "", algorithm="none"),
        _hs256(_claims(token_use="id")),
        _hs256(_claims(token_use=None, nonce="n-1")),
    ],
    ids=[
        "empty",
        "no-token",
        "basic",
        "garbage",
        "bad-signature",
        "expired",
        "no-exp",
        "unknown-group",
        "ambiguous-groups",
        "empty-sub",
        "alg-none",
        "id-token",
        "unmarked-with-nonce",
    ],
)
def test_local_verifier_rejects(authorization):
    with pytest.raises(TokenRejectedError):
        LocalTokenVerifier(SECRET).verify(authorization)


def test_local_token_with_only_the_claims_spec_names_is_accepted():
    """SPEC 3: a local HS256 token with `sub`, `cognito:groups` and `exp` is enough."""
    now = int(time.time())
    claims = {"sub": "cust-9", "cognito:groups": ["customers"], "exp": now + 600}
    assert LocalTokenVerifier(SECRET).verify(_hs256(claims)).id == "cust-9"


def test_local_tokens_need_a_scope_only_when_one_is_configured():
    unscoped = _hs256(_claims(scope=None))
    assert LocalTokenVerifier(SECRET).verify(unscoped).role is Role.CUSTOMER
    with pytest.raises(TokenRejectedError):
        LocalTokenVerifier(SECRET, SCOPE).verify(unscoped)
    assert LocalTokenVerifier(SECRET, SCOPE).verify(_hs256(_claims())).role is Role.CUSTOMER


def test_locally_minted_tokens_are_scoped_access_tokens(monkeypatch):
    monkeypatch.setenv("OIDC_REQUIRED_SCOPE", "desk/custom")
    token = "Bearer " + mint("agents", "agent-7", secret=SECRET)
    assert LocalTokenVerifier(SECRET, "desk/custom").verify(token).id == "agent-7"
    monkeypatch.delenv("OIDC_REQUIRED_SCOPE")
    assert LocalTokenVerifier(SECRET).verify("Bearer " + mint("agents", "a", secret=SECRET))


def test_supervisor_in_agents_group_too_is_a_supervisor():
    token = _hs256(_claims(**{"cognito:groups": ["agents", "supervisors"]}))
    assert LocalTokenVerifier(SECRET).verify(token).role is Role.SUPERVISOR


class _StaticJwks:
    """Stands in for PyJWKClient: serves one RSA public key, no network."""

    def __init__(self, public_key):
        self._key = jwt.PyJWK.from_dict(
            {
                **jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True),
                "kid": "k1",
                "alg": "RS256",
            }
        )

    def get_signing_key_from_jwt(self, token):
        jwt.get_unverified_header(token)
        return self._key


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oidc(rsa_key):
    return OidcTokenVerifier(_StaticJwks(rsa_key.public_key()), ISSUER, AUDIENCE, SCOPE)


def _rs256(rsa_key, typ=None, claims_typ=None, **overrides):
    """An RS256 token; `typ` is the header's, `claims_typ` a `typ` claim (Keycloak's)."""
    claims = _claims(iss=ISSUER, aud=AUDIENCE, typ=claims_typ, **{"cognito:groups": ["agents"]})
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    headers = {"kid": "k1", **({"typ": typ} if typ else {})}
    return "Bearer " + jwt.encode(claims, rsa_key, algorithm="RS256", headers=headers)


def test_oidc_accepts_rs256_from_the_issuer(oidc, rsa_key):
    caller = oidc.verify(_rs256(rsa_key))
    assert caller.role is Role.AGENT


def test_oidc_accepts_access_tokens_naming_the_client(oidc, rsa_key):
    token = _rs256(rsa_key, aud=None, client_id=AUDIENCE)
    assert oidc.verify(token).role is Role.AGENT


def test_oidc_accepts_rfc9068_access_tokens_of_other_providers(oidc, rsa_key):
    assert oidc.verify(_rs256(rsa_key, typ="at+jwt", token_use=None)).role is Role.AGENT


@pytest.mark.parametrize(
    "overrides",
    [
        {"token_use": None, "claims_typ": "Bearer", "azp": "web-banking"},  # Keycloak
        {"token_use": None, "scope": None, "scp": ["openid", SCOPE], "cid": "mobile"},  # Okta
    ],
    ids=["keycloak", "okta"],
)
def test_oidc_accepts_unmarked_access_tokens_of_other_providers(oidc, rsa_key, overrides):
    """SPEC 3: JWKS URL, issuer and audience are the whole configuration, so a provider
    whose access tokens carry no `token_use` nor `typ: at+jwt` still fits."""
    assert oidc.verify(_rs256(rsa_key, typ="JWT", **overrides)).role is Role.AGENT


@pytest.mark.parametrize(
    ("typ", "overrides"),
    [
        (None, {"token_use": "id"}),  # a Cognito ID token: aud names the client
        ("at+jwt", {"token_use": "id"}),
        (None, {"token_use": None, "nonce": "n-1"}),  # ID tokens of other providers
        ("JWT", {"token_use": None, "at_hash": "x1"}),
        ("JWT", {"token_use": None, "c_hash": "x2"}),
        ("JWT", {"token_use": None, "claims_typ": "ID"}),  # Keycloak's ID token
    ],
    ids=["cognito-id-token", "id-token-typed-at", "nonce", "at-hash", "c-hash", "keycloak-id"],
)
def test_oidc_refuses_id_tokens(oidc, rsa_key, typ, overrides):
    with pytest.raises(TokenRejectedError, match="not an access token"):
        oidc.verify(_rs256(rsa_key, typ=typ, **overrides))


@pytest.mark.parametrize(
    "scope", [None, "", "openid", "servicedesk/api.read", f"openid,{SCOPE}", "SERVICEDESK/API"]
)
def test_oidc_refuses_tokens_without_the_apis_scope(oidc, rsa_key, scope):
    with pytest.raises(TokenRejectedError, match="scope"):
        oidc.verify(_rs256(rsa_key, scope=scope))


@pytest.mark.parametrize(
    ("claims", "client"),
    [
        ({"client_id": "c1", "azp": "c2"}, "c1"),
        ({"azp": "c2", "cid": "c3"}, "c2"),
        ({"cid": "c3"}, "c3"),
    ],
)
def test_the_client_app_is_read_from_each_providers_claim(oidc, rsa_key, claims, client):
    assert oidc.verify(_rs256(rsa_key, **claims)).client_id == client


def test_oidc_without_a_configured_scope_checks_none(rsa_key):
    verifier = OidcTokenVerifier(_StaticJwks(rsa_key.public_key()), ISSUER, AUDIENCE, None)
    assert verifier.verify(_rs256(rsa_key, scope=None)).role is Role.AGENT


def test_oidc_accepts_the_scope_among_others(oidc, rsa_key):
    assert oidc.verify(_rs256(rsa_key, scope=f"a/b {SCOPE} c/d")).role is Role.AGENT


@pytest.mark.parametrize(
    "overrides",
    [{"iss": "https://evil.example"}, {"aud": "other-client"}, {"exp": int(time.time()) - 120}],
    ids=["wrong-issuer", "wrong-audience", "expired"],
)
def test_oidc_rejects_wrong_issuer_audience_or_expired(oidc, rsa_key, overrides):
    with pytest.raises(TokenRejectedError):
        oidc.verify(_rs256(rsa_key, **overrides))


def test_oidc_stage_refuses_hs256_even_signed_with_the_dev_secret(oidc):
    with pytest.raises(TokenRejectedError):
        oidc.verify(_hs256(_claims(iss=ISSUER, aud=AUDIENCE)))


def test_oidc_stage_refuses_alg_none(oidc):
    token = jwt.encode(_claims(iss=ISSUER, aud=AUDIENCE), "", algorithm="none")
    with pytest.raises(TokenRejectedError):
        oidc.verify("Bearer " + token)


@pytest.mark.parametrize(
    ("claims", "client"),
    [
        ({"client_id": "app-1"}, "app-1"),
        ({"azp": "app-2"}, "app-2"),
        ({"client_id": "app-1", "azp": "app-2"}, "app-1"),
        ({}, None),
        ({"client_id": ""}, None),
        ({"client_id": ["app-1"]}, None),
    ],
    ids=["client_id", "azp", "client_id-first", "none", "empty", "not-a-string"],
)
def test_the_caller_carries_the_client_app_of_the_token(claims, client):
    caller = LocalTokenVerifier(SECRET).verify(_hs256(_claims(**claims)))
    assert caller.client_id == client


def test_locally_minted_tokens_name_a_client_app():
    token = "Bearer " + mint("agents", "agent-7", secret=SECRET, client_id="web-app")
    assert LocalTokenVerifier(SECRET).verify(token).client_id == "web-app"


def _cognito_clients(rsa_key):
    """A Cognito pool with the API's client and two more app clients of the bank."""
    return OidcTokenVerifier(
        _StaticJwks(rsa_key.public_key()), ISSUER, AUDIENCE, SCOPE, clients=["mobile", "web"]
    )


def test_cognito_tokens_of_any_known_client_app_are_accepted(rsa_key):
    verifier = _cognito_clients(rsa_key)
    for client in ("mobile", "web", AUDIENCE):
        caller = verifier.verify(_rs256(rsa_key, aud=None, client_id=client))
        assert caller.client_id == client


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": None, "client_id": "partner"},  # a Cognito token of another app client
        {"aud": None, "client_id": None},
        {"aud": "another-api", "client_id": "mobile"},  # a known app, for another API
    ],
    ids=["unknown-client", "no-client", "other-audience"],
)
def test_cognito_tokens_of_other_clients_or_apis_are_refused(rsa_key, overrides):
    with pytest.raises(TokenRejectedError):
        _cognito_clients(rsa_key).verify(_rs256(rsa_key, **overrides))
