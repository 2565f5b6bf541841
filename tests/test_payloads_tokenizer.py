"""Tokenizer adapter: shipped Qwen3 tokenizer, one-line load errors, token counts, chat-template overhead."""

import shutil

import pytest

from payloads.tokenizer import (
    TokenizerError,
    chat_template_overhead,
    content_tokens,
    count_tokens,
    load_tokenizer,
    shipped_tokenizer_dir,
)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def test_default_is_the_shipped_qwen3_tokenizer_and_is_cached(tok):
    assert (shipped_tokenizer_dir() / "tokenizer.json").is_file()
    assert tok.convert_tokens_to_ids("<|im_start|>") == 151644
    assert load_tokenizer() is tok
    assert load_tokenizer(str(shipped_tokenizer_dir())) is tok


def test_hub_name_offline_gives_one_line_error_naming_it(monkeypatch, capfd):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TokenizerError) as info:
        load_tokenizer("Qwen/Qwen3-8B-not-cached")
    message = str(info.value)
    assert message.startswith("--tokenizer Qwen/Qwen3-8B-not-cached: cannot load")
    assert "local folder with tokenizer.json" in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__context__ is None  # no chained traceback
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_missing_folder_is_named(tmp_path):
    missing = tmp_path / "no-such-tokenizer"
    with pytest.raises(TokenizerError, match=f"^--tokenizer {missing}: no such folder; pass a local folder"):
        load_tokenizer(str(missing))


def test_folder_without_tokenizer_files_gives_one_line_error(tmp_path):
    with pytest.raises(TokenizerError) as info:
        load_tokenizer(str(tmp_path))
    assert str(info.value).startswith(f"--tokenizer {tmp_path}: cannot load (not a tokenizer folder")
    assert "\n" not in str(info.value)


def test_count_tokens_matches_the_tokenizer_without_special_tokens(tok):
    text = "Hello world, it's 12345 tokens.\n\n  def foo():"
    assert count_tokens(tok, text) == len(tok(text, add_special_tokens=False)["input_ids"])
    assert count_tokens(tok, "") == 0


def test_template_overhead_is_apply_chat_template_minus_content(tok):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"]
    content = count_tokens(tok, "Be brief.") + count_tokens(tok, "What is 2+2?")
    assert content_tokens(tok, messages) == content
    assert chat_template_overhead(tok, messages) == len(rendered) - content
    # Qwen3: <|im_start|>system\n ... <|im_end|>\n twice, then <|im_start|>assistant\n
    assert chat_template_overhead(tok, messages) == 13


def test_content_tokens_count_text_parts_and_skip_images(tok):
    parts = [{"type": "text", "text": "Describe it."}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert content_tokens(tok, [{"role": "user", "content": parts}]) == count_tokens(tok, "Describe it.")


def test_tokenizer_without_chat_template_has_no_overhead(tmp_path):
    shutil.copy(shipped_tokenizer_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    bare = load_tokenizer(str(tmp_path))
    assert not getattr(bare, "chat_template", None)
    assert chat_template_overhead(bare, [{"role": "user", "content": "hi"}]) is None
    assert count_tokens(bare, "hello world") == 2
