"""Run a hall display client: the stream, the window LED strips and the loudspeaker.

    python -m display_client --server http://192.0.2.10:8080 --token T \\
        --led /dev/ttyUSB0 --protocol stx [--zones A,B] [--voice-pack DIR]

The token may come from HALL_DISPLAY_TOKEN instead of --token (kept out of the process list).
Several buses: repeat --led, each followed by its --protocol. SIGHUP asks the server for a fresh
snapshot; SIGINT/SIGTERM stop.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import shutil
import signal
from pathlib import Path

from display_client.announce import (
    DEFAULT_PACK,
    Announcer,
    ChimeOnly,
    CommandPlayer,
    Renderer,
    VoicePack,
)
from display_client.connection import ClientConfig, DisplayClient
from display_client.led import PROTOCOLS, sign_for
from display_client.led.driver import LedDriver
from display_client.led.transport import SerialLink

TOKEN_ENV = "HALL_DISPLAY_TOKEN"


def _address(value: str) -> tuple[str, int]:
    code, sep, address = value.partition("=")
    if not sep or not code or not address.isdigit():
        raise argparse.ArgumentTypeError("expected WINDOW=ADDRESS, e.g. 06=6")
    return code, int(address)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m display_client", description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="the hall server, e.g. http://192.0.2.10:8080")
    ap.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"device token (default ${TOKEN_ENV})")
    ap.add_argument("--zones", default="", help="comma-separated zone codes (default: all the token may see)")
    ap.add_argument("--no-gap-check", dest="gap_check", action="store_const", const=False, default=None,
                    help="do not treat seq gaps as lost events (a zone-restricted token without --zones)")
    led = ap.add_argument_group("LED strips")
    led.add_argument("--led", action="append", default=[], metavar="URL",
                     help="a bus: /dev/ttyUSB0, socket://HOST:PORT (repeatable)")
    led.add_argument("--protocol", action="append", default=[], choices=sorted(PROTOCOLS),
                     help="the protocol of each --led (one for all, or one per --led)")
    led.add_argument("--baud", type=int, default=9600)
    led.add_argument("--address", action="append", default=[], type=_address, metavar="WINDOW=N",
                     help="a window's LED address when it is not its numeric code (repeatable)")
    led.add_argument("--led-refresh", type=float, default=300.0, metavar="SECONDS",
                     help="re-send every strip this often (0: only after a reconnect)")
    audio = ap.add_argument_group("announcements")
    audio.add_argument("--voice-pack", type=Path, default=DEFAULT_PACK, metavar="DIR")
    audio.add_argument("--chime-only", action="store_true", help="a chime instead of the voice")
    audio.add_argument("--no-audio", action="store_true")
    audio.add_argument("--player", default="aplay -q -", help="command that plays a WAV from stdin")
    audio.add_argument("--repeat", type=int, default=2, help="times each call is spoken")
    audio.add_argument("--pause", type=float, default=0.8, help="seconds between repeats")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return ap


Built = tuple[DisplayClient, list[LedDriver], Announcer | None]


def build(args: argparse.Namespace, ap: argparse.ArgumentParser) -> Built:
    if not args.token:
        ap.error(f"give --token or set {TOKEN_ENV}")
    protocols = args.protocol or ["stx"]
    if len(protocols) not in (1, len(args.led)):
        ap.error("give one --protocol, or one per --led")
    try:
        drivers = [LedDriver(SerialLink(url, baudrate=args.baud),
                             sign_for(protocols[i] if len(protocols) > 1 else protocols[0]),
                             addresses=dict(args.address), refresh_s=args.led_refresh or None)
                   for i, url in enumerate(args.led)]
        announcer = None
        if not args.no_audio:
            argv = shlex.split(args.player)
            if not argv or shutil.which(argv[0]) is None:
                ap.error(f"player {args.player!r} not found (Debian: alsa-utils for aplay), or use --no-audio")
            renderer: Renderer = ChimeOnly() if args.chime_only else VoicePack(args.voice_pack)
            announcer = Announcer(renderer, CommandPlayer(argv), repeat=args.repeat, pause_s=args.pause)
        zones = tuple(z for z in args.zones.split(",") if z)
        config = ClientConfig(server=args.server, token=args.token, zones=zones, gap_check=args.gap_check)
        return DisplayClient(config, announcer=announcer, leds=drivers), drivers, announcer
    except ValueError as e:  # a bad address, URL, repeat count or voice pack
        ap.error(str(e))


async def serve(client: DisplayClient, drivers: list[LedDriver], announcer: Announcer | None) -> None:
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(client.run(), name="stream")]
    tasks += [asyncio.create_task(d.run(), name=f"led {d.link.url}") for d in drivers]
    if announcer is not None:
        tasks.append(asyncio.create_task(announcer.run(), name="announcer"))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGHUP, client.request_resync)
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for t in [waiter, *tasks]:
        t.cancel()
    await asyncio.gather(waiter, *tasks, return_exceptions=True)
    for t in done:
        if t is not waiter and not t.cancelled() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client, drivers, announcer = build(args, ap)
    asyncio.run(serve(client, drivers, announcer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
