"""The local runner (`make run`): what it prints for a person to start with (SPEC 2, 3)
and what it keeps out of the terminal."""

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


def test_the_survey_windows_designed_timeout_is_not_logged_as_an_error():
    import logging

    from local.run import _designed_timeout_filter

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("moto", logging.ERROR, __file__, 1, message, None, None)

    timeout = "Exception=FailureEventException, Error=States.Timeout, Details={...}"
    assert not _designed_timeout_filter(record(timeout))
    assert _designed_timeout_filter(record("Exception=FailureEventException, Error=States.Runtime"))
