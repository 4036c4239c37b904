"""KIS error bodies the simulator sends, with their HTTP status.

Data calls fail with HTTP 500 and the `rt_cd`/`msg_cd`/`msg1` envelope. The
token endpoints fail with HTTP 403 and `error_code`/`error_description`
instead. Codes marked NOTE are best guesses where no live capture exists.
"""

from __future__ import annotations

from kis_fetch.sim.http import Response, json_response


def kis_error(msg_cd: str, msg1: str, rt_cd: str = "1", status: int = 500) -> Response:
    return json_response(status, {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1})


def token_error(error_code: str, description: str) -> Response:
    return json_response(
        403, {"error_description": description, "error_code": error_code}
    )


THROTTLED = ("EGW00201", "초당 거래건수를 초과하였습니다.")
INVALID_TOKEN = ("EGW00121", "유효하지 않은 token 입니다.")
EXPIRED_TOKEN = ("EGW00123", "기간이 만료된 token 입니다.")
NOT_BEARER = ("EGW00205", "credentials_type이 유효하지 않습니다.(Bearer)")
APPKEY_MISSING = ("EGW00102", "AppKey는 필수입니다.")
APPKEY_INVALID = ("EGW00103", "유효하지 않은 AppKey입니다.")
APPSECRET_MISSING = ("EGW00104", "AppSecret는 필수입니다.")
APPSECRET_INVALID = ("EGW00105", "유효하지 않은 AppSecret입니다.")
# NOTE: msg1 text of EGW00304 is a guess; the code itself is seen live when
# a data call carries a wrong appsecret.
CUSTOMER_KEY_INVALID = ("EGW00304", "유효하지 않은 고객식별키(appsecret) 입니다.")
CUSTTYPE_INVALID = ("EGW00208", "고객타입(custtype)이 유효하지 않습니다.")
PAPER_KEY_ON_REAL = (
    "EGW02004",
    "실전투자 도메인은 모의투자 앱키로 호출하실 수 없습니다.",
)
# NOTE: the paper-domain counterpart of EGW02004 is not captured anywhere;
# the simulator mirrors its wording under the same code.
REAL_KEY_ON_PAPER = (
    "EGW02004",
    "모의투자 도메인은 실전투자 앱키로 호출하실 수 없습니다.",
)
UNKNOWN_TR_ID = ("OPSQ0002", "없는 서비스 코드 입니다")
# NOTE: live captures show only the msg1 text of this error; EGW00206 ("no
# API permission" in the KIS gateway code list) is the simulator's choice.
NOT_PAPER_TR = ("EGW00206", "모의투자 TR 이 아닙니다.")
INVALID_MARKET = ("OPSQ2001", "INPUT INVALID_CHECK_MRKT_DIV_CODE")
# NOTE: msg1 wording for a malformed input field is a guess.
INVALID_FIELD = ("OPSQ2002", "INPUT_FIELD_SIZE_ERROR")
SERVER_ERROR = ("EGW00002", "서버 에러가 발생했습니다.")
SERVICE_NOT_FOUND = ("MCA00124", "해당 서비스를 찾을수 없습니다.")

TOKEN_TOO_SOON = ("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
INVALID_GRANT = ("EGW00101", "유효하지 않은 요청입니다.")
