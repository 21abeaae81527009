"""The live playground: ``optiscope serve`` serves a page and a JSON API (``create_app``).

``optiscope.web.app`` builds the FastAPI app, ``optiscope.web.compute`` the records (the
CLI's own), ``optiscope.web.limits`` what one request may ask for, ``optiscope.web.models``
the request bodies, ``optiscope.web.catalogue`` the functions and optimizers as JSON; the
page itself is ``static/``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """``optiscope.web.app.create_app`` (imported on first use: FastAPI is loaded only then)."""
    from optiscope.web.app import create_app as build

    return build(*args, **kwargs)
