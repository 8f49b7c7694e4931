"""Django: an app whose config holds the tenancy handle, opened lazily in each process.

- :mod:`.apps`: ``TenancyConfig.ready`` creates the holder; the handle is opened by the
  first request a process serves, so ``manage.py`` commands never read the store and
  each gunicorn worker opens its own, after the fork.
- :mod:`.views`: the ``reaching_device`` decorator authenticates the request's user (an
  ``X-User-Id`` header here, a stand-in for ``request.user``), answers 404 for a device
  the user does not reach, and hands the view the handle acting as that user; tenancy
  errors become the statuses of docs/reference/errors.md.
- :mod:`.settings`: the smallest settings module that serves it (no database of Django's
  own: tenancy keeps its store).
"""
