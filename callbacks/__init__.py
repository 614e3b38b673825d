"""LangChain callback handlers that observe, attribute and budget model calls."""

from ._handler import TokenomicsCallbackHandler

__all__ = ["TokenomicsCallbackHandler"]
