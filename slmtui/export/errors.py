"""The one error type of the export steps.

Every failure a person can fix (a model family we do not write, a missing tokenizer file, an
adapter llama.cpp cannot apply) surfaces as ConvertError with a message that says what is wrong
and what to do, so the UI can show it as it is.
"""

from __future__ import annotations


class ConvertError(RuntimeError):
    """A model, tokenizer or adapter cannot be written as GGUF; the message says why."""
