"""Errors of the payload factory: each carries ONE line naming the bad value and what is accepted."""


class PayloadError(ValueError):
    """A bad argument to the payload factory (length, ratio, prefix...)."""


class TokenizerError(PayloadError):
    """A tokenizer that cannot be loaded."""


class DatasetError(PayloadError):
    """A dataset file that cannot be read, or a bad line in it ("FILE:LINE: reason")."""
