"""The one error type of the `images` package."""


class ImageError(ValueError):
    """A user-facing problem with an image, a size spec, a file or a URL list.

    The message is one line that names the bad value and says what is accepted,
    so a command line can print it as it is and exit with code 2.
    """
