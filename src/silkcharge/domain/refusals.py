"""Refusals that name their reason with a message code.

The English message says what to change, for logs, the CLI and API clients that read words.
`code` and `params` name the same reason for clients that say it in their own language: the
console's `why.<code>` strings (docs/console.md lists the codes). A refusal without a code is
shown by its words alone."""

from __future__ import annotations


class Refusal(ValueError):
    def __init__(self, message: str, code: str | None = None, **params: str | int) -> None:
        super().__init__(message)
        self.code = code
        self.params = params
