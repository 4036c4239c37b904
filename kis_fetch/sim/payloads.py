"""KIS response bodies built from the deterministic series in `quotes`.

Field names and string formats follow the KIS quotation TRs: every value is
a string, changes carry a "-" when negative, rates have two decimals.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from kis_fetch.sim import quotes
from kis_fetch.sim.catalog import Listing
from kis_fetch.sim.quotes import Bar, Profile, format_price

OK_ENVELOPE = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}

MARKET_NAMES = {"kospi": "KOSPI", "kosdaq": "KOSDAQ", "konex": "KONEX"}
MARKET_CLASS_NAMES = {"kospi": "코스피", "kosdaq": "코스닥", "konex": "코넥스"}

# Text fields of the inquire-price output; every other field is numeric and
# reads "0" for an unknown code.
_DOMESTIC_TEXT_FIELDS = frozenset(
    {
        "iscd_stat_cls_code",
        "marg_rate",
        "rprs_mrkt_kor_name",
        "bstp_kor_isnm",
        "temp_stop_yn",
        "oprc_rang_cont_yn",
        "clpr_rang_cont_yn",
        "crdt_able_yn",
        "grmn_rate_cls_code",
        "elw_pblc_yn",
        "stck_shrn_iscd",
        "w52_hgpr_date",
        "w52_lwpr_date",
        "stac_month",
        "invt_caful_yn",
        "mrkt_warn_cls_code",
        "short_over_yn",
        "sltr_yn",
        "mang_issu_cls_code",
        "vi_cls_code",
    }
)


def _rate(value: float) -> str:
    return f"{value:.2f}"


def _limits(prev_close: int) -> tuple[int, int]:
    """Return the KRX upper and lower price limits (±30 % of the base)."""
    upper = int(prev_close * 1.3)
    upper -= upper % quotes.krx_tick(upper)
    lower = int(prev_close * 0.7 + 0.999999)
    tick = quotes.krx_tick(lower)
    lower += (-lower) % tick
    return upper, lower


def _w52(p: Profile, bar: Bar, today: date) -> tuple[int, str, int, str]:
    """Return synthetic 52-week extremes near the current bar, with dates.

    The values are drawn from the symbol hash rather than scanned from a year
    of bars, which keeps a quote cheap. They bracket the day's range.
    """
    high = quotes.round_price(bar.high * (1 + 0.3 * quotes._unit(p.key, "w52h")), 0)
    low = quotes.round_price(bar.low * (1 - 0.3 * quotes._unit(p.key, "w52l")), 0)
    high_day = today - timedelta(days=int(360 * quotes._unit(p.key, "w52hd")))
    low_day = today - timedelta(days=int(360 * quotes._unit(p.key, "w52ld")))
    return high, high_day.strftime("%Y%m%d"), low, low_day.strftime("%Y%m%d")


@lru_cache(maxsize=65536)
def domestic_quote(listing: Listing, today: date) -> dict[str, str]:
    """Return the inquire-price `output` object of a listed code.

    The result is cached and shared, so callers must not modify it.
    """
    p = quotes.profile(listing.code, quotes.DOMESTIC_DECIMALS)
    bar = quotes.current_bar(p, today)
    previous = quotes.previous_bar(p, today)
    upper, lower = _limits(bar.prev_close)
    w52_high, w52_high_day, w52_low, w52_low_day = _w52(p, bar, today)
    eps = int(bar.close / p.per)
    bps = int(bar.close / p.pbr)
    market_cap = bar.close * p.shares // 100_000_000
    volume_rate = bar.volume / previous.volume * 100 if previous.volume else 0.0
    return {
        "iscd_stat_cls_code": "55",
        "marg_rate": "20.00",
        "rprs_mrkt_kor_name": MARKET_NAMES.get(listing.market, ""),
        "bstp_kor_isnm": "",
        "temp_stop_yn": "N",
        "oprc_rang_cont_yn": "N",
        "clpr_rang_cont_yn": "N",
        "crdt_able_yn": "Y",
        "grmn_rate_cls_code": "40",
        "elw_pblc_yn": "N",
        "stck_prpr": str(bar.close),
        "prdy_vrss": str(bar.change),
        "prdy_vrss_sign": quotes.sign_code(bar.change),
        "prdy_ctrt": _rate(bar.change_rate),
        "acml_tr_pbmn": str(bar.value),
        "acml_vol": str(bar.volume),
        "prdy_vrss_vol_rate": _rate(volume_rate),
        "stck_oprc": str(bar.open),
        "stck_hgpr": str(bar.high),
        "stck_lwpr": str(bar.low),
        "stck_mxpr": str(upper),
        "stck_llam": str(lower),
        "stck_sdpr": str(bar.prev_close),
        "wghn_avrg_stck_prc": str(bar.value // max(bar.volume, 1)),
        "hts_frgn_ehrt": _rate(60 * quotes._unit(p.key, "foreign")),
        "frgn_ntby_qty": "0",
        "pgtr_ntby_qty": "0",
        "dmrs_val": str(upper),
        "dmsp_val": str(lower),
        "cpfn": str(p.shares * 5000 // 100_000_000),
        "rstc_wdth_prc": str(upper - bar.prev_close),
        "stck_fcam": "5000",
        "stck_sspr": str(int(bar.prev_close * 0.7)),
        "aspr_unit": str(quotes.krx_tick(bar.close)),
        "hts_deal_qty_unit_val": "1",
        "lstn_stcn": str(p.shares),
        "hts_avls": str(market_cap),
        "per": _rate(p.per),
        "pbr": _rate(p.pbr),
        "stac_month": "12",
        "vol_tnrt": _rate(bar.volume / p.shares * 100),
        "eps": _rate(eps),
        "bps": _rate(bps),
        "d250_hgpr": str(w52_high),
        "d250_hgpr_date": w52_high_day,
        "d250_lwpr": str(w52_low),
        "d250_lwpr_date": w52_low_day,
        "w52_hgpr": str(w52_high),
        "w52_hgpr_date": w52_high_day,
        "w52_lwpr": str(w52_low),
        "w52_lwpr_date": w52_low_day,
        "whol_loan_rmnd_rate": "0.00",
        "ssts_yn": "Y",
        "stck_shrn_iscd": listing.code,
        "fcam_cnnm": "5,000",
        "cpfn_cnnm": f"{p.shares * 5000 // 100_000_000:,} 억",
        "frgn_hldn_qty": str(int(p.shares * 0.3)),
        "vi_cls_code": "N",
        "ovtm_vi_cls_code": "N",
        "last_ssts_cntg_qty": "0",
        "invt_caful_yn": "N",
        "mrkt_warn_cls_code": "00",
        "short_over_yn": "N",
        "sltr_yn": "N",
        "mang_issu_cls_code": "N",
    }


def _blank_domestic_quote() -> dict[str, str]:
    template = domestic_quote(Listing("000000", "", "kospi", "stock"), date(2024, 1, 2))
    return {name: ("" if name in _DOMESTIC_TEXT_FIELDS else "0") for name in template}


BLANK_DOMESTIC_QUOTE = _blank_domestic_quote()


def multprice_row(listing: Listing, today: date) -> dict[str, str]:
    """Return one intstock-multprice `output` row; values match inquire-price."""
    quote = domestic_quote(listing, today)
    tick = int(quote["aspr_unit"])
    price = int(quote["stck_prpr"])
    return {
        "kospi_kosdaq_cls_name": MARKET_CLASS_NAMES.get(listing.market, ""),
        "mrkt_trtm_cls_name": "",
        "hour_cls_code": "0",
        "inter_shrn_iscd": listing.code,
        "inter_kor_isnm": listing.name,
        "inter2_prpr": quote["stck_prpr"],
        "inter2_prdy_vrss": quote["prdy_vrss"],
        "prdy_vrss_sign": quote["prdy_vrss_sign"],
        "prdy_ctrt": quote["prdy_ctrt"],
        "acml_vol": quote["acml_vol"],
        "inter2_oprc": quote["stck_oprc"],
        "inter2_hgpr": quote["stck_hgpr"],
        "inter2_lwpr": quote["stck_lwpr"],
        "inter2_llam": quote["stck_llam"],
        "inter2_mxpr": quote["stck_mxpr"],
        "inter2_askp": str(price + tick),
        "inter2_bidp": str(price),
        "seln_rsqn": "0",
        "shnu_rsqn": "0",
        "total_askp_rsqn": "0",
        "total_bidp_rsqn": "0",
        "acml_tr_pbmn": quote["acml_tr_pbmn"],
        "inter2_prdy_clpr": quote["stck_sdpr"],
        "oprc_vrss_hgpr_rate": _rate(
            (int(quote["stck_hgpr"]) - int(quote["stck_oprc"]))
            / max(int(quote["stck_oprc"]), 1)
            * 100
        ),
        "intr_antc_cntg_vrss": "0",
        "intr_antc_cntg_vrss_sign": "3",
        "intr_antc_cntg_prdy_ctrt": "0.00",
        "intr_antc_vol": "0",
        "inter2_sdpr": quote["stck_sdpr"],
    }


def domestic_bar_row(bar: Bar) -> dict[str, str]:
    """Return one inquire-daily-itemchartprice `output2` row."""
    split = bar.split_ratio != 1
    return {
        "stck_bsop_date": bar.day.strftime("%Y%m%d"),
        "stck_clpr": str(bar.close),
        "stck_oprc": str(bar.open),
        "stck_hgpr": str(bar.high),
        "stck_lwpr": str(bar.low),
        "acml_vol": str(bar.volume),
        "acml_tr_pbmn": str(bar.value),
        "flng_cls_code": "00",
        "prtt_rate": f"{bar.split_ratio:.2f}" if split else "0.00",
        "mod_yn": "N",
        "prdy_vrss_sign": quotes.sign_code(bar.change),
        "prdy_vrss": str(bar.change),
        "revl_issu_reas": "01" if split else "",
    }


def domestic_history_snapshot(listing: Listing | None, today: date) -> dict[str, str]:
    """Return the inquire-daily-itemchartprice `output1` snapshot."""
    if listing is None:
        quote = BLANK_DOMESTIC_QUOTE
        name = ""
        previous: Bar | None = None
    else:
        quote = domestic_quote(listing, today)
        name = listing.name
        p = quotes.profile(listing.code, quotes.DOMESTIC_DECIMALS)
        previous = quotes.previous_bar(p, today)

    def prior(value: int) -> str:
        return "0" if previous is None else str(value)

    return {
        "prdy_vrss": quote["prdy_vrss"],
        "prdy_vrss_sign": quote["prdy_vrss_sign"],
        "prdy_ctrt": quote["prdy_ctrt"],
        "stck_prdy_clpr": quote["stck_sdpr"],
        "acml_vol": quote["acml_vol"],
        "acml_tr_pbmn": quote["acml_tr_pbmn"],
        "hts_kor_isnm": name,
        "stck_prpr": quote["stck_prpr"],
        "stck_shrn_iscd": quote["stck_shrn_iscd"],
        "prdy_vol": prior(previous.volume if previous else 0),
        "stck_mxpr": quote["stck_mxpr"],
        "stck_llam": quote["stck_llam"],
        "stck_oprc": quote["stck_oprc"],
        "stck_hgpr": quote["stck_hgpr"],
        "stck_lwpr": quote["stck_lwpr"],
        "stck_prdy_oprc": prior(previous.open if previous else 0),
        "stck_prdy_hgpr": prior(previous.high if previous else 0),
        "stck_prdy_lwpr": prior(previous.low if previous else 0),
        "askp": "0"
        if listing is None
        else str(int(quote["stck_prpr"]) + int(quote["aspr_unit"])),
        "bidp": quote["stck_prpr"],
        "prdy_vrss_vol": prior(
            int(quote["acml_vol"]) - previous.volume if previous else 0
        ),
        "vol_tnrt": quote["vol_tnrt"],
        "stck_fcam": quote["stck_fcam"],
        "lstn_stcn": quote["lstn_stcn"],
        "cpfn": quote["cpfn"],
        "hts_avls": quote["hts_avls"],
        "per": quote["per"],
        "eps": quote["eps"],
        "pbr": quote["pbr"],
        "itewhol_loan_rmnd_ratem": quote["whol_loan_rmnd_rate"],
    }


def _signed(text: str, plus: bool) -> str:
    """Prefix "+" on a positive value for symbols that KIS sends that way."""
    if plus and text and not text.startswith("-") and text.strip("0.") != "":
        return "+" + text
    return text


OVERSEAS_QUOTE_FIELDS = (
    "rsym",
    "zdiv",
    "base",
    "pvol",
    "last",
    "sign",
    "diff",
    "rate",
    "tvol",
    "tamt",
    "ordy",
)
BLANK_OVERSEAS_QUOTE = dict.fromkeys(OVERSEAS_QUOTE_FIELDS, "")


@lru_cache(maxsize=65536)
def overseas_quote(exchange: str, symbol: str, today: date) -> dict[str, str]:
    """Return the overseas price `output` object of a listed symbol.

    The result is cached and shared, so callers must not modify it.
    """
    p = quotes.profile(f"{exchange}:{symbol}", quotes.US_DECIMALS)
    bar = quotes.current_bar(p, today)
    previous = quotes.previous_bar(p, today)
    decimals = quotes.US_DECIMALS
    return {
        "rsym": f"D{exchange}{symbol}",
        "zdiv": str(decimals),
        "base": format_price(bar.prev_close, decimals),
        "pvol": str(previous.volume),
        "last": format_price(bar.close, decimals),
        "sign": quotes.sign_code(bar.change),
        "diff": _signed(format_price(bar.change, decimals), p.plus_sign),
        "rate": _signed(_rate(bar.change_rate), p.plus_sign),
        "tvol": str(bar.volume),
        "tamt": str(bar.value),
        "ordy": "매수가능",
    }


def overseas_bar_row(bar: Bar, plus: bool) -> dict[str, str]:
    """Return one overseas dailyprice `output2` row."""
    decimals = quotes.US_DECIMALS
    close = format_price(bar.close, decimals)
    return {
        "xymd": bar.day.strftime("%Y%m%d"),
        "clos": close,
        "sign": quotes.sign_code(bar.change),
        "diff": _signed(format_price(bar.change, decimals), plus),
        "rate": _signed(_rate(bar.change_rate), plus),
        "open": format_price(bar.open, decimals),
        "high": format_price(bar.high, decimals),
        "low": format_price(bar.low, decimals),
        "tvol": str(bar.volume),
        "tamt": str(bar.value),
        "pbid": close,
        "vbid": "100",
        "pask": format_price(bar.close + 100, decimals),
        "vask": "100",
    }


def envelope(**outputs: Any) -> dict[str, Any]:
    """Return a success body with the given output fields."""
    return {**outputs, **OK_ENVELOPE}
