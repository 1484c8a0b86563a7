"""Timed work: day rollover and expiry. Idempotent; one failure never stops the loop."""
from __future__ import annotations

import asyncio
import logging

from kiosk_server.bootstrap import Container
from kiosk_server.services import appointments, tickets

log = logging.getLogger("kiosk_server.scheduled")


def sweep_once(c: Container) -> int:
    """Expire every open ticket of a past business day; publish what changed."""
    c.write(appointments.expire_past, hall=c.hall, clock=c.clock)
    return len(c.write(tickets.expire_past, hall=c.hall, clock=c.clock))


async def sweeper(c: Container) -> None:
    while True:
        try:
            sweep_once(c)
        except Exception:
            log.exception("sweep failed; trying again next round")
        await asyncio.sleep(c.settings.server.sweep_interval_s)
