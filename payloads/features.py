"""Request features live in :mod:`conf.features` (plain values and their parsers: settings import them,
and settings import no payload code); this name stays for the code that builds bodies."""

from conf.features import (  # noqa: F401 - re-exported
    CHAT_ONLY,
    FORMATS,
    RESERVED,
    TOOL_CHOICES,
    RequestFeatures,
    build_features,
    load_json,
    parse_extra_body,
    parse_response_format,
    parse_stop,
    parse_tool_choice,
    parse_tools,
)
