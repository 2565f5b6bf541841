"""Server error messages in failure reasons: one line, cut after a whole word."""

import orjson

from streaming.chunks import MESSAGE_LIMIT, error_message, shorten
from streaming.stream import http_error_reason

LONG = ("This model's maximum context length is 4096 tokens. However, you requested 4354 tokens "
        "(4098 in the messages, 256 in the completion). "
        "Please reduce the length of the messages or completion.")


def assert_cut_after_a_word(cut: str, whole: str, limit: int = MESSAGE_LIMIT) -> None:
    assert len(whole) > limit >= len(cut)
    assert cut.endswith("…") and whole.startswith(cut[:-1])
    assert whole[len(cut) - 1] == " "  # the next character of the message was a space: no word split


def test_a_long_server_message_is_cut_after_a_whole_word_with_an_ellipsis():
    cut = error_message({"message": LONG})
    assert_cut_after_a_word(cut, LONG)
    assert cut.endswith("Please reduce the length…")


def test_a_short_message_is_kept_whole():
    assert error_message({"message": "Non-base64 digit found"}) == "Non-base64 digit found"
    assert shorten("x" * MESSAGE_LIMIT, MESSAGE_LIMIT) == "x" * MESSAGE_LIMIT


def test_a_cut_that_falls_on_a_word_end_keeps_that_word():
    assert shorten("alpha beta gamma", 11) == "alpha beta…"


def test_one_word_longer_than_half_the_limit_is_cut_where_the_limit_falls():
    blob = "data:image/png;base64," + "A" * 300
    assert shorten(f"bad image {blob}", 40) == f"bad image {blob}"[:39] + "…"


def test_http_error_reason_cuts_a_json_message_at_a_word_boundary():
    reason = http_error_reason(400, "application/json", orjson.dumps({"error": {"message": LONG}}))
    assert_cut_after_a_word(reason.removeprefix("HTTP 400: "), LONG)


def test_http_error_reason_cuts_a_plain_text_body_at_a_word_boundary():
    text = "<html><head><title>502 Bad Gateway</title></head><body> " + "upstream went away " * 20
    reason = http_error_reason(502, "text/html", text.encode())
    assert_cut_after_a_word(reason.removeprefix("HTTP 502: "), text)
