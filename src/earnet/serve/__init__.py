"""``earnet serve``: a local web page and an HTTP API for segmenting photographs.

:func:`create_app` builds the Starlette application from a :class:`ServeConfig`; the
``earnet serve`` command runs it with uvicorn. Every photograph goes through the public
segmenter (``earnet.load_model(...).segment``); this package only adds HTTP, limits, a
bounded worker pool and the page.
"""

from earnet.serve.settings import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str):  # noqa: ANN202
    # the web framework is an optional extra: import it only when the app is built
    if name == "create_app":
        from earnet.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'earnet.serve' has no attribute {name!r}")
