"""The send-rate limiter, on a simulated clock."""

import asyncio
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from scheduler.ratelimit import WINDOW, Limits, RateLimiter


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.now += seconds


def slots(limits, recipients):
    limiter = RateLimiter(limits, clock=lambda: 0.0)
    return [limiter.reserve(r) for r in recipients]


def test_overall_rate_spaces_every_send():
    assert slots(Limits(30, None), ["a", "b", "c", "d"]) == [0, 1 / 30, 2 / 30, 3 / 30]


def test_one_chat_gets_one_message_a_second_while_others_go_on():
    got = slots(Limits(30, 1), ["a", "a", "b", "a"])
    assert got[0] == 0 and got[1] == 1.0 and 0 < got[2] < 0.1 and got[3] == 2.0


def test_sends_that_bunch_up_are_held_to_the_rate_per_window():
    time = FakeTime()
    limiter = RateLimiter(Limits(10, None), clock=time.clock, sleep=time.sleep)

    async def burst():
        sent = []
        for _ in range(30):  # all woken at once, as after an event-loop stall
            await limiter.admit()
            sent.append(time.now)
        return sent

    sent = asyncio.run(burst())
    for start in sent:
        assert sum(start <= t < start + WINDOW for t in sent) <= 10
    assert sent[10] == WINDOW and sent[20] == 2 * WINDOW  # no longer than needed


def test_pause_after_a_429_moves_everyone_back():
    time = FakeTime()
    limiter = RateLimiter(Limits(30, 1), clock=time.clock, sleep=time.sleep)
    limiter.pause(5)
    asyncio.run(limiter.acquire("a"))
    assert time.now == 5


@given(
    st.lists(st.sampled_from("abcde"), min_size=1, max_size=200),
    st.integers(1, 50),
    st.integers(1, 5),
)
def test_no_window_ever_exceeds_the_limits(recipients, overall, per):
    got = slots(Limits(overall, per), recipients)
    ordered = sorted(got)
    for i, start in enumerate(ordered):  # any one-second window holds at most `overall` sends
        assert sum(1 for t in ordered[i:] if t < start + 1 - 1e-9) <= overall
    for r in set(recipients):
        mine = sorted(t for t, who in zip(got, recipients, strict=True) if who == r)
        assert all(b - a >= 1 / per - 1e-9 for a, b in pairwise(mine))
