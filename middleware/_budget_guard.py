"""End a ``create_agent`` run with a final message when its budget runs out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage

from langgraph_tokenomics._errors import BudgetExceededError

__all__ = ["BudgetGuardMiddleware"]

DEFAULT_FINAL_MESSAGE = (
    "I stopped here: the next step would pass this agent's budget ({error})."
)


class BudgetGuardMiddleware(AgentMiddleware):
    """Turns an ``action="end"`` budget refusal into the agent's final answer.

    The refusal itself comes from `TokenomicsCallbackHandler`, before the
    provider is called; this middleware catches it around the model call and
    answers with a plain `AIMessage` (no tool calls), so the agent loop ends
    cleanly and the graph returns normally. Refusals of budgets whose action
    is ``"raise"`` or ``"interrupt"`` pass through unchanged.

    Args:
        final_message: The answer's text; ``{error}`` is replaced by the
            refusal's message.
    """

    def __init__(self, *, final_message: str = DEFAULT_FINAL_MESSAGE) -> None:
        super().__init__()
        self.final_message = final_message

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> ModelResponse | AIMessage:
        try:
            return handler(request)
        except BudgetExceededError as error:
            return self._final_answer(error)

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse | AIMessage:
        try:
            return await handler(request)
        except BudgetExceededError as error:
            return self._final_answer(error)

    def _final_answer(self, error: BudgetExceededError) -> AIMessage:
        if getattr(error.budget, "action", "raise") != "end":
            raise error
        text = self.final_message.format(error=error)
        return AIMessage(
            content=text,
            response_metadata={"tokenomics": {"budget_exceeded": True}},
        )
