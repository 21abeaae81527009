"""The playground's API fuzzed against its own OpenAPI schema (schemathesis): whatever a
client sends, the server answers with a status below 500, and errors are JSON.

Bounded and reproducible: at most ``EXAMPLES`` generated requests per operation, derandomized
(the suite's Hypothesis profile), plus hand-picked hostile bodies that a random generator is
unlikely to write.
"""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from optiscope.web.app import create_app

EXAMPLES = 50

app = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_under_fuzzing(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        (content_type,) = response.headers["content-type"]
        assert content_type.startswith("application/json"), (response.status_code, content_type)
        assert isinstance(response.json()["error"], str)


HOSTILE = [
    {"function": "(" * 150 + "w1" + ")" * 150},
    {"function": "-" * 299 + "w1"},
    {"function": "w1" + "**w1" * 99},
    {"function": "exp(exp(exp(exp(w1))))"},
    {"function": "w1 / 0"},
    {"function": "\x00\x1b[2J"},
    {"function": "aniso:" + "a=1," * 70},
    {"function": "quadratic:kappa=1e308"},
    {"function": "linreg:features=bmi,bp"},
    {"specs": ["sgd:lr=1e308", "adam:lr=1e-320"]},
    {"specs": ["lbfgs:lr=1,history_size=100000000"]},
    {"specs": ["sgd:schedule=step,step_size=1,gamma=1e-300"]},
    {"start": [1e308, -1e308]},
    {"start": [1e300, 1]},
    {"seed": 2**70},
    {"seed": -1},
    {"batch_size": 0},
    {"batch_size": "full", "noise": 1e308},
    {"tol": 0},
]


def test_hostile_bodies_get_an_answer_not_a_crash():
    client = TestClient(app, raise_server_exceptions=True)
    for body in HOSTILE:
        for path in ("/api/run", "/api/explain", "/api/theory", "/api/contour"):
            fields = {k: v for k, v in body.items() if k in FIELDS[path]}
            if not fields:
                continue
            response = client.post(path, json=fields)
            assert response.status_code < 500, (path, fields, response.text)
            if response.status_code >= 400:
                assert response.json()["error"], (path, fields)


FIELDS = {
    "/api/run": {"function", "specs", "start", "seed", "batch_size", "noise", "tol"},
    "/api/explain": {"function", "specs", "start", "seed", "batch_size", "noise", "tol"},
    "/api/theory": {"function", "specs", "start", "tol"},
    "/api/contour": {"function"},
}
