"""``oncobench serve``: the leaderboard pages plus a JSON API (FastAPI, served by uvicorn).

Read endpoints are open; ``POST /api/submissions`` needs a bearer token made by ``oncobench tokens create``.
A submission is the zip of ``fold<k>[_seed<s>].parquet|csv`` files and ``meta.toml`` sent as the request body
(``Content-Type: application/zip``), the task named in the query (``?task=pancan-type&dataset=tcga-mini``).
The body size is enforced while it streams (Starlette sets no limit of its own).
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations (Request) at run time.
import re
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator

from oncobench.datasets.errors import OncoBenchError
from oncobench.leaderboard.entries import DuplicateSubmissionError, Entry, SubmissionError, nan_to_none

MAX_UPLOAD_BYTES = 50 * 2**20
PAGE = re.compile(r"^[A-Za-z0-9._-]+$")


def entry_json(entry: Entry, rank: int | None = None, tied: bool = False) -> dict[str, Any]:
    return nan_to_none({
        "rank": rank, "tied_with_previous": tied, "entry_id": entry.entry_id, "method": entry.method,
        "version": entry.version, "status": entry.status, "role": entry.role, "task": entry.task, "dataset": entry.dataset,
        "split_key": entry.split_key, "evaluator_version": entry.evaluator_version, "primary": entry.primary,
        "summary": entry.summary, "seeds": list(entry.seeds), "predictions_sha256": entry.predictions_sha256,
        "submitted_at": entry.submitted_at, "meta": entry.meta,
        "folds": [{"repeat": f.repeat, "fold": f.fold, "seed": f.seed, "split_sha256": f.split_sha256,
                   "predictions_sha256": f.predictions_sha256, "test": f.test, "valid": f.valid} for f in entry.folds],
    })


def create_app(home: Path | None = None):
    """The FastAPI application over the OncoBench home's leaderboard."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool

    from oncobench.benchmark.tasks import load_task
    from oncobench.datasets.store import oncobench_home
    from oncobench.leaderboard import site
    from oncobench.leaderboard.db import LeaderboardDB
    from oncobench.leaderboard.submission import prepare_submission
    from oncobench.leaderboard.views import page_name, ranked, render_task, task_summary, task_tasks

    home = home or oncobench_home()
    db = LeaderboardDB(home)
    plot_dir = db.root / "plots"
    plot_dir.mkdir(exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        db.close()

    app = FastAPI(title="OncoBench leaderboard", version="1", lifespan=lifespan)

    @lru_cache(maxsize=64)
    def task_of(name: str, dataset: str | None) -> Any:
        return load_task(name, dataset=dataset)

    def find_task(name: str, dataset: str | None) -> Any:
        try:
            task = task_of(name, dataset)
            task.patients  # a definition that no longer fits its data is this task's 404, not a 500
            return task
        except (OncoBenchError, KeyError) as exc:
            raise HTTPException(status_code=404, detail=str(exc.args[0] if exc.args else exc)) from None

    @app.get("/", response_class=HTMLResponse)
    @app.get("/index.html", response_class=HTMLResponse)
    def index() -> str:
        summaries = []
        for task in task_tasks(db):
            rows, _ = ranked(task, db)
            summaries.append(task_summary(task, rows) | {"page": page_name(task)})
        return site.index_page(summaries, link="/{page}.html")

    @app.get("/api/tasks")
    def api_tasks() -> list[dict[str, Any]]:
        out = []
        for task in task_tasks(db):
            rows, _ = ranked(task, db)
            out.append(task_summary(task, rows))
        return out

    @app.get("/api/leaderboard/{task}")
    def api_leaderboard(task: str, dataset: str | None = None, all_versions: bool = False) -> dict[str, Any]:
        t = find_task(task, dataset)
        rows, others = ranked(t, db, all_versions=all_versions)
        return {"task": t.name, "dataset": t.dataset.id, "primary": t.spec.primary, "not_comparable": others,
                "entries": [entry_json(r.entry, r.rank, r.tied_with_previous) for r in rows]}

    @app.get("/plots/{name}")
    def plot(name: str) -> Any:
        if not PAGE.match(name) or not name.endswith(".png") or not (plot_dir / name).is_file():
            raise HTTPException(status_code=404, detail="no such plot")
        return FileResponse(plot_dir / name, media_type="image/png")

    @app.get("/{page}.html", response_class=HTMLResponse)
    def task_html(page: str) -> str:
        for task in task_tasks(db):
            if page_name(task) == page:
                return render_task(task, db, plot_dir, plot_prefix="/plots/")
        raise HTTPException(status_code=404, detail=f"no leaderboard page {page!r}")

    @app.post("/api/submissions", status_code=201)
    async def submit(request: Request, task: str, dataset: str | None = None) -> Any:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise HTTPException(status_code=401, detail="missing bearer token (oncobench tokens create NAME)",
                                headers={"WWW-Authenticate": "Bearer"})
        submitter = await run_in_threadpool(db.token_name, auth[7:].strip())
        if submitter is None:
            raise HTTPException(status_code=403, detail="unknown token")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/zip", "application/x-zip-compressed"):
            raise HTTPException(status_code=415, detail=f"content type {content_type or 'missing'!r}; expected application/zip")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            raise HTTPException(status_code=413, detail=f"upload of {declared} bytes; at most {MAX_UPLOAD_BYTES}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD_BYTES:
                raise HTTPException(status_code=413, detail=f"upload larger than {MAX_UPLOAD_BYTES} bytes")
        t = find_task(task, dataset)

        def work() -> Entry:
            entry, frames = prepare_submission(t, bytes(body), extra_meta={"submitted_by": submitter})
            return db.add(entry, frames)

        try:
            entry = await run_in_threadpool(work)
        except DuplicateSubmissionError as exc:
            return JSONResponse(status_code=409, content={"detail": "duplicate", "problems": exc.problems})
        except SubmissionError as exc:
            return JSONResponse(status_code=422, content={"detail": "submission refused", "problems": exc.problems})
        return entry_json(entry)

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, home: Path | None = None) -> None:
    import uvicorn

    # one process: DuckDB allows one writer process per database file
    uvicorn.run(create_app(home), host=host, port=port, workers=1, log_level="warning")
