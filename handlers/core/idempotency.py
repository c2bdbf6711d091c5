"""The Idempotency-Key protocol of unsafe POSTs (orders, checkout payment): a
retry with the same key from the same user gets the first answer back, stored
with the request's hash; the records live in ``models.core.idempotency``."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from handlers.core.base import BaseHandler, error_payload
from handlers.core.encoding import dumps
from models.core import idempotency
from models.core.db import transaction
from models.core.errors import AppError


async def idempotent(handler: BaseHandler, endpoint: str, run: Callable[[], Awaitable[tuple[int, Any]]],
                     atomic: bool = False) -> None:
    """Answer with ``run()`` — or, with an Idempotency-Key header seen before
    from this user, with the stored first answer (``Idempotent-Replayed: true``).

    ``atomic``: ``run()``'s writes and the stored answer commit together, so
    that no crash between them can let a retry act twice (for actions whose
    only side effects are in the database; a payment's provider calls must
    not be held in an open transaction)."""
    key = handler.request.headers.get("Idempotency-Key")
    if key is None:
        status, payload = await run()
        handler.reply(payload, status)
        return
    claim = await idempotency.claim(handler.current_user.id, endpoint, key,
                                    idempotency.request_hash(handler.json_body()))
    if claim.replay is not None:
        status, body = claim.replay
        handler.set_header("Idempotent-Replayed", "true")
        handler.set_status(status)
        handler.finish(body)
        return
    try:
        if atomic:
            async with transaction():
                status, payload = await run()
                body = dumps(payload)
                await idempotency.complete(claim.record_id, status, body)
            handler.set_status(status)
            handler.finish(body)
            return
        status, payload = await run()
    except AppError as exc:
        if exc.status < 500:
            await idempotency.complete(claim.record_id, exc.status,
                                       dumps(error_payload(exc.message, exc.errors, exc.extra)))
        else:
            await idempotency.release(claim.record_id)
        raise
    except BaseException:
        await idempotency.release(claim.record_id)
        raise
    body = dumps(payload)
    await idempotency.complete(claim.record_id, status, body)
    handler.set_status(status)
    handler.finish(body)
