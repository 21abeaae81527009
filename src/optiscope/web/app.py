"""The playground's web app: the page, Plotly.js from the installed package, and the JSON API.

``create_app()`` builds a FastAPI app (served by ``optiscope serve``):

- ``GET /`` the page (``static/index.html``), ``/static/...`` its files, and
  ``/static/vendor/plotly.min.js`` from the installed ``plotly`` package (no CDN: the page
  works with no internet);
- ``GET /api/functions``, ``GET /api/optimizers``, ``GET /api/limits``: the catalogues and
  limits (built once, answered from memory on the event loop);
- ``POST /api/run``, ``/api/contour``, ``/api/theory``, ``/api/explain``: computed in a pool of
  ``Limits.workers`` threads, each under the compute-time limit (``optiscope.web.limits``),
  so the event loop keeps answering other requests while one computes or is refused;
- ``/docs``: FastAPI's OpenAPI page.

Every error is JSON ``{"error": "<one line>"}``, never an HTML page: a user's mistake
(OptiscopeError: unknown function, bad spec, unsafe formula) is 400; a request over a limit
is 422 with ``"limit"`` naming it; a body of the wrong shape (FastAPI's validation) is 422;
an unknown path 404. Anything else is a bug, answered 500 with a JSON line too.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from optiscope import __version__
from optiscope.errors import OptiscopeError
from optiscope.output import json_safe, printable
from optiscope.web import compute
from optiscope.web.catalogue import functions_json, optimizers_json
from optiscope.web.limits import LIMIT_STATUS, LimitError, Limits
from optiscope.web.models import ContourRequest, ExplainRequest, RunRequest, TheoryRequest

STATIC = Path(__file__).parent / "static"
TIMEOUT_FACTOR = 3  # waiting for a worker counts too: a request gives up after 3 x the limit
ERROR_TEXT_MAX = 1000  # an error line quoting a huge input is cut to this many characters


class StrictJSONResponse(JSONResponse):
    """JSON as ``optiscope.output`` writes it: inf and NaN as strings, never invalid JSON."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(json_safe(content), allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8")


def error_response(status: int, message: str, **extra: Any) -> StrictJSONResponse:
    """``{"error": message}`` on one line (control characters escaped, cut if huge)."""
    line = " ".join(printable(str(message)).split())
    if len(line) > ERROR_TEXT_MAX:
        line = line[: ERROR_TEXT_MAX - 3] + "..."
    return StrictJSONResponse({"error": line, **extra}, status_code=status)


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line naming the first field and problem."""
    errors = exc.errors()
    if not errors:
        return "invalid request body"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    if first.get("type") == "json_invalid":
        return "invalid request body: not valid JSON"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    field = f" {where}" if where else " request body"
    return f"invalid{field}: {first.get('msg', 'invalid value')}{more}; see /docs"


def install_error_handlers(app: FastAPI) -> None:
    """Every way a request can fail answers ``{"error": "<one line>"}`` (module notes)."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        return error_response(422, validation_message(exc))

    @app.exception_handler(LimitError)
    async def _limit(_: Request, exc: LimitError) -> Response:
        return error_response(LIMIT_STATUS, str(exc), limit=exc.limit)

    @app.exception_handler(OptiscopeError)
    async def _mistake(_: Request, exc: OptiscopeError) -> Response:
        return error_response(400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(404, f"not found: {request.url.path}")
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> Response:
        return error_response(500, f"internal error ({type(exc).__name__}); please report it")


class Computations:
    """The worker pool that runs the computing endpoints, each under the app's limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.pool: ThreadPoolExecutor | None = None  # made on first use, again after a shutdown

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    async def __call__(self, work: Callable[..., dict[str, Any]], request: Any) -> Response:
        """``work(request, limits, deadline)`` in a worker; the deadline starts with it."""
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="optiscope-web")
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self.pool, self._timed, work, request)
        try:
            data = await asyncio.wait_for(job, TIMEOUT_FACTOR * self.limits.compute_seconds)
        except TimeoutError:
            raise self.limits.deadline().error() from None
        return StrictJSONResponse(data)

    def _timed(self, work: Callable[..., dict[str, Any]], request: Any) -> dict[str, Any]:
        return work(request, self.limits, self.limits.deadline())


ERRORS = {
    400: {"description": "A mistake in the request (unknown function, bad spec, unsafe formula)"},
    422: {"description": "A body of the wrong shape, or over a limit (see /api/limits)"},
}


def create_app(limits: Limits | None = None) -> FastAPI:
    """The playground app (module notes); ``limits`` default to ``optiscope.web.limits``'s."""
    limits = limits or Limits()
    app = FastAPI(
        title="optiscope playground",
        version=__version__,
        description="Run, measure and explain optimizers on 2-D functions (see /api/limits).",
    )
    app.state.limits = limits
    install_error_handlers(app)
    computations = Computations(limits)
    app.router.on_shutdown.append(computations.shutdown)
    add_api_routes(app, limits, computations)
    add_page_routes(app)
    return app


@functools.cache
def catalogue_body(name: str) -> bytes:
    """The JSON text of a catalogue (the same for every request: rendered once)."""
    return StrictJSONResponse(
        {"functions": functions_json, "optimizers": optimizers_json}[name]()
    ).body


def add_api_routes(app: FastAPI, limits: Limits, computations: Computations) -> None:
    @app.get("/api/functions", response_class=StrictJSONResponse)
    async def functions() -> Response:
        """The catalogue's 2-D functions: formula, plot box, start, minimizers, parameters."""
        return Response(catalogue_body("functions"), media_type="application/json")

    @app.get("/api/optimizers", response_class=StrictJSONResponse)
    async def optimizers() -> Response:
        """Every optimizer's hyperparameters (torch defaults, ranges, slider scales); schedules."""
        return Response(catalogue_body("optimizers"), media_type="application/json")

    @app.get("/api/limits", response_class=StrictJSONResponse)
    async def get_limits() -> Response:
        """What one request may ask for (steps, specs, formula length, grid, compute time)."""
        return StrictJSONResponse(limits.as_json())

    @app.post("/api/run", response_class=StrictJSONResponse, responses=ERRORS)
    async def run(body: RunRequest) -> Response:
        """``optiscope compare --json --path``'s record, with losses, state and the command."""
        return await computations(compute.run_record, body)

    @app.post("/api/contour", response_class=StrictJSONResponse, responses=ERRORS)
    async def contour(body: ContourRequest) -> Response:
        """The function on a grid with log-spaced contour levels."""
        return await computations(compute.contour_record, body)

    @app.post("/api/theory", response_class=StrictJSONResponse, responses=ERRORS)
    async def theory(body: TheoryRequest) -> Response:
        """``optiscope theory --json``: the quadratic theory, optimal settings, predictions."""
        return await computations(compute.theory_record, body)

    @app.post("/api/explain", response_class=StrictJSONResponse, responses=ERRORS)
    async def explain(body: ExplainRequest) -> Response:
        """``optiscope explain --json``: every run explained in plain words."""
        return await computations(compute.explain_record, body)


def add_page_routes(app: FastAPI) -> None:
    """The page and its files; Plotly.js from the installed package (never a CDN)."""
    import plotly

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        page = STATIC / "index.html"
        if not page.is_file():
            return error_response(404, "the page is missing: static/index.html")
        return FileResponse(page, media_type="text/html; charset=utf-8")

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    async def plotly_script() -> Response:
        return FileResponse(plotly_js, media_type="text/javascript; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
