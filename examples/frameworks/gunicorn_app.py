"""The Flask recipe served by gunicorn, with or without ``--preload``::

    TENANCY_DB=app.db gunicorn --workers 2 --preload examples.frameworks.gunicorn_app:app
    TENANCY_DB=app.db gunicorn --workers 2 examples.frameworks.gunicorn_app:app

The handle is opened when this module is imported. With ``--preload`` the master imports
it once, before forking: the store is read into memory once and every worker starts from
that copy (tenancy's fork hooks give each worker its own locks, its own follower thread
and its own SQLite connection, so nothing is shared but memory pages). Without it, each
worker imports the module and opens its own handle (one load per worker, no fork to
think about). Either way a worker sees another worker's writes within the handle's
``staleness`` window (1 s by default), or at once with ``fresh=True``.

``GET /process`` says which process answered and which one opened its handle.
"""

from __future__ import annotations

import atexit
import os

from flask.typing import ResponseReturnValue

import tenancy
from examples.frameworks.flask_app import create_app

__all__ = ["OPENED_IN", "app", "handle"]

handle = tenancy.open(os.environ.get("TENANCY_DB", "tenancy.db"))
OPENED_IN = os.getpid()
"""The process that opened ``handle``: the master with --preload, else the worker."""
atexit.register(handle.close)  # flushes the usage counters when the worker exits

app = create_app(handle=handle)


@app.get("/process")
def process() -> ResponseReturnValue:
    return {"pid": os.getpid(), "opened_in": OPENED_IN}
