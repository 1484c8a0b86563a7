"""The hub's rounds of direct writes: a broadcast to many screens is written a slice at a time,
letting the event loop serve other work between slices; events that arrive during a round
join it; and whatever mix of direct writes, refused writes and queued sends a screen goes
through, it receives every event once, in seq order."""
from __future__ import annotations

import asyncio
import random

import orjson

from kiosk_server.realtime.hub import EventHub, Subscriber, text_frame


def ev(seq: int, zone: str | None = "A") -> dict:
    e = {"seq": seq, "type": "ticket.called", "ticket": {"number": f"A{seq:03d}"}}
    if zone:
        e["zone"] = zone
    return e


def seqs_of(data: bytes) -> list[int]:
    """The seqs of the events in a run of server text frames (payloads under 126 bytes)."""
    out, at = [], 0
    while at < len(data):
        assert data[at] == 0x81
        n = data[at + 1]
        assert n < 126
        out.append(orjson.loads(data[at + 2:at + 2 + n])["seq"])
        at += 2 + n
    return out


class FakeWriter:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def __call__(self, data: bytes) -> bool:
        self.writes.append(data)
        return True


def test_a_big_broadcast_is_written_a_slice_at_a_time_and_other_work_runs_between_slices():
    async def main() -> None:
        hub = EventHub()
        hub.slice = 100
        subs = [hub.subscribe() for _ in range(1000)]
        for s in subs:
            s.direct = FakeWriter()
        written_when: list[int] = []  # screens written so far, seen by other callbacks between slices

        def other_work() -> None:
            written_when.append(sum(1 for s in subs if s.direct.writes))

        loop = asyncio.get_running_loop()
        hub.publish([ev(1)])
        for _ in range(15):
            loop.call_soon(other_work)
            await asyncio.sleep(0)
        assert all(s.direct.writes == [text_frame(orjson.dumps(ev(1)))] for s in subs)
        assert written_when[0] == 0  # the answers first
        steps = sorted(set(written_when))
        assert steps[:3] == [0, 100, 200] and steps[-1] == 1000  # one slice between two turns of other work
        assert hub.rounds == 1 and hub.slices == 10 and hub.direct_writes == 1000
    asyncio.run(main())


def test_events_arriving_during_a_round_join_it_and_the_screens_already_written_get_them_next():
    async def main() -> None:
        hub = EventHub()
        hub.slice = 2
        subs = [hub.subscribe() for _ in range(6)]
        for s in subs:
            s.direct = FakeWriter()
        hub.publish([ev(1)])
        for _ in range(3):
            await asyncio.sleep(0)
        early = [s for s in subs if s.direct.writes]  # written before 2 and 3 came
        assert len(early) in (2, 4)
        hub.publish([ev(2), ev(3)])
        for _ in range(10):
            await asyncio.sleep(0)
        for s in subs:
            got = [seqs_of(w) for w in s.direct.writes]
            assert got == ([[1], [2, 3]] if s in early else [[1, 2, 3]])  # the rest: all three in one write
        assert hub.rounds == 2
    asyncio.run(main())


def test_every_screen_gets_every_event_once_in_order_whatever_the_path():
    """Screens whose writer sometimes refuses (a full buffer), whose sender is sometimes busy,
    some with zone filters; events published in bursts while rounds are under way. What a
    screen's socket receives (direct writes and its sender's sends, in the order they happen)
    is exactly its events, in seq order."""
    rng = random.Random(4)

    async def main() -> None:
        hub = EventHub()
        hub.slice = 3
        received: dict[Subscriber, list[int]] = {}
        senders = []

        def make_writer(sub: Subscriber):
            def write(data: bytes) -> bool:
                if rng.random() < 0.3:
                    return False  # the socket's buffer is above its mark
                received[sub] += seqs_of(data)
                return True
            return write

        async def sender(sub: Subscriber) -> None:  # as display._send does
            while True:
                e = await sub.queue.get()
                sub.busy = True
                if rng.random() < 0.5:
                    await asyncio.sleep(0)  # a send that has to wait for the socket
                if e["seq"] > sub.last:
                    received[sub].append(e["seq"])
                    sub.last = e["seq"]
                sub.busy = False

        subs = []
        for i in range(12):
            sub = hub.subscribe(zones=["B"] if i % 4 == 0 else None)
            sub.direct = make_writer(sub)
            received[sub] = []
            subs.append(sub)
            senders.append(asyncio.create_task(sender(sub)))
        seq = 0
        published = []
        for _ in range(60):
            burst = []
            for _ in range(rng.randint(1, 3)):
                seq += 1
                burst.append(ev(seq, zone=rng.choice(["A", "B", None])))
            published += burst
            hub.publish(burst)
            for _ in range(rng.randint(0, 4)):
                await asyncio.sleep(0)
        for _ in range(200):
            await asyncio.sleep(0)
        for t in senders:
            t.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        for sub in subs:
            expected = [e["seq"] for e in published if sub.wants(e)]
            assert received[sub] == expected
            assert sub.closed_reason is None
        assert hub.direct_writes > 0 and hub.rounds > 1
    asyncio.run(main())


def test_a_direct_write_never_overtakes_a_frame_queued_before_it():
    async def main() -> None:
        hub = EventHub()
        sub = hub.subscribe()
        order: list[int] = []
        refuse = [True]

        def write(data: bytes) -> bool:
            if refuse[0]:
                return False
            order.extend(seqs_of(data))
            return True

        sub.direct = write
        hub.publish([ev(1)])
        for _ in range(3):
            await asyncio.sleep(0)
        assert sub.queue.qsize() == 1  # refused: queued for the sender
        refuse[0] = False
        hub.publish([ev(2)])  # the socket would take it now, but 1 is still queued: 2 goes behind it
        for _ in range(3):
            await asyncio.sleep(0)
        assert order == [] and [sub.queue.get_nowait()["seq"] for _ in range(2)] == [1, 2]
        hub.publish([ev(3)])  # queue drained, sender idle: straight to the socket
        for _ in range(3):
            await asyncio.sleep(0)
        assert order == [3]
    asyncio.run(main())


def test_a_screen_that_joins_during_a_round_misses_nothing():
    async def main() -> None:
        hub = EventHub()
        hub.slice = 1
        first = [hub.subscribe() for _ in range(3)]
        for s in first:
            s.direct = FakeWriter()
        hub.publish([ev(1)])
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the round is under way
        late = hub.subscribe()  # catching up (its replay covers 1): fed by its queue until it has a writer
        late.last = 1
        hub.publish([ev(2)])
        assert late.queue.get_nowait()["seq"] == 2 and late.handed == 2
        late.direct = FakeWriter()
        hub.publish([ev(3)])
        for _ in range(12):
            await asyncio.sleep(0)
        assert [seqs_of(w) for w in late.direct.writes] == [[3]]
        assert all(sum((seqs_of(w) for w in s.direct.writes), []) == [1, 2, 3] for s in first)
    asyncio.run(main())


def lazy(seq: int) -> dict:
    return {"seq": seq, "type": "ticket.issued", "zone": "A", "ticket": {"number": f"A{seq:03d}"}, "waiting": {"A": seq}}


def test_issued_tickets_wait_for_the_next_call_and_go_in_its_write_in_seq_order():
    """A ticket issued moves only the waiting counts: it does not cost a round of writes of its
    own; the next call takes it along, in the same write, in seq order, without waiting."""
    async def main() -> None:
        hub = EventHub()
        hub.lazy_s = 10.0
        subs = [hub.subscribe() for _ in range(3)]
        for s in subs:
            s.direct = FakeWriter()
        console = hub.subscribe()  # fed by its queue: gets them at once, as before
        hub.publish([lazy(1)])
        hub.publish([lazy(2)])
        for _ in range(10):
            await asyncio.sleep(0)
        assert all(s.direct.writes == [] for s in subs) and hub.rounds == 0
        assert [console.queue.get_nowait()["seq"] for _ in range(2)] == [1, 2]
        hub.publish([ev(3)])
        for _ in range(5):
            await asyncio.sleep(0)
        assert all([seqs_of(w) for w in s.direct.writes] == [[1, 2, 3]] for s in subs)
        assert hub.rounds == 1
    asyncio.run(main())


def test_issued_tickets_alone_go_out_after_lazy_s_in_one_round_and_do_not_join_a_round_under_way():
    async def main() -> None:
        hub = EventHub()
        hub.lazy_s = 0.05
        hub.slice = 1
        subs = [hub.subscribe() for _ in range(4)]
        for s in subs:
            s.direct = FakeWriter()
        hub.publish([ev(1)])
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the round is under way: one screen written
        hub.publish([lazy(2)])  # does not join it: the screens it has not reached get 1 alone
        hub.publish([lazy(3)])
        for _ in range(10):
            await asyncio.sleep(0)
        assert all([seqs_of(w) for w in s.direct.writes] == [[1]] for s in subs) and hub.rounds == 1
        await asyncio.sleep(0.1)
        for _ in range(10):
            await asyncio.sleep(0)
        assert all([seqs_of(w) for w in s.direct.writes] == [[1], [2, 3]] for s in subs) and hub.rounds == 2
    asyncio.run(main())

