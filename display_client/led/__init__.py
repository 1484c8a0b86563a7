"""Window LED strips: vendor protocols (encoders, one module each), the serial/TCP link, the
driver that keeps a bus in step with the hall state, and a bus simulator."""
from __future__ import annotations

from display_client.led.aa55 import Aa55Sign
from display_client.led.sign import DecodedFrame, LedSign, LedTexts
from display_client.led.stx import StxSign

PROTOCOLS: dict[str, type[LedSign]] = {StxSign.name: StxSign, Aa55Sign.name: Aa55Sign}


def sign_for(protocol: str, texts: LedTexts | None = None) -> LedSign:
    try:
        return PROTOCOLS[protocol](texts)
    except KeyError:
        raise ValueError(f"unknown LED protocol {protocol!r}; known: {', '.join(sorted(PROTOCOLS))}") from None


__all__ = ["PROTOCOLS", "Aa55Sign", "DecodedFrame", "LedSign", "LedTexts", "StxSign", "sign_for"]
