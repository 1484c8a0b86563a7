#!/usr/bin/env python3
"""Time rendering a queue ticket to ESC/POS bytes (layout + render), per paper and QR mode.

    python bench/render_bench.py [--n 3000]

The target is a ticket with native QR in ≤ 2 ms. The raster rows show what a printer without
native QR, or a name outside the printer's font, costs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from printer_driver.layouts import ticket_slip
from printer_driver.profiles import PAPER_58MM, PAPER_80MM, profile_from_dict
from printer_driver.render import Renderer

TICKET = {
    "hall_name": "衡阳市政务服务中心", "number": "A123", "zone": {"code": "A", "name": "商事登记区"},
    "matter": {"code": "A01", "name": "公司设立登记（含分公司）"}, "waiting_ahead": 17, "estimated_wait_s": 1260,
    "issued_at": "2024-11-21T01:03:00+00:00", "timezone": "Asia/Shanghai",
    "status_url": "http://192.0.2.10:8080/t/Zm9vYmFyYmF6cXV4cXV1eA",
    "footer": [{"key": "footer.hotline", "hotline": "12345"}, {"key": "footer.missed", "n": 3}],
}


def bench(label: str, renderer: Renderer, data: dict, n: int) -> None:
    renderer.render(ticket_slip(data))  # warm up (fonts, caches)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = renderer.render(ticket_slip(data))
        times.append(time.perf_counter() - t0)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{label:<34} mean {statistics.fmean(times) * 1e3:6.3f} ms   p99 {p99 * 1e3:6.3f} ms   {len(out):6d} bytes")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    n = ap.parse_args().n
    bench("58 mm, native QR", Renderer(PAPER_58MM), TICKET, n)
    bench("80 mm, native QR", Renderer(PAPER_80MM), TICKET, n)
    bench("80 mm, raster QR", Renderer(profile_from_dict({"base": "80mm", "native_qr": False})), TICKET, max(n // 10, 1))
    rare = TICKET | {"matter": {"name": "王堃、李䶮的公司设立登记"}}
    bench("80 mm, native QR, a raster line", Renderer(PAPER_80MM), rare, max(n // 10, 1))


if __name__ == "__main__":
    main()
