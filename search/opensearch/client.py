"""The one door to a cluster: a client made from Settings, and its failures as our errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opensearchpy import OpenSearch
from opensearchpy import exceptions as os_errors
from opensearchpy.helpers import BulkIndexError

from search.config import Settings
from search.index import IndexNotFound, IndexUnusable


class ClusterUnavailable(IndexNotFound):
    """The cluster cannot be reached or does not answer: searches answer 503 with this reason."""

    code = "cluster_unavailable"


def connect(settings: Settings) -> OpenSearch:
    """A client for the nodes of ``settings``: basic auth, TLS checks and timeouts as set.

    Certificates are checked unless ``opensearch_verify_certs`` is off, against
    ``opensearch_ca_certs`` when it names a file (else the system's CA bundle, through certifi).
    """
    options: dict[str, object] = {
        "hosts": list(settings.opensearch_url),
        "timeout": settings.opensearch_timeout,
        # A node that fails is tried again on another; the replicas there answer.
        "retry_on_timeout": True,
        "max_retries": 2,
        "verify_certs": settings.opensearch_verify_certs,
        "ssl_show_warn": settings.opensearch_verify_certs,
    }
    if settings.opensearch_user:
        options["http_auth"] = (settings.opensearch_user, settings.opensearch_password)
    if settings.opensearch_ca_certs:
        options["ca_certs"] = settings.opensearch_ca_certs
    return OpenSearch(**options)


def describe(error: Exception) -> str:
    """A one-line reason for a client error."""
    if isinstance(error, os_errors.ConnectionError):
        return f"cannot reach the OpenSearch cluster: {error.info or error.error}"
    if isinstance(error, os_errors.TransportError):
        reason = error.info
        if isinstance(reason, dict):
            cause = reason.get("error", reason)
            if isinstance(cause, dict):
                cause = cause.get("reason") or cause.get("type")
            reason = cause
        return f"OpenSearch answered {error.status_code}: {reason or error.error}"
    return str(error)


@contextmanager
def translated(what: str, unusable: Callable[[str], Exception] = IndexUnusable) -> Iterator[None]:
    """Turn the client's errors into ours: an unreachable cluster into
    :class:`ClusterUnavailable`, anything else it refuses into ``unusable`` (a one-line
    message that says what was being done)."""
    try:
        yield
    except BulkIndexError as error:
        first = error.errors[0] if error.errors else {}
        raise unusable(f"{what}: {len(error.errors)} records refused, e.g. {first}") from None
    except (os_errors.ConnectionError, os_errors.ConnectionTimeout) as error:
        raise ClusterUnavailable(f"{what}: {describe(error)}") from None
    except os_errors.NotFoundError as error:
        raise IndexNotFound(f"{what}: {describe(error)}; run 'zhsearch build'") from None
    except os_errors.TransportError as error:
        if isinstance(error.status_code, int) and error.status_code >= 500 or \
                error.status_code == "N/A":
            raise ClusterUnavailable(f"{what}: {describe(error)}") from None
        raise unusable(f"{what}: {describe(error)}") from None
