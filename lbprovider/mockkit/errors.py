"""The base API error of every mock cloud (moto's ``RESTError`` in spirit)."""

from __future__ import annotations


class MockApiError(Exception):
    """An error the mock answers with; each cloud's ``exceptions.py`` subclasses it,
    one class per error code, and its frontend renders it in the cloud's shape."""

    code: str = "InternalError"
    status: int = 400
    message: str = ""

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None):
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message = message or self.message or self.code
        super().__init__(f"{self.code}: {self.message}")
