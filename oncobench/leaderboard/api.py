"""``oncobench serve``: the leaderboard pages plus a JSON API (FastAPI, served by uvicorn).

Read endpoints are open; ``POST /api/submissions`` needs a bearer token made by ``oncobench tokens create``.
A submission is the zip of ``fold<k>[_seed<s>].parquet|csv`` files and ``meta.toml`` sent as the request body
(``Content-Type: application/zip``), the task named in the query (``?task=pancan-type&dataset=tcga-mini``).
The body size is enforced while it streams (Starlette sets no limit of its own).
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint annotations (Request) at run time.
import asyncio
import io
import logging
import re
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator

from oncobench.datasets.errors import OncoBenchError
from oncobench.leaderboard.entries import DuplicateSubmissionError, Entry, SubmissionError, nan_to_none

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 2**20
PLOT = re.compile(r"([A-Za-z0-9._-]+)_(folds|km|ablation)\.png")
REFRESH_SECONDS = 60.0
# The endpoint reads the raw body itself (to enforce the size while it streams); this tells the OpenAPI schema.
SUBMISSION_BODY = {"requestBody": {"required": True, "content": {
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}


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


def create_app(home: Path | None = None, *, refresh_seconds: float = REFRESH_SECONDS):
    """The FastAPI application over the OncoBench home's leaderboard.

    At start-up, and then every ``refresh_seconds`` in the background, the finished runs of every task in the
    home's MLflow store are imported as baseline entries; requests themselves never build, download or write
    anything (except a submission with a valid token).
    """
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    from oncobench.datasets.store import oncobench_home
    from oncobench.leaderboard import site
    from oncobench.leaderboard.baselines import import_all_baselines
    from oncobench.leaderboard.built import load_built_task
    from oncobench.leaderboard.db import LeaderboardBusyError, LeaderboardDB
    from oncobench.leaderboard.submission import prepare_submission
    from oncobench.leaderboard.views import (draw_plot, entry_fairness, page_name, ranked, render_task, task_summary,
                                            task_tasks)

    home = home or oncobench_home()
    db = LeaderboardDB(home)
    federated: list[dict[str, Any]] = []  # the federated track, read from MLflow by refresh(), never by a request

    def refresh() -> None:
        from oncobench.benchmark.federated import federated_track

        try:
            federated[:] = federated_track(home)
        except Exception:  # like the baselines below: logged, and the next refresh tries again
            log.exception("reading the federated runs failed")
        try:
            added = import_all_baselines(home=home, db=db)
        except Exception:  # a failed refresh must not stop the server; the next one tries again
            log.exception("importing finished runs as baseline entries failed")
            return
        if added:
            log.info("imported %d baseline entries", len(added))

    async def refresh_forever() -> None:
        while True:
            await asyncio.sleep(refresh_seconds)
            await run_in_threadpool(refresh)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(refresh)
        refresher = asyncio.create_task(refresh_forever())
        try:
            yield
        finally:
            refresher.cancel()

    app = FastAPI(title="OncoBench leaderboard", version="1", lifespan=lifespan)

    @app.exception_handler(LeaderboardBusyError)
    async def busy(request: Request, exc: LeaderboardBusyError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "5"})

    @lru_cache(maxsize=64)
    def task_of(name: str, dataset: str | None) -> Any:
        return load_built_task(name, dataset, home)

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
        for task in task_tasks(db, home):
            rows, _ = ranked(task, db)
            summaries.append(task_summary(task, rows) | {"page": page_name(task)})
        return site.index_page(summaries, link="/{page}.html", extra=site.federated_section(federated))

    @app.get("/api/tasks")
    def api_tasks() -> list[dict[str, Any]]:
        out = []
        for task in task_tasks(db, home):
            rows, _ = ranked(task, db)
            out.append(task_summary(task, rows))
        return out

    @app.get("/api/federated")
    def api_federated() -> list[dict[str, Any]]:
        """The federated track (latest run per task, dataset, model and strategy), as of the last refresh."""
        return federated

    @app.get("/api/leaderboard/{task}")
    def api_leaderboard(task: str, dataset: str | None = None, all_versions: bool = False) -> dict[str, Any]:
        t = find_task(task, dataset)
        rows, others = ranked(t, db, all_versions=all_versions)
        return {"task": t.name, "dataset": t.dataset.id, "primary": t.spec.primary, "not_comparable": others,
                "entries": [entry_json(r.entry, r.rank, r.tied_with_previous)
                            | {"fairness": nan_to_none(entry_fairness(t, db, r.entry))} for r in rows]}

    @app.get("/plots/{name}")
    def plot(name: str) -> Any:
        # drawn in memory when asked for: a read request writes nothing in the home
        match = PLOT.fullmatch(name)
        for task in task_tasks(db, home) if match else []:
            if page_name(task) == match[1]:
                png = io.BytesIO()
                if draw_plot(task, db, match[2], ranked(task, db)[0], png):
                    return Response(png.getvalue(), media_type="image/png")
        raise HTTPException(status_code=404, detail="no such plot")

    @app.get("/{page}.html", response_class=HTMLResponse)
    def task_html(page: str) -> str:
        for task in task_tasks(db, home):
            if page_name(task) == page:
                return render_task(task, db, None, plot_prefix="/plots/")
        raise HTTPException(status_code=404, detail=f"no leaderboard page {page!r}")

    @app.post("/api/submissions", status_code=201, openapi_extra=SUBMISSION_BODY)
    async def submit(request: Request, task: str, dataset: str | None = None) -> Any:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise HTTPException(status_code=401, detail="missing bearer token (oncobench tokens create NAME)",
                                headers={"WWW-Authenticate": "Bearer"})
        token = await run_in_threadpool(db.authenticate, auth[7:].strip())
        if token is None:
            raise HTTPException(status_code=403, detail="unknown token")
        if token.revoked:
            raise HTTPException(status_code=401, detail="revoked token", headers={"WWW-Authenticate": "Bearer"})
        submitter = token.name
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


def serve(host: str = "127.0.0.1", port: int = 8000, home: Path | None = None,
          refresh_seconds: float = REFRESH_SECONDS) -> None:
    import uvicorn

    # One worker: the leaderboard file is opened per operation, so the CLI can use the home while this serves.
    uvicorn.run(create_app(home, refresh_seconds=refresh_seconds), host=host, port=port, workers=1, log_level="warning")
