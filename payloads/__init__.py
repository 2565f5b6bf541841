"""What is sent: tokenizer adapter, exact-length prompts, datasets, conversations, chat bodies.

Import from the modules (`payloads.prompts`, `payloads.datasets`, ...); this file stays empty so that
importing one light module does not load the tokenizer stack.
"""
