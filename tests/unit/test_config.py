import pytest

from chalicelib.config import ConfigurationError, Settings

OIDC = {
    "OIDC_JWKS_URL": "https://idp/jwks",
    "OIDC_ISSUER": "https://idp",
    "OIDC_AUDIENCE": "c",
    "OIDC_REQUIRED_SCOPE": "servicedesk/api",
    "SERVICEDESK_CURSOR_SECRET_ARN": "arn:aws:secretsmanager:ap-east-1:111122223333:secret:cursor",
    "USAGE_CLIENTS": "mobile-1=servicedesk-usage-prod-mobile",
}


def test_deployed_default_is_oidc_and_needs_its_settings():
    with pytest.raises(ConfigurationError):
        Settings.from_env({})
    assert Settings.from_env(OIDC).auth_mode == "oidc"


def test_a_required_scope_is_optional_and_names_one_scope():
    """SPEC 3: JWKS URL, issuer and audience configure the provider; a scope is optional."""
    without_scope = {k: v for k, v in OIDC.items() if k != "OIDC_REQUIRED_SCOPE"}
    assert Settings.from_env(without_scope).oidc_required_scope is None
    with pytest.raises(ConfigurationError, match="one scope"):
        Settings.from_env({**OIDC, "OIDC_REQUIRED_SCOPE": "servicedesk/api openid"})
    assert Settings.from_env(OIDC).oidc_required_scope == "servicedesk/api"
    local = Settings.from_env({"SERVICEDESK_AUTH_MODE": "local-hs256"})
    assert local.oidc_required_scope is None


def test_local_hs256_is_refused_inside_lambda():
    env = {"SERVICEDESK_AUTH_MODE": "local-hs256", "AWS_LAMBDA_FUNCTION_NAME": "servicedesk-prod"}
    with pytest.raises(ConfigurationError):
        Settings.from_env(env)


def test_local_mode_uses_the_documented_secret_and_origins():
    settings = Settings.from_env(
        {"SERVICEDESK_AUTH_MODE": "local-hs256", "CORS_ALLOWED_ORIGINS": "https://a, https://b"}
    )
    assert settings.dev_jwt_secret == "servicedesk-local-development-secret"
    assert settings.cors_allowed_origins == ("https://a", "https://b")


def test_a_deployed_stage_names_its_cursor_secret_and_holds_no_key():
    without_secret = {k: v for k, v in OIDC.items() if k != "SERVICEDESK_CURSOR_SECRET_ARN"}
    with pytest.raises(ConfigurationError, match="SERVICEDESK_CURSOR_SECRET_ARN"):
        Settings.from_env(without_secret)
    settings = Settings.from_env(OIDC)
    assert settings.cursor_secret_arn == OIDC["SERVICEDESK_CURSOR_SECRET_ARN"]
    assert settings.cursor_key is None  # read at run time, never from the environment


@pytest.mark.parametrize("secret_too", [False, True])
def test_a_plain_text_cursor_key_is_refused_inside_lambda(secret_too: bool):
    env = {**OIDC, "AWS_LAMBDA_FUNCTION_NAME": "servicedesk-api", "SERVICEDESK_CURSOR_KEY": "k"}
    if not secret_too:
        del env["SERVICEDESK_CURSOR_SECRET_ARN"]
    with pytest.raises(ConfigurationError, match="SERVICEDESK_CURSOR_KEY"):
        Settings.from_env(env)


def test_local_mode_derives_its_cursor_key_and_tests_may_set_one():
    local = Settings.from_env({"SERVICEDESK_AUTH_MODE": "local-hs256"})
    assert local.cursor_secret_arn is None and local.cursor_key and len(local.cursor_key) == 32
    override = Settings.from_env({**OIDC, "SERVICEDESK_CURSOR_KEY": "k" * 32})
    assert override.cursor_key == b"k" * 32  # outside Lambda only


def test_the_cursor_keys_come_from_secrets_manager_when_a_secret_is_named():
    from chalicelib import bootstrap
    from chalicelib.adapters.secrets import SecretsManagerCursorKeys
    from chalicelib.api.cursors import FixedCursorKeys

    deployed = bootstrap.bootstrap(Settings.from_env(OIDC))
    assert isinstance(deployed.cursor_keys, SecretsManagerCursorKeys)  # nothing read yet
    local = bootstrap.bootstrap(Settings.from_env({"SERVICEDESK_AUTH_MODE": "local-hs256"}))
    assert isinstance(local.cursor_keys, FixedCursorKeys)


def test_unknown_auth_mode_is_refused():
    with pytest.raises(ConfigurationError):
        Settings.from_env({"SERVICEDESK_AUTH_MODE": "none"})


def test_usage_clients_map_each_client_app_to_its_usage_key():
    env = {
        **OIDC,
        "USAGE_CLIENTS": " mobile-1 = servicedesk-usage-prod-mobile ,"
        "web-2=servicedesk-usage-prod-web,branch-3=servicedesk-usage-prod-branch,",
    }
    assert Settings.from_env(env).usage_keys == {
        "mobile-1": "servicedesk-usage-prod-mobile",
        "web-2": "servicedesk-usage-prod-web",
        "branch-3": "servicedesk-usage-prod-branch",
    }


def test_a_deployed_stage_needs_its_usage_clients_and_local_mode_does_not():
    without = {k: v for k, v in OIDC.items() if k != "USAGE_CLIENTS"}
    with pytest.raises(ConfigurationError, match="USAGE_CLIENTS is required"):
        Settings.from_env(without)
    with pytest.raises(ConfigurationError, match="USAGE_CLIENTS is required"):
        Settings.from_env({**OIDC, "USAGE_CLIENTS": " , "})
    assert Settings.from_env({"SERVICEDESK_AUTH_MODE": "local-hs256"}).usage_keys == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mobile-1", "pairs"),
        ("mobile-1=", "pairs"),
        ("=servicedesk-usage-prod-mobile", "pairs"),
        ("mobile-1=servicedesk=usage-prod-mobile", "pairs"),
        ("mobile-1:servicedesk-usage-prod-mobile", "pairs"),
        ("m=servicedesk-usage-prod-mobile,m=servicedesk-usage-prod-web", "twice"),
        ("mobile-1=short-key", "20 characters"),
    ],
    ids=["no-key", "empty-key", "empty-client", "two-equals", "colon", "duplicate", "short"],
)
def test_malformed_usage_clients_fail_at_start(value, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**OIDC, "USAGE_CLIENTS": value})
    # Local mode parses them too: a typo never waits for a deployment to show.
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({"SERVICEDESK_AUTH_MODE": "local-hs256", "USAGE_CLIENTS": value})
