"""What `make run` prints for a person to start with (SPEC 2, 3)."""

from local.run import LocalPorts, _banner


class _Stack:
    ports = LocalPorts(api=8000, aws=5000)
    resources = {"table_name": "servicedesk-local"}


def test_the_banner_prints_the_dev_jwt_secret_in_use(monkeypatch):
    monkeypatch.delenv("SERVICEDESK_DEV_JWT_SECRET", raising=False)
    assert "servicedesk-local-development-secret" in _banner(_Stack())  # type: ignore[arg-type]
    monkeypatch.setenv("SERVICEDESK_DEV_JWT_SECRET", "a-secret-of-this-machine-only")
    banner = _banner(_Stack())  # type: ignore[arg-type]
    assert "a-secret-of-this-machine-only" in banner
    assert "http://127.0.0.1:8000/v1/health" in banner
