"""Load test an OpenAI-compatible chat endpoint: ``locust -f locustfile.py`` (see README).

Pick classes on the command line (``locust -f locustfile.py TextChatUser Base64ImageChatUser``)
or mix them all by their ``weight``; the web UI's ``--class-picker`` works too. ``BatchUser`` (the
Batch API workload) runs only when asked for by name, ``--config-users`` or the class picker.
"""

import plugin.hooks  # noqa: F401 - registers the LLM options, stats and report
from users.batch import BatchUser
from users.images import Base64ImageChatUser, ImageUrlChatUser
from users.multiturn import MultiTurnChatUser
from users.text import TextChatUser

__all__ = ["TextChatUser", "ImageUrlChatUser", "Base64ImageChatUser", "MultiTurnChatUser", "BatchUser"]
