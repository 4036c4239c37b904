"""Tests of the KIS simulator over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import signal
import socket
import subprocess
import sys
import time
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sim_fixture

from kis_fetch.sim import (
    RunningSim,
    domestic_bars,
    domestic_today,
    overseas_bars,
    us_today,
)
from kis_fetch.sim.quotes import DOMESTIC_DECIMALS, format_price, profile
from kis_fetch.sim.state import KST, SlidingWindowLimiter, TokenStore

# The `sim` and `sim_factory` fixtures, bound here so pytest finds them.
sim = sim_fixture.sim
sim_factory = sim_fixture.sim_factory
MASTER_DIR = sim_fixture.MASTER_DIR
SimFactory = sim_fixture.SimFactory

PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
MULTPRICE = "/uapi/domestic-stock/v1/quotations/intstock-multprice"
DOMESTIC_DAILY = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
OVERSEAS_PRICE = "/uapi/overseas-price/v1/quotations/price"
OVERSEAS_DAILY = "/uapi/overseas-price/v1/quotations/dailyprice"

THROTTLED_BODY = {
    "rt_cd": "1",
    "msg_cd": "EGW00201",
    "msg1": "초당 거래건수를 초과하였습니다.",
}
TOO_SOON_BODY = {
    "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
    "error_code": "EGW00133",
}

# Listed KOSPI and KOSDAQ codes from the July 2023 master files.
KNOWN_CODES = [
    "005930", "000660", "035420", "005380", "051910", "006400", "035720",
    "068270", "105560", "055550", "000270", "012330", "066570", "003550",
    "096770", "017670", "034730", "015760", "032830", "018260", "011200",
    "009150", "010130", "086790", "033780", "247540", "091990", "028300",
]  # fmt: skip


def token_for(client: httpx.Client, appkey: str = "KEY", secret: str = "SECRET") -> str:
    response = client.post(
        "/oauth2/tokenP",
        json={
            "grant_type": "client_credentials",
            "appkey": appkey,
            "appsecret": secret,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def data_headers(
    token: str, tr_id: str, appkey: str = "KEY", secret: str = "SECRET"
) -> dict[str, str]:
    return {
        "content-type": "application/json; charset=utf-8",
        "authorization": f"Bearer {token}",
        "appkey": appkey,
        "appsecret": secret,
        "tr_id": tr_id,
        "custtype": "P",
    }


def price_query(code: str) -> dict[str, str]:
    return {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}


@pytest.fixture
def client(sim: RunningSim) -> httpx.Client:
    with httpx.Client(base_url=sim.base_url, timeout=5) as http:
        yield http


@pytest.fixture
def token(client: httpx.Client) -> str:
    return token_for(client)


# Tokens


def test_token_fields_and_kst_expiry(client: httpx.Client) -> None:
    before = datetime.now(KST).replace(tzinfo=None, microsecond=0)
    response = client.post(
        "/oauth2/tokenP",
        json={"grant_type": "client_credentials", "appkey": "KEY", "appsecret": "S"},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert len(body["access_token"]) > 20
    expired = datetime.strptime(body["access_token_token_expired"], "%Y-%m-%d %H:%M:%S")
    assert before + timedelta(days=1) - timedelta(seconds=1) <= expired
    assert expired <= before + timedelta(days=1, seconds=2)


def test_token_second_issuance_within_minute(client: httpx.Client) -> None:
    token_for(client)
    response = client.post(
        "/oauth2/tokenP",
        json={
            "grant_type": "client_credentials",
            "appkey": "KEY",
            "appsecret": "SECRET",
        },
    )
    assert response.status_code == 403
    assert response.json() == TOO_SOON_BODY


def test_token_reissue_returns_same_token(
    sim: RunningSim, client: httpx.Client
) -> None:
    sim.configure(issuance_interval=0)
    first = token_for(client)
    second = token_for(client)
    stats = sim.stats()
    assert first == second
    assert stats["tokens_issued"] == {"KEY": 1}
    assert stats["tokens_reused"] == {"KEY": 1}


def test_token_after_window_is_new(sim: RunningSim, client: httpx.Client) -> None:
    sim.configure(issuance_interval=0, same_token_window=0)
    assert token_for(client) != token_for(client)


def test_token_refuse_next_issuance(sim: RunningSim, client: httpx.Client) -> None:
    sim.configure(refuse_next_issuance="KEY")
    body = {"grant_type": "client_credentials", "appkey": "KEY", "appsecret": "S"}
    refused = client.post("/oauth2/tokenP", json=body)
    accepted = client.post("/oauth2/tokenP", json=body)
    assert refused.status_code == 403
    assert refused.json() == TOO_SOON_BODY
    assert accepted.status_code == 200


def test_token_bad_secret_and_unknown_key(sim_factory: SimFactory) -> None:
    from kis_fetch.sim import KeySpec

    running = sim_factory(keys=(KeySpec("KEY", "SECRET", "real"),))
    with httpx.Client(base_url=running.base_url) as http:
        bad_secret = http.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": "KEY",
                "appsecret": "X",
            },
        )
        unknown = http.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": "NOPE",
                "appsecret": "X",
            },
        )
    assert bad_secret.status_code == 403
    assert bad_secret.json()["error_code"] == "EGW00105"
    assert "error_description" in bad_secret.json()
    assert unknown.status_code == 403
    assert unknown.json()["error_code"] == "EGW00103"


def test_token_open_mode_binds_first_secret(client: httpx.Client) -> None:
    token_for(client, "KEY", "FIRST")
    response = client.post(
        "/oauth2/tokenP",
        json={"grant_type": "client_credentials", "appkey": "KEY", "appsecret": "X"},
    )
    assert response.status_code == 403
    assert response.json()["error_code"] == "EGW00105"


def test_revoke_invalidates_token(sim: RunningSim, client: httpx.Client) -> None:
    token = token_for(client)
    revoked = client.post(
        "/oauth2/revokeP", json={"appkey": "KEY", "appsecret": "SECRET", "token": token}
    )
    after = client.get(
        PRICE,
        params=price_query("005930"),
        headers=data_headers(token, "FHKST01010100"),
    )
    assert revoked.status_code == 200
    assert revoked.json()["code"] == 200
    assert after.status_code == 500
    assert after.json()["msg_cd"] == "EGW00121"
    assert sim.stats()["revocations"] == 1


def test_token_store_unit_fake_clock() -> None:
    store = TokenStore()
    token, is_new = store.issue("K", now=1000.0, lifetime=100.0, same_token_window=50.0)
    assert is_new
    assert store.too_soon("K", 1059.9, interval=60.0)
    assert not store.too_soon("K", 1060.0, interval=60.0)
    again, is_new_again = store.issue("K", 1040.0, 100.0, 50.0)
    assert again is token
    assert not is_new_again
    later, is_new_later = store.issue("K", 1051.0, 100.0, 50.0)
    assert is_new_later
    assert later is not token
    assert token.is_valid(1099.0)
    assert not token.is_valid(1100.0)


# Gateway checks on data calls


def test_data_call_without_token(client: httpx.Client) -> None:
    headers = data_headers("", "FHKST01010100")
    del headers["authorization"]
    response = client.get(PRICE, params=price_query("005930"), headers=headers)
    assert response.status_code == 500
    assert response.json() == {
        "rt_cd": "1",
        "msg_cd": "EGW00121",
        "msg1": "유효하지 않은 token 입니다.",
    }


def test_data_call_bad_token(client: httpx.Client) -> None:
    token_for(client)
    response = client.get(
        PRICE,
        params=price_query("005930"),
        headers=data_headers("nope", "FHKST01010100"),
    )
    assert response.status_code == 500
    assert response.json()["msg_cd"] == "EGW00121"


def test_data_call_expired_token(sim: RunningSim, client: httpx.Client) -> None:
    token = token_for(client)
    expired = client.post("/_sim/expire-tokens")
    response = client.get(
        PRICE,
        params=price_query("005930"),
        headers=data_headers(token, "FHKST01010100"),
    )
    assert expired.json() == {"expired": 1}
    assert response.status_code == 500
    assert response.json() == {
        "rt_cd": "1",
        "msg_cd": "EGW00123",
        "msg1": "기간이 만료된 token 입니다.",
    }


def test_data_call_wrong_secret(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "FHKST01010100", secret="WRONG")
    response = client.get(PRICE, params=price_query("005930"), headers=headers)
    assert response.status_code == 500
    assert response.json()["msg_cd"] == "EGW00304"


def test_data_call_wrong_tr_id(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "HHDFS00000300")
    response = client.get(PRICE, params=price_query("005930"), headers=headers)
    assert response.status_code == 500
    assert response.json()["rt_cd"] == "1"
    assert response.json()["msg_cd"] == "OPSQ0002"


def test_data_call_response_headers(client: httpx.Client, token: str) -> None:
    response = client.get(
        PRICE,
        params=price_query("005930"),
        headers=data_headers(token, "FHKST01010100"),
    )
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["tr_id"] == "FHKST01010100"
    assert "tr_cont" in response.headers
    assert response.headers["gt_uid"]


def test_paper_key_on_real_server(sim_factory: SimFactory) -> None:
    from kis_fetch.sim import KeySpec

    running = sim_factory(keys=(KeySpec("PAPER", "S", "paper"),))
    with httpx.Client(base_url=running.base_url) as http:
        token = token_for(http, "PAPER", "S")
        headers = data_headers(token, "FHKST01010100", "PAPER", "S")
        response = http.get(PRICE, params=price_query("005930"), headers=headers)
    assert response.status_code == 500
    assert response.json() == {
        "rt_cd": "1",
        "msg_cd": "EGW02004",
        "msg1": "실전투자 도메인은 모의투자 앱키로 호출하실 수 없습니다.",
    }


# Rate limit


async def test_rate_limit_burst_of_25(sim: RunningSim) -> None:
    with httpx.Client(base_url=sim.base_url) as http:
        token = token_for(http)
    headers = data_headers(token, "FHKST01010100")
    limits = httpx.Limits(max_connections=25)
    async with httpx.AsyncClient(base_url=sim.base_url, limits=limits) as http:
        responses = await asyncio.gather(
            *(http.get(PRICE, params=price_query("005930"), headers=headers)
              for _ in range(25))
        )  # fmt: skip
    throttled = [r for r in responses if r.json().get("msg_cd") == "EGW00201"]
    accepted = [r for r in responses if r.status_code == 200]
    stats = sim.stats()
    assert len(throttled) == 5
    assert len(accepted) == 20
    assert all(r.status_code == 500 for r in throttled)
    assert all(r.json() == THROTTLED_BODY for r in throttled)
    assert stats["throttled"] == {"KEY": 5}
    assert stats["peak_accepted_per_second"] == {"KEY": 20}
    assert stats["peak_arrivals_per_second"] == {"KEY": 25}


def test_rate_limit_window_slides_over_time(sim_factory: SimFactory) -> None:
    running = sim_factory(rate_limit=2)
    with httpx.Client(base_url=running.base_url) as http:
        headers = data_headers(token_for(http), "FHKST01010100")

        def status() -> str:
            response = http.get(PRICE, params=price_query("005930"), headers=headers)
            return response.json()["msg_cd"]

        first = [status(), status(), status()]
        time.sleep(1.05)
        second = status()
    assert first == ["MCA00000", "MCA00000", "EGW00201"]
    assert second == "MCA00000"


def test_limiter_unit_fake_clock() -> None:
    limiter = SlidingWindowLimiter()
    assert limiter.try_acquire("K", 0.0, limit=2)
    assert limiter.try_acquire("K", 0.5, limit=2)
    assert not limiter.try_acquire("K", 0.9, limit=2)
    # The arrival at 0.0 leaves the window at exactly 1.0 s.
    assert limiter.try_acquire("K", 1.0, limit=2)
    assert not limiter.try_acquire("K", 1.4, limit=2)
    assert limiter.try_acquire("K", 1.5, limit=2)
    assert limiter.try_acquire("OTHER", 1.5, limit=2)
    assert limiter.peak == {"K": 2, "OTHER": 1}


def test_limiter_rejections_do_not_count() -> None:
    limiter = SlidingWindowLimiter()
    assert limiter.try_acquire("K", 0.0, limit=1)
    for step in range(1, 10):
        assert not limiter.try_acquire("K", step / 10, limit=1)
    assert limiter.try_acquire("K", 1.0, limit=1)


def test_limiter_unlimited() -> None:
    limiter = SlidingWindowLimiter()
    assert all(limiter.try_acquire("K", 0.0, limit=0) for _ in range(100))


# Quotes


def test_domestic_quote_known_code(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "FHKST01010100")
    first = client.get(PRICE, params=price_query("005930"), headers=headers).json()
    second = client.get(PRICE, params=price_query("005930"), headers=headers).json()
    output = first["output"]
    assert first["rt_cd"] == "0"
    assert first["msg_cd"] == "MCA00000"
    assert first["msg1"] == "정상처리 되었습니다."
    assert first == second
    assert output["stck_shrn_iscd"] == "005930"
    assert int(output["stck_prpr"]) > 0
    assert (
        int(output["stck_lwpr"]) <= int(output["stck_prpr"]) <= int(output["stck_hgpr"])
    )
    change = int(output["stck_prpr"]) - int(output["stck_sdpr"])
    assert output["prdy_vrss"] == str(change)
    expected_sign = {1: "2", 0: "3", -1: "5"}[(change > 0) - (change < 0)]
    assert output["prdy_vrss_sign"] == expected_sign
    assert all(isinstance(value, str) for value in output.values())


def test_domestic_quote_unknown_code(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "FHKST01010100")
    body = client.get(PRICE, params=price_query("999999"), headers=headers).json()
    assert body["rt_cd"] == "0"
    assert body["output"]["stck_prpr"] == "0"
    assert body["output"]["acml_vol"] == "0"
    assert body["output"]["prdy_vrss"] == "0"


def test_domestic_quote_etn_needs_q_prefix(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "FHKST01010100")
    with_q = client.get(PRICE, params=price_query("Q500055"), headers=headers).json()
    without_q = client.get(PRICE, params=price_query("500055"), headers=headers).json()
    assert with_q["output"]["stck_prpr"] != "0"
    assert without_q["output"]["stck_prpr"] == "0"


def test_domestic_quote_invalid_market(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "FHKST01010100")
    params = {"FID_COND_MRKT_DIV_CODE": "Z", "FID_INPUT_ISCD": "005930"}
    response = client.get(PRICE, params=params, headers=headers)
    assert response.status_code == 500
    assert response.json()["msg_cd"] == "OPSQ2001"


def test_overseas_quote_listed(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "HHDFS00000300")
    params = {"AUTH": "", "EXCD": "NAS", "SYMB": "AAPL"}
    output = client.get(OVERSEAS_PRICE, params=params, headers=headers).json()["output"]
    assert output["rsym"] == "DNASAAPL"
    assert output["zdiv"] == "4"
    assert float(output["last"]) > 0
    assert output["last"].split(".")[1].__len__() == 4
    assert float(output["diff"]) == pytest.approx(
        float(output["last"]) - float(output["base"]), abs=1e-6
    )


def test_overseas_quote_wrong_exchange(client: httpx.Client, token: str) -> None:
    headers = data_headers(token, "HHDFS00000300")
    params = {"AUTH": "", "EXCD": "NYS", "SYMB": "AAPL"}
    body = client.get(OVERSEAS_PRICE, params=params, headers=headers).json()
    assert body["rt_cd"] == "0"
    assert set(body["output"]) >= {"rsym", "last", "diff", "rate", "base", "tvol"}
    assert all(value == "" for value in body["output"].values())


def test_overseas_quote_plus_sign_varies(sim: RunningSim, client: httpx.Client) -> None:
    sim.configure(rate_limit=0)
    token = token_for(client)
    headers = data_headers(token, "HHDFS00000300")
    signed: list[str] = []
    unsigned: list[str] = []
    for symbol in sorted(sim.app.catalog.overseas["NAS"])[:200]:
        params = {"AUTH": "", "EXCD": "NAS", "SYMB": symbol}
        rate = client.get(OVERSEAS_PRICE, params=params, headers=headers).json()[
            "output"
        ]["rate"]
        if rate.startswith("+"):
            signed.append(rate)
        elif not rate.startswith("-") and float(rate) > 0:
            unsigned.append(rate)
    assert signed
    assert unsigned


def test_multprice_matches_single_quotes(sim: RunningSim, client: httpx.Client) -> None:
    sim.configure(rate_limit=0)
    token = token_for(client)
    codes = [*KNOWN_CODES, "999999", "Q999999"]
    params: dict[str, str] = {}
    for n, code in enumerate(codes, start=1):
        params[f"FID_COND_MRKT_DIV_CODE_{n}"] = "J"
        params[f"FID_INPUT_ISCD_{n}"] = code
    body = client.get(
        MULTPRICE, params=params, headers=data_headers(token, "FHKST11300006")
    ).json()
    rows = {row["inter_shrn_iscd"]: row for row in body["output"]}
    assert body["rt_cd"] == "0"
    assert len(codes) == 30
    assert sorted(rows) == sorted(KNOWN_CODES)
    assert rows["005930"]["inter_kor_isnm"] == "삼성전자"
    single_headers = data_headers(token, "FHKST01010100")
    for code in KNOWN_CODES:
        single = client.get(PRICE, params=price_query(code), headers=single_headers)
        quote = single.json()["output"]
        row = rows[code]
        assert row["inter2_prpr"] == quote["stck_prpr"], code
        assert row["inter2_prdy_vrss"] == quote["prdy_vrss"], code
        assert row["prdy_ctrt"] == quote["prdy_ctrt"], code
        assert row["acml_vol"] == quote["acml_vol"], code
        assert row["inter2_oprc"] == quote["stck_oprc"], code
        assert row["inter2_hgpr"] == quote["stck_hgpr"], code
        assert row["inter2_lwpr"] == quote["stck_lwpr"], code
        assert row["inter2_prdy_clpr"] == quote["stck_sdpr"], code


def test_multprice_rejected_on_paper(sim_factory: SimFactory) -> None:
    running = sim_factory(flavor="paper")
    with httpx.Client(base_url=running.base_url) as http:
        token = token_for(http)
        params = {"FID_COND_MRKT_DIV_CODE_1": "J", "FID_INPUT_ISCD_1": "005930"}
        response = http.get(
            MULTPRICE, params=params, headers=data_headers(token, "FHKST11300006")
        )
    assert response.status_code == 500
    assert response.json()["rt_cd"] == "1"
    assert response.json()["msg1"] == "모의투자 TR 이 아닙니다."


def test_paper_default_limit_is_one(sim_factory: SimFactory) -> None:
    running = sim_factory(flavor="paper")
    with httpx.Client(base_url=running.base_url) as http:
        headers = data_headers(token_for(http), "FHKST01010100")
        first = http.get(PRICE, params=price_query("005930"), headers=headers)
        second = http.get(PRICE, params=price_query("005930"), headers=headers)
    assert first.status_code == 200
    assert second.json() == THROTTLED_BODY


# History


def _pick_code(recent: bool) -> str:
    for code in KNOWN_CODES:
        listed = profile(code, DOMESTIC_DECIMALS).listed
        if (listed >= date(2015, 1, 1)) == recent:
            return code
    raise AssertionError("no code with the wanted listing date")


def _daily_params(code: str, start: str, end: str, period: str = "D") -> dict[str, str]:
    return {
        "FID_COND_MRKT_DIV_CODE": "J",
        "FID_INPUT_ISCD": code,
        "FID_INPUT_DATE_1": start,
        "FID_INPUT_DATE_2": end,
        "FID_PERIOD_DIV_CODE": period,
        "FID_ORG_ADJ_PRC": "0",
    }


def test_domestic_history_pages_to_listing(
    sim: RunningSim, client: httpx.Client
) -> None:
    sim.configure(rate_limit=0)
    token = token_for(client)
    headers = data_headers(token, "FHKST03010100")
    code = _pick_code(recent=True)
    today = domestic_today(time.time())
    listed = profile(code, DOMESTIC_DECIMALS).listed
    end = today.strftime("%Y%m%d")
    dates: list[str] = []
    pages = 0
    while True:
        params = _daily_params(code, "19900101", end)
        body = client.get(DOMESTIC_DAILY, params=params, headers=headers).json()
        rows = body["output2"]
        pages += 1
        assert len(rows) <= 100
        dates.extend(row["stck_bsop_date"] for row in rows)
        if len(rows) < 100:
            break
        oldest = datetime.strptime(rows[-1]["stck_bsop_date"], "%Y%m%d").date()
        end = (oldest - timedelta(days=1)).strftime("%Y%m%d")
    days = [datetime.strptime(text, "%Y%m%d").date() for text in dates]
    assert pages >= 2
    assert days == sorted(days, reverse=True)
    assert len(set(days)) == len(days)
    assert days[0] == today
    assert days[-1] == listed
    assert all(day.weekday() < 5 for day in days)
    assert body["output1"]["stck_shrn_iscd"] == code


def test_domestic_history_values_match_pure_function(
    client: httpx.Client, token: str
) -> None:
    code = _pick_code(recent=False)
    today = domestic_today(time.time())
    params = _daily_params(code, "20100101", "20231231")
    body = client.get(
        DOMESTIC_DAILY, params=params, headers=data_headers(token, "FHKST03010100")
    ).json()
    expected = domestic_bars(code, date(2010, 1, 1), date(2023, 12, 31), today)
    rows = body["output2"]
    assert len(rows) == 100
    assert rows[0]["stck_bsop_date"] == "20231229"
    for row, bar in zip(rows, expected, strict=True):
        assert row["stck_bsop_date"] == bar.day.strftime("%Y%m%d")
        assert row["stck_oprc"] == str(bar.open)
        assert row["stck_hgpr"] == str(bar.high)
        assert row["stck_lwpr"] == str(bar.low)
        assert row["stck_clpr"] == str(bar.close)
        assert row["acml_vol"] == str(bar.volume)
        assert row["prdy_vrss"] == str(bar.close - bar.prev_close)


def test_domestic_history_weekly_aggregates_daily() -> None:
    code = _pick_code(recent=False)
    today = date(2026, 12, 4)
    weeks = domestic_bars(code, date(2020, 1, 1), date(2020, 3, 31), today, "W")
    days = domestic_bars(code, date(2020, 1, 1), date(2020, 3, 31), today, "D")
    last_week = [bar for bar in days if bar.day >= date(2020, 3, 30)]
    first_week = [bar for bar in days if bar.day <= date(2020, 1, 3)]
    assert weeks[0].day == date(2020, 3, 31)
    assert weeks[0].open == last_week[-1].open
    assert weeks[0].close == last_week[0].close
    assert weeks[0].high == max(bar.high for bar in last_week)
    assert weeks[0].low == min(bar.low for bar in last_week)
    assert weeks[0].volume == sum(bar.volume for bar in last_week)
    assert weeks[-1].day == date(2020, 1, 3)
    assert weeks[-1].open == first_week[-1].open
    assert len(weeks) == 14


def test_domestic_history_monthly_dates_last_business_day() -> None:
    code = _pick_code(recent=False)
    months = domestic_bars(
        code, date(2019, 1, 1), date(2019, 12, 31), date(2026, 12, 4), "M"
    )
    assert len(months) == 12
    assert months[0].day == date(2019, 12, 31)
    assert months[-1].day == date(2019, 1, 31)
    assert months[5].day == date(2019, 7, 31)


def test_domestic_history_original_prices_differ_on_split() -> None:
    today = date(2026, 12, 4)
    for code in KNOWN_CODES:
        p = profile(code, DOMESTIC_DECIMALS)
        if p.split_date is None:
            continue
        before = p.split_date - timedelta(days=10)
        adjusted = domestic_bars(code, before, before + timedelta(days=3), today)
        original = domestic_bars(
            code, before, before + timedelta(days=3), today, adjusted=False
        )
        ratio = original[0].close / adjusted[0].close
        assert ratio == pytest.approx(p.split_factor, rel=0.02)
        return
    pytest.skip("no split among the sample codes")


def test_domestic_history_unknown_code(client: httpx.Client, token: str) -> None:
    params = _daily_params("999999", "20200101", "20201231")
    body = client.get(
        DOMESTIC_DAILY, params=params, headers=data_headers(token, "FHKST03010100")
    ).json()
    assert body["rt_cd"] == "0"
    assert body["output1"]["stck_prpr"] == "0"
    assert body["output2"] == []


def test_quote_equals_latest_daily_bar(client: httpx.Client, token: str) -> None:
    today = domestic_today(time.time())
    quote = client.get(
        PRICE,
        params=price_query("005930"),
        headers=data_headers(token, "FHKST01010100"),
    ).json()["output"]
    latest = domestic_bars("005930", today, today, today)[0]
    assert quote["stck_prpr"] == str(latest.close)
    assert quote["stck_oprc"] == str(latest.open)
    assert quote["stck_sdpr"] == str(latest.prev_close)


def test_overseas_history_paging(sim: RunningSim, client: httpx.Client) -> None:
    sim.configure(rate_limit=0)
    token = token_for(client)
    headers = data_headers(token, "HHDFS76240000")
    today = us_today(time.time())
    params = {"AUTH": "", "EXCD": "NAS", "SYMB": "AAPL", "GUBN": "0", "BYMD": "",
              "MODP": "1", "KEYB": ""}  # fmt: skip
    first = client.get(OVERSEAS_DAILY, params=params, headers=headers).json()
    oldest = datetime.strptime(first["output2"][-1]["xymd"], "%Y%m%d").date()
    params["BYMD"] = (oldest - timedelta(days=1)).strftime("%Y%m%d")
    second = client.get(OVERSEAS_DAILY, params=params, headers=headers).json()
    expected = overseas_bars("NAS", "AAPL", today, today, limit=200)
    rows = first["output2"] + second["output2"]
    assert first["output1"] == {"rsym": "DNASAAPL", "zdiv": "4", "nrec": "100"}
    assert len(rows) == len(expected)
    for row, bar in zip(rows, expected, strict=True):
        assert row["xymd"] == bar.day.strftime("%Y%m%d")
        assert row["clos"] == format_price(bar.close, 4)
        assert row["open"] == format_price(bar.open, 4)
        assert row["tvol"] == str(bar.volume)


def test_overseas_history_unknown_symbol(client: httpx.Client, token: str) -> None:
    params = {"AUTH": "", "EXCD": "AMS", "SYMB": "AAPL", "GUBN": "0", "BYMD": "",
              "MODP": "1"}  # fmt: skip
    body = client.get(
        OVERSEAS_DAILY, params=params, headers=data_headers(token, "HHDFS76240000")
    ).json()
    assert body["rt_cd"] == "0"
    assert body["output1"]["nrec"] == ""
    assert body["output2"] == []


# Faults


@pytest.mark.parametrize("kind", ["html502", "drop", "hang", "egw00002"])
def test_fault_kind(sim: RunningSim, client: httpx.Client, kind: str) -> None:
    token = token_for(client)
    sim.configure(fault_rate=1.0, fault_kinds=[kind], hang_seconds=0.5)
    headers = data_headers(token, "FHKST01010100")
    if kind == "html502":
        response = client.get(PRICE, params=price_query("005930"), headers=headers)
        assert response.status_code == 502
        assert response.headers["content-type"] == "text/html"
        assert response.text.startswith("<html>")
    elif kind == "drop":
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(PRICE, params=price_query("005930"), headers=headers)
    elif kind == "hang":
        with pytest.raises(httpx.ReadTimeout):
            client.get(
                PRICE, params=price_query("005930"), headers=headers, timeout=0.2
            )
    else:
        response = client.get(PRICE, params=price_query("005930"), headers=headers)
        assert response.status_code == 500
        assert response.json()["msg_cd"] == "EGW00002"
    assert sim.stats()["faults"] == {kind: 1}


def test_fault_rate_is_approximate(sim: RunningSim, client: httpx.Client) -> None:
    token = token_for(client)
    sim.configure(rate_limit=0, fault_rate=0.2, fault_kinds="egw00002", seed=7)
    headers = data_headers(token, "FHKST01010100")
    codes = [
        client.get(PRICE, params=price_query("005930"), headers=headers).json()[
            "msg_cd"
        ]
        for _ in range(300)
    ]
    failures = codes.count("EGW00002")
    assert 30 <= failures <= 90


# Master files and admin


def test_master_zip_download(client: httpx.Client) -> None:
    response = client.get("/common/master/kospi_code.mst.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    original = (MASTER_DIR / "krx" / "kospi_code.mst").read_bytes()
    assert response.status_code == 200
    assert archive.namelist() == ["kospi_code.mst"]
    assert archive.read("kospi_code.mst") == original


def test_master_zip_overseas_and_missing(client: httpx.Client) -> None:
    overseas = client.get("/common/master/nasmst.cod.zip")
    missing = client.get("/common/master/hksmst.cod.zip")
    assert overseas.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(overseas.content)).namelist() == ["NASMST.COD"]
    assert missing.status_code == 404


def test_admin_config_reset_and_stats(client: httpx.Client) -> None:
    changed = client.post("/_sim/config", json={"rate_limit": 5, "latency": "0-0.01"})
    invalid = client.post("/_sim/config", json={"fault_rate": 2})
    unknown = client.post("/_sim/config", json={"colour": "red"})
    token_for(client)
    before = client.get("/_sim/stats").json()
    client.post("/_sim/reset")
    after = client.get("/_sim/stats").json()
    assert changed.status_code == 200
    assert changed.json()["rate_limit"] == 5
    assert changed.json()["latency_max"] == 0.01
    assert invalid.status_code == 400
    assert "fault rate" in invalid.json()["error"]
    assert unknown.status_code == 400
    assert before["tokens_issued"] == {"KEY": 1}
    assert before["requests"]["/_sim/config"] == 3
    assert after["requests_total"] == 1
    assert after["tokens_issued"] == {}


def test_latency_delays_answer(sim: RunningSim, client: httpx.Client) -> None:
    token = token_for(client)
    sim.configure(latency="0.2")
    started = time.perf_counter()
    client.get(
        PRICE,
        params=price_query("005930"),
        headers=data_headers(token, "FHKST01010100"),
    )
    assert time.perf_counter() - started >= 0.2


def test_module_entry_point_prints_url() -> None:
    command = [sys.executable, "-m", "kis_fetch.sim", "--port", "0",
               "--master-dir", str(MASTER_DIR)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        response = httpx.get(line.removeprefix("listening on ") + "/_sim/stats")
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert code == 0


def test_arrival_jitter_delays_counting(sim: RunningSim, client: httpx.Client) -> None:
    token = token_for(client)
    sim.configure(rate_limit=0, arrival_jitter=0.1, seed=3)
    headers = data_headers(token, "FHKST01010100")
    started = time.perf_counter()
    for _ in range(10):
        client.get(PRICE, params=price_query("005930"), headers=headers)
    elapsed = time.perf_counter() - started
    # Ten uniform draws from [0, 0.1] s sum to 0.5 s on average.
    assert elapsed >= 0.2
    assert sim.stats()["accepted"] == {"KEY": 10}


def test_configure_rejects_invalid_value(sim: RunningSim) -> None:
    with pytest.raises(ValueError, match="fault rate"):
        sim.configure(fault_rate=1.5)
    assert sim.stats()["config"]["fault_rate"] == 0.0


def test_sim_command_help_lists_flags() -> None:
    import typer
    from typer.testing import CliRunner

    from kis_fetch.commands.sim import register

    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for flag in ("--master-dir", "--port", "--flavor", "--rate-limit", "--latency",
                 "--arrival-jitter", "--token-lifetime", "--same-token-window",
                 "--issuance-interval", "--fault-rate", "--fault-kinds",
                 "--hang-seconds", "--seed", "--key"):  # fmt: skip
        assert flag in result.output, flag


def test_sim_command_missing_master_dir(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "kis_fetch.sim", "--master-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "no master files" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_sim_port_out_of_range(port: str) -> None:
    command = [sys.executable, "-m", "kis_fetch.sim", "--port", port,
               "--master-dir", str(MASTER_DIR)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"kis-fetch sim: invalid --port {port}: use 1 to 65535, or 0 for a free port"
    ]


def test_sim_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "kis_fetch.sim", "--port", str(port),
                   "--master-dir", str(MASTER_DIR)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]
    assert "address already in use" in lines[0]
    assert "or --port 0 for a free port" in lines[0]


def test_sim_config_port_out_of_range() -> None:
    from kis_fetch.sim import SimConfig

    with pytest.raises(ValueError, match="invalid port 70000"):
        SimConfig(master_dir=MASTER_DIR, port=70000)


def test_start_in_thread_missing_master_dir(tmp_path: Path) -> None:
    from kis_fetch.sim import SimConfig, start_in_thread

    with pytest.raises(FileNotFoundError, match="no master files"):
        start_in_thread(SimConfig(master_dir=tmp_path))


@pytest.mark.parametrize(
    ("header", "value", "msg_cd"),
    [
        ("appkey", "", "EGW00102"),
        ("appsecret", "", "EGW00104"),
        ("custtype", "", "EGW00208"),
        ("custtype", "X", "EGW00208"),
        ("authorization", "Basic abc", "EGW00205"),
        ("authorization", "Bearer", "EGW00121"),
    ],
)
def test_data_call_header_errors(
    client: httpx.Client, token: str, header: str, value: str, msg_cd: str
) -> None:
    headers = data_headers(token, "FHKST01010100")
    headers[header] = value
    response = client.get(PRICE, params=price_query("005930"), headers=headers)
    assert response.status_code == 500
    assert response.json()["rt_cd"] == "1"
    assert response.json()["msg_cd"] == msg_cd


def test_real_key_on_paper_server(sim_factory: SimFactory) -> None:
    from kis_fetch.sim import KeySpec

    running = sim_factory(flavor="paper", keys=(KeySpec("REAL", "S", "real"),))
    with httpx.Client(base_url=running.base_url) as http:
        token = token_for(http, "REAL", "S")
        headers = data_headers(token, "FHKST01010100", "REAL", "S")
        response = http.get(PRICE, params=price_query("005930"), headers=headers)
    assert response.status_code == 500
    assert response.json()["msg_cd"] == "EGW02004"
    assert response.json()["msg1"].startswith("모의투자 도메인은")
