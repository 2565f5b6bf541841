"""An OpenAI-compatible chat server whose timing is known: the load generator's reference target.

Run it with ``python -m emulator --port 0 --ttft-ms 120 --itl-ms 7`` (it prints one line,
``emulator listening on http://HOST:PORT``), or from Python with ``emulator.launch.start_emulator``.

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streamed as SSE or not),
``GET /v1/models``, ``GET /health``, ``GET /metrics`` (its load in vLLM's Prometheus names:
``emulator.metrics``). Every response carries ``x-request-id`` (the completion's id). The Batch API,
in memory (``emulator.batch``): ``POST /v1/files``, ``POST``/``GET /v1/batches``, ``GET`` and
``POST .../cancel`` of ``/v1/batches/{id}``, ``GET /v1/files/{id}/content``; each state's time, and
the shares of batches that fail or expire, are set by ``--batch-*`` (``emulator.batch_config``).

What it sends is real text: words that are one token each with the loaded tokenizer, so the text
re-tokenizes to exactly ``usage.completion_tokens``. ``usage.prompt_tokens`` is the chat template's
token count plus the vision tokens of each image (rule in ``emulator.vision``).

Timing truth (``emulator.timing``): the first content chunk goes out TTFT after the request arrived,
then one chunk per ITL (times ``--tokens-per-chunk``), against absolute deadlines; prefill and
concurrency terms make it behave like a continuous-batching server. ``--log PATH`` writes one JSONL
line per completion request with the planned ``ttft_ms`` / ``itl_ms`` and the served ``ttft_served_ms``.

Server variants (``--usage-mode``, ``--no-done``, ``--content-in-finish``) reproduce the stream shapes
of vLLM, ``transformers serve`` and llama.cpp (README, "Servers"); ``--close-after-stream`` closes the
connection after each streamed response despite its Keep-Alive header (llama-server), ``--context-len``
trims outputs to a context, and ``--ignore-images`` takes images and counts only the text (a text-only
model). ``--fault NAME=RATE`` injects seeded faults (``emulator.config.FAULTS``), each logged under its
name.

A reasoning model (``--reasoning-tokens N``): each answer starts with N reasoning tokens in
``reasoning_content`` deltas (``--reasoning-field reasoning`` for newer vLLM's name), counted in
``usage.completion_tokens_details.reasoning_tokens``. MindIE's shape (``--mindie``): ``usage`` in
every chunk, ``full_text`` when asked, and its own timings ``prefill_time`` / ``decode_time_arr``
(the planned TTFT and gaps, ms). Request features (``n``, ``stop``, ``seed``, tool calls, thinking
switches): ``emulator.features``.

Modules: config (options), validate (requests), features (their extra fields), tokens, vision,
timing, reply (what a request generates), script (what a stream sends), chunks (its bytes), mindie
(MindIE's shape), player (when it sends them), faults, log, metrics (/metrics), net, server
(routes), batch and batch_config (the Batch API), launch, probe.
"""
