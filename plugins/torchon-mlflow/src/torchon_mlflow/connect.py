"""The check ``torchon run --track mlflow`` makes before anything is written: is the tracking server there?"""

from __future__ import annotations

__all__ = ["check_server"]


def check_server(uri: str, timeout: float) -> str | None:
    """None when the MLflow tracking server at ``uri`` answers (with the credentials MLflow reads from its
    environment), else why not, for a person. Local stores (``file:``, ``sqlite:``, ...) need no server: None.

    One request, no retries, at most ``timeout`` seconds: a server that is down is found at once.
    """
    if not uri.lower().startswith(("http://", "https://")):
        return None
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:
        response = http_request(
            get_default_host_creds(uri),
            "/api/2.0/mlflow/experiments/search",
            "POST",
            json={"max_results": 1},
            max_retries=0,
            backoff_factor=0,
            timeout=max(1, round(timeout)),
        )
    except Exception as exc:  # connection refused, DNS, TLS, timeout: MLflow wraps them in MlflowException
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot reach it ({type(exc).__name__}: {reason[:300]})"
    if response.status_code in (401, 403):
        return (
            f"it refused the credentials (HTTP {response.status_code}); set MLFLOW_TRACKING_TOKEN, or "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    if response.status_code != 200:
        return f"it answered HTTP {response.status_code} ({response.text.strip()[:200]}); is it an MLflow server?"
    return None
