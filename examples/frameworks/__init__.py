"""Framework recipes: where to open the tenancy handle, how a request acts as its user,
and what an HTTP API answers. Each is run by the test suite with the framework's own test
client (tests/examples/); docs/how-to/web-frameworks.md walks through them.

- :mod:`.fastapi_app`: a lifespan opens one handle, a dependency gives each route the
  handle acting as the request's user.
- :mod:`.django_app`: an app config, a handle opened lazily in each process, a view
  decorator.
- :mod:`.flask_app`: an app factory and an extension; :mod:`.gunicorn_app` serves it with
  or without ``--preload``.
- :mod:`.asyncio_app`: which calls run on the event loop and which go to a thread.

What they share: :mod:`.world` (the sample tenant the tests and the demo run on) and
:mod:`.http_errors` (the HTTP status of every tenancy error, as docs/reference/errors.md
lists it).
"""
