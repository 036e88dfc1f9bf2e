"""Run the app under waitress, a production WSGI server (behind ``zhsearch serve``)."""

from __future__ import annotations

import waitress

from search import IndexNotFound, Settings
from web import create_app
from web.searcher import close_searcher, open_searcher

THREADS = 4


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the search pages and API for ``settings.index_dir`` until interrupted.

    Starts without an index too: /healthz answers 503 until ``zhsearch build`` makes one.
    """
    app = create_app(settings)
    # Open the index (and load the jieba dictionary) now, so the first visitor does not wait.
    try:
        open_searcher(app)
    except IndexNotFound as error:
        print(f"No index yet ({error}); searches answer 503 until one is built.", flush=True)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"zhsearch: serving {settings.index_dir} at http://{shown_host}:{port}/", flush=True)
    try:
        waitress.serve(app, host=host, port=port, threads=THREADS)
    finally:
        close_searcher(app)
