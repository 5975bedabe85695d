"""Heavy requests (analytics, trip plans) run on the platform's worker threads, never on the
event loop the OCPP gateway shares (issue 14): a year of analytics once held every station's
heartbeat for seconds. A burst beyond what the workers and their queue take is answered 503
with Retry-After, not queued without end."""

from __future__ import annotations

from typing import TypeVar

from fastapi import HTTPException, Request

from silkcharge.store.workers import Job, WorkersBusy

T = TypeVar("T")


async def off_loop(request: Request, job: Job[T]) -> T:
    """Run `job(sessions)` on a worker thread (with the worker's own engine) and return its result."""
    try:
        return await request.app.state.platform.workers.run(job)
    except WorkersBusy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}) from None
