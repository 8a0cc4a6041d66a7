"""The Lambda entry point: a function's environment and clients once per container, logs, metrics, and errors.

A handler module is ``handle(event, *, env, clients, now) -> dict`` (pure logic, testable with moto) plus
``lambda_handler = entry_point(handle, DiscoverEnv)``. The entry point reads the function's own environment class
(``lambda_handler.env_type``) from the container's environment (``os.environ``, or the mapping a test harness
gives ``lambda_handler.container``), creates clients lazily (spoke clients for functions whose environment has
spoke access), logs with the run id as correlation id, flushes EMF metrics, and turns throttling that outlasted
the SDK retries into ``TransientAwsError`` (which the state machine retries with backoff).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, overload

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from handlers.contract.environment import FunctionEnv, SpokeAccessEnv
from handlers.contract.errors import TransientAwsError
from handlers.runtime.clients import FleetClients, HubClients, fleet_clients, hub_clients, is_transient
from handlers.runtime.observability import logger, metrics

E = TypeVar("E", bound=FunctionEnv)
S = TypeVar("S", bound=SpokeAccessEnv)
C = TypeVar("C", bound=HubClients)
E_contra = TypeVar("E_contra", bound=FunctionEnv, contravariant=True)
C_contra = TypeVar("C_contra", bound=HubClients, contravariant=True)

ErrorAnswer = Callable[[Exception], dict[str, Any]]


class Handle(Protocol[E_contra, C_contra]):
    """A handler's logic: the event in, the result out; environment, clients and clock passed in."""

    def __call__(self, event: dict[str, Any], *, env: E_contra, clients: C_contra, now: datetime) -> dict[str, Any]: ...


def utcnow() -> datetime:
    """The clock handlers run on (tests replace it with a virtual clock)."""
    return datetime.now(UTC)


class Container(Generic[E, C]):
    """Per-container cache of a function's environment and clients (rebuilt if the environment changes).

    ``environ`` is where the environment is read from: ``os.environ`` unless a test harness gives this function
    an environment of its own."""

    def __init__(
        self, env_type: type[E], make_clients: Callable[[E], C], *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.env_type = env_type
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._make_clients = make_clients
        self._env: E | None = None
        self._clients: C | None = None

    def reset(self) -> None:
        """Forget the environment and clients (tests that redeploy between runs)."""
        self._env, self._clients = None, None

    def get(self) -> tuple[E, C]:
        """The environment (a missing setting raises, naming it) and the clients made for it."""
        env = self.env_type.from_environ(self.environ)
        if env != self._env or self._clients is None:
            self._env, self._clients = env, self._make_clients(env)
        return env, self._clients


class LambdaHandler(Generic[E, C]):
    """What Lambda calls (``handlers.<module>.lambda_handler``): ``handle`` with the container's environment."""

    def __init__(
        self,
        handle: Handle[E, C],
        container: Container[E, C],
        *,
        correlation_id_path: str,
        answer_error: ErrorAnswer | None,
    ) -> None:
        self.handle = handle
        self.container = container
        self.env_type: type[E] = container.env_type

        @logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)
        @metrics.log_metrics
        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                env, clients = container.get()
            except Exception:
                # A missing or malformed setting is a deployment bug: fail loudly, whoever the caller is.
                metrics.add_metric(name="HandlerErrors", unit=MetricUnit.Count, value=1)
                raise
            try:
                return handle(event, env=env, clients=clients, now=utcnow())
            except Exception as error:
                metrics.add_metric(name="HandlerErrors", unit=MetricUnit.Count, value=1)
                if answer_error is not None:
                    return answer_error(error)
                # Logged by Powertools with the run id; the state machine's Retry/Catch see the error name.
                raise _classified(error) from error

        self._invoke: Callable[[dict[str, Any], Any], dict[str, Any]] = invoke

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._invoke(event, context)


@overload
def entry_point(
    handle: Handle[S, FleetClients],
    env_type: type[S],
    *,
    correlation_id_path: str = ...,
    answer_error: ErrorAnswer | None = ...,
    environ: Mapping[str, str] | None = ...,
) -> LambdaHandler[S, FleetClients]: ...


@overload
def entry_point(
    handle: Handle[E, HubClients],
    env_type: type[E],
    *,
    correlation_id_path: str = ...,
    answer_error: ErrorAnswer | None = ...,
    environ: Mapping[str, str] | None = ...,
) -> LambdaHandler[E, HubClients]: ...


def entry_point(
    handle: Any,
    env_type: type[FunctionEnv],
    *,
    correlation_id_path: str = "runId",
    answer_error: ErrorAnswer | None = None,
    environ: Mapping[str, str] | None = None,
) -> LambdaHandler[Any, Any]:
    """The ``lambda_handler`` for ``handle``, reading ``env_type``; logs correlated by ``correlation_id_path``.

    Functions whose environment has spoke access get ``FleetClients``, the others ``HubClients``. A failure is
    counted, then raised for the caller's Retry/Catch, or, with ``answer_error`` (a caller that needs a response,
    like API Gateway), answered with what it returns."""
    make_clients: Callable[[Any], HubClients] = fleet_clients if issubclass(env_type, SpokeAccessEnv) else hub_clients
    container = Container(env_type, make_clients, environ=environ)
    return LambdaHandler(handle, container, correlation_id_path=correlation_id_path, answer_error=answer_error)


def _classified(error: Exception) -> Exception:
    """Throttling and connection failures that outlasted the SDK's retries become ``TransientAwsError``."""
    if isinstance(error, ClientError) and is_transient(error):
        return TransientAwsError(str(error))
    if isinstance(error, BotoConnectionError):
        return TransientAwsError(str(error))
    return error
