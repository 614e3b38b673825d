"""The router's choices: policy order, downgrades, and the cache check's numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from langgraph_tokenomics import (
    Budget,
    ConfigurationError,
    ModelPrice,
    PriceBook,
    SoftLimitEvent,
)
from langgraph_tokenomics._routing import (
    Router,
    RoutingPolicy,
    RoutingRequest,
    RoutingRule,
    same_model,
)

from .fakes import ScriptedChatModel

# per million tokens: big reads its cache at a tenth of its input price
PRICES = PriceBook(
    overrides={
        "big": ModelPrice(
            input=Decimal("3"), cache_read=Decimal("0.3"), output=Decimal("15")
        ),
        "small": ModelPrice(
            input=Decimal("1"), cache_read=Decimal("0.1"), output=Decimal("5")
        ),
    },
    use_genai_prices=False,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def request(**fields: object) -> RoutingRequest:
    values: dict[str, object] = {"default_model": "big", "node": "agent"}
    values.update(fields)
    return RoutingRequest(**values)  # type: ignore[arg-type]


def router(policy: RoutingPolicy, **options: object) -> Router:
    return Router(
        policy,
        prices=PRICES,
        expected_output_tokens=200,
        **options,  # type: ignore[arg-type]
    )


def test_a_call_without_policy_keeps_its_model():
    decision = router(RoutingPolicy()).route(request())

    assert (decision.model, decision.reason, decision.switched) == (
        "big",
        "default",
        False,
    )


def test_the_map_routes_by_node_before_agent():
    policy = RoutingPolicy(models={"planner": "small", "briefs": "big"})

    decision = router(policy).route(request(node="planner", agent="briefs"))

    assert (decision.model, decision.routed_from) == ("small", "big")
    assert decision.reason == "node 'planner'"
    assert decision.switched


def test_the_map_routes_by_agent():
    policy = RoutingPolicy(models={"briefs": "small"})

    decision = router(policy).route(request(agent="briefs"))

    assert (decision.model, decision.reason) == ("small", "agent 'briefs'")


def test_the_first_matching_rule_wins_over_the_map():
    policy = RoutingPolicy(
        models={"agent": "big"},
        rules=[
            RoutingRule(model="small", max_input_tokens=1_000, has_tools=False),
            RoutingRule(model="big", name="anything else"),
        ],
    )
    route = router(policy).route

    assert route(request(input_tokens=900)).reason == (
        "rule 'max_input_tokens=1000 has_tools=False'"
    )
    assert route(request(input_tokens=900, has_tools=True)).reason == (
        "rule 'anything else'"
    )


def test_rules_match_tags_and_nodes_in_the_path():
    rule = RoutingRule(model="small", node="research", tags={"team": "search"})

    inside = request(node="model", node_path=("research", "model"))

    assert rule.matches(
        RoutingRequest(**{**_fields(inside), "tags": {"team": "search"}})
    )
    assert not rule.matches(inside)


def _fields(routing: RoutingRequest) -> dict[str, object]:
    return {name: getattr(routing, name) for name in routing.__slots__}


def test_the_cache_keeps_a_thread_when_the_loss_beats_the_saving():
    policy = RoutingPolicy(rules=[RoutingRule(model="small", has_tools=False)])
    route = router(policy).route
    route(request(thread_id="t1", input_tokens=10_000, has_tools=True))

    decision = route(request(thread_id="t1", input_tokens=10_400))

    # saving: 10,400 x (3 - 1) + 200 x (15 - 5) per million = $0.0228
    # cache loss: 10,000 cached x (3 - 0.3) per million = $0.027
    assert decision.cached_tokens == 10_000
    assert decision.saving == Decimal("0.0228")
    assert decision.cache_loss == Decimal("0.027")
    assert (decision.wanted, decision.model) == ("small", "big")
    assert decision.reason == (
        "kept on big: saving $0.0228 <= cache loss $0.027 (rule 'has_tools=False')"
    )


def test_the_thread_switches_when_the_saving_beats_the_loss():
    policy = RoutingPolicy(rules=[RoutingRule(model="small", has_tools=False)])
    route = router(policy).route
    route(request(thread_id="t1", input_tokens=2_000, has_tools=True))

    decision = route(request(thread_id="t1", input_tokens=2_400))

    assert (decision.saving, decision.cache_loss) == (
        Decimal("0.0068"),
        Decimal("0.0054"),
    )
    assert decision.model == "small"
    assert decision.reason == (
        "rule 'has_tools=False'; left big: saving $0.0068 > cache loss $0.0054"
    )


def test_a_kept_thread_stays_kept_on_later_turns():
    policy = RoutingPolicy(rules=[RoutingRule(model="small", has_tools=False)])
    route = router(policy).route
    route(request(thread_id="t1", input_tokens=10_000, has_tools=True))

    models = [
        route(request(thread_id="t1", input_tokens=10_000 + 400 * turn)).model
        for turn in range(1, 6)
    ]

    assert models == ["big"] * 5


def test_other_threads_are_free_to_switch():
    policy = RoutingPolicy(rules=[RoutingRule(model="small", has_tools=False)])
    route = router(policy).route
    route(request(thread_id="t1", input_tokens=10_000, has_tools=True))

    decision = route(request(thread_id="t2", input_tokens=10_400))

    assert (decision.model, decision.cached_tokens, decision.saving) == (
        "small",
        0,
        None,
    )


def test_an_expired_cache_costs_nothing_to_leave():
    clock = Clock()
    policy = RoutingPolicy(rules=[RoutingRule(model="small", has_tools=False)])
    route = router(policy, clock=clock, cache_ttl=300.0).route
    route(request(thread_id="t1", input_tokens=10_000, has_tools=True))
    clock.now = 301.0

    decision = route(request(thread_id="t1", input_tokens=10_400))

    assert (decision.model, decision.cache_loss) == ("small", Decimal(0))


def test_a_forced_rule_leaves_the_cache():
    policy = RoutingPolicy(
        rules=[RoutingRule(model="small", has_tools=False, force=True, name="fast")]
    )
    route = router(policy).route
    route(request(thread_id="t1", input_tokens=10_000, has_tools=True))

    decision = route(request(thread_id="t1", input_tokens=10_400))

    assert (decision.model, decision.reason) == ("small", "rule 'fast'; forced off big")


def test_an_unpriced_model_keeps_the_thread():
    policy = RoutingPolicy(rules=[RoutingRule(model="mystery", has_tools=False)])
    route = router(policy).route
    route(request(thread_id="t1", input_tokens=100, has_tools=True))

    decision = route(request(thread_id="t1", input_tokens=200))

    assert decision.model == "big"
    assert decision.reason.startswith("kept on big: no price to compare")


def test_a_soft_limit_downgrades_calls_in_its_scope():
    budget = Budget(limit_usd=Decimal("1"), scope="team=search", name="search")
    routing = router(RoutingPolicy(downgrade={"big": "small"}))
    routing.on_soft_limit(
        SoftLimitEvent(budget, "team=search", Decimal("0.9"), Decimal("0.8"))
    )

    inside = routing.route(request(tags={"team": "search"}))
    outside = routing.route(request(tags={"team": "ads"}))

    assert (inside.model, inside.reason) == (
        "small",
        "soft limit of budget 'search' for team=search",
    )
    assert outside.model == "big"


def test_downgrades_can_be_cleared():
    budget = Budget(limit_usd=Decimal("1"), scope="global")
    routing = router(RoutingPolicy(downgrade={"*": "small"}))
    routing.on_soft_limit(SoftLimitEvent(budget, "*", Decimal(1), Decimal(1)))
    routing.clear_downgrades()

    assert routing.route(request()).model == "big"


def test_models_are_built_once_with_their_init_kwargs():
    routing = Router(
        init_kwargs={"api_key": "local", "max_retries": 0},
        model_kwargs={"openai:gpt-5.4-mini": {"base_url": "http://127.0.0.1:1/v1"}},
    )

    first = routing.chat_model("openai:gpt-5.4-mini")

    assert routing.chat_model("openai:gpt-5.4-mini") is first
    assert (first.model_name, first.openai_api_base, first.max_retries) == (
        "gpt-5.4-mini",
        "http://127.0.0.1:1/v1",
        0,
    )


def test_the_default_model_is_reused_under_another_spelling():
    default = ScriptedChatModel(model_name="gpt-5.4")

    assert Router().chat_model("openai:gpt-5.4", default=default) is default


def test_a_model_init_chat_model_cannot_build_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="cannot build routed model 'nope'"):
        Router().chat_model("nope")


def test_same_model_strips_the_provider_but_not_a_bedrock_version():
    assert same_model("openai:gpt-5.4", "gpt-5.4")
    assert not same_model("us.anthropic.claude-3:0", "0")


def test_decisions_are_numbered_and_bound_to_run_ids():
    routing = router(RoutingPolicy())
    first = routing.route(request())
    routing.route(request())

    routing.bind_run(first.decision_id, "run-1")

    assert [d.decision_id for d in routing.decisions] == [1, 2]
    assert routing.decision_for("run-1") == routing.decisions[0]
    assert routing.decisions[0].run_id == "run-1"
    assert routing.decision_for("run-2") is None
