"""Helpers endpoint code may import: an exception whose HTTP status reaches the caller."""


class DkuCustomApiException(Exception):
    """Raise from endpoint code to answer with `http_status_code` and `message` instead of a 500."""

    def __init__(self, message, http_status_code=500):
        super().__init__(message)
        self.message = message
        self.http_status_code = http_status_code
