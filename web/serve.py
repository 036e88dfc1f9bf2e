"""Run the app under waitress, a production WSGI server (behind ``zhsearch serve``)."""

from __future__ import annotations

from pathlib import Path

import waitress

from search import IndexNotFound
from web import create_app

THREADS = 4


def serve(index_dir: Path, host: str, port: int) -> None:
    """Serve the search pages and API for the index at ``index_dir`` until interrupted.

    Starts without an index too: /healthz answers 503 until ``zhsearch build`` makes one.
    """
    app = create_app({"INDEX_DIR": Path(index_dir)})
    # Open the index (and load the jieba dictionary) now, so the first visitor does not wait.
    holder = app.extensions["zhsearch"]
    try:
        holder.get()
    except IndexNotFound as error:
        print(f"No index yet ({error}); searches answer 503 until one is built.", flush=True)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"zhsearch: serving {index_dir} at http://{shown_host}:{port}/", flush=True)
    try:
        waitress.serve(app, host=host, port=port, threads=THREADS)
    finally:
        holder.close()
