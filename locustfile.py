"""Load test an OpenAI-compatible chat endpoint: ``locust -f locustfile.py`` (see README)."""

import plugin.hooks  # noqa: F401 - registers the LLM options, stats and report
from users.text import TextChatUser

__all__ = ["TextChatUser"]
