import pytest

from chalicelib.config import ConfigurationError, Settings

OIDC = {
    "OIDC_JWKS_URL": "https://idp/jwks",
    "OIDC_ISSUER": "https://idp",
    "OIDC_AUDIENCE": "c",
    "OIDC_REQUIRED_SCOPE": "servicedesk/api",
    "SERVICEDESK_CURSOR_KEY": "k" * 32,
}


def test_deployed_default_is_oidc_and_needs_its_settings():
    with pytest.raises(ConfigurationError):
        Settings.from_env({})
    assert Settings.from_env(OIDC).auth_mode == "oidc"


def test_deployed_stage_needs_the_apis_scope_and_local_mode_does_not():
    without_scope = {k: v for k, v in OIDC.items() if k != "OIDC_REQUIRED_SCOPE"}
    with pytest.raises(ConfigurationError, match="OIDC_REQUIRED_SCOPE"):
        Settings.from_env(without_scope)
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


def test_deployed_stage_needs_its_own_cursor_key():
    without_key = {k: v for k, v in OIDC.items() if k != "SERVICEDESK_CURSOR_KEY"}
    with pytest.raises(ConfigurationError):
        Settings.from_env(without_key)
    assert Settings.from_env(OIDC).cursor_key == b"k" * 32


def test_unknown_auth_mode_is_refused():
    with pytest.raises(ConfigurationError):
        Settings.from_env({"SERVICEDESK_AUTH_MODE": "none"})
