"""Fuzzing the dashboard's forms and parameters: forged tokens, odd ids, junk query strings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.bot.test_dashboard_auth import LARS, Dashboard, dashboard
from tests.fuzz.oracles import ErrorWatch, assert_unchanged, snapshot
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.strategies import texts

ANSWERED = {200, 303, 400, 403, 404, 405, 413}
"""Anything but a server error."""


@pytest.fixture
async def board(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Dashboard, ErrorWatch, str]]:
    async with dashboard(db_url) as d:
        await d.add_account(LARS)
        await d.log_in(LARS)
        yield d, ErrorWatch(caplog), await d.csrf()


round_ids = st.one_of(st.sampled_from(["1", "0", "007", "9" * 30]), st.integers(2, 10**6).map(str))
params = st.dictionaries(
    st.sampled_from(["sent", "unit", "week", "period", "kind", "next", "q", "lang"]),
    texts.filter(lambda t: "\x00" not in t),
    max_size=3,
)
requests = st.one_of(
    st.tuples(
        st.just("GET"),
        st.sampled_from(["/dashboard/rounds/{}", "/dashboard/rounds/{}/remind"]),
        round_ids,
        params,
    ),
    st.tuples(
        st.just("GET"),
        st.sampled_from(
            ["/dashboard/", "/dashboard/digest", "/dashboard/map", "/dashboard/login"]
        ),
        st.just(""),
        params,
    ),
    st.tuples(st.just("GET"), st.just("/dashboard/rounds/{}/export.csv"), round_ids, params),
    st.tuples(st.just("POST"), st.just("/dashboard/rounds/{}/remind"), round_ids, params),
    st.tuples(st.just("POST"), st.just("/dashboard/login"), st.just(""), params),
)
"""Pages and forms with junk parameters; POSTs carry a forged token or none."""


@fuzz_settings()
@example(request=("GET", "/dashboard/rounds/{}/export.csv", "9" * 30, {}), token="own")
@example(request=("POST", "/dashboard/rounds/{}/remind", "99999999999", {}), token="own")
@example(request=("GET", "/dashboard/rounds/{}", "2147483648", {"sent": "x"}), token="own")
@given(request=requests, token=st.sampled_from(["none", "forged", "own"]))
async def test_the_dashboard_answers_junk_without_errors_or_changes(
    board: tuple[Dashboard, ErrorWatch, str],
    request: tuple[str, str, str, dict[str, str]],
    token: str,
) -> None:
    d, errors, nonce = board
    method, path, round_id, query = request
    url = path.format(round_id)
    before = await snapshot(d.services.store.engine)
    errors.start()
    if method == "GET":
        response = await d.client.get(url, params=query, allow_redirects=False)
    else:
        form: dict[str, Any] = dict(query)
        if token != "none":
            form["csrf_token"] = nonce if token == "own" and "remind" not in url else "forged"
        response = await d.client.post(url, data=form, allow_redirects=False)
    await response.read()
    assert response.status in ANSWERED, (request, response.status)
    errors.assert_quiet(request)
    after = await snapshot(d.services.store.engine)
    for seen in (before, after):
        del seen["audit_log"]  # who looked at what is recorded, by design
    assert_unchanged(before, after, request)
