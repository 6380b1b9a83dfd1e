"""parse_webhook must never raise: an exception would make Meta redeliver the payload for days."""

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.parsing import parse_webhook
from gateway.types import WebhookEvents
from tests.gateway.conftest import FIXTURES, load_fixture

FIXTURE_PAYLOADS = [load_fixture(path.name) for path in sorted(FIXTURES.glob("*.json"))]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text()
    | st.sampled_from(
        ["whatsapp_business_account", "messages", "text", "interactive", "system", "1764000000"]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
keys = st.sampled_from(
    [
        "object", "entry", "changes", "field", "value", "messages", "statuses", "errors",
        "contacts", "metadata", "from", "id", "timestamp", "type", "text", "body", "button",
        "interactive", "button_reply", "list_reply", "title", "system", "wa_id", "recipient_id",
        "code", "error_data", "details", "user_id", "from_user_id", "profile", "name",
    ]
)  # fmt: skip
# Dictionaries using Meta's own keys reach deeper into the parser than random keys do.
meta_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=60,
)


def assert_parses(payload):
    events = parse_webhook(payload)
    assert isinstance(events, WebhookEvents)


@given(json_values)
def test_arbitrary_json_never_raises(payload):
    assert_parses(payload)


@given(meta_like)
def test_meta_shaped_json_never_raises(payload):
    assert_parses({"object": "whatsapp_business_account", "entry": payload})
    assert_parses({"object": "whatsapp_business_account", "entry": [{"changes": payload}]})


def _paths(value, prefix=()):
    """Every place inside a JSON value, as a tuple of keys and indexes."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@settings(max_examples=300)
@given(st.data())
def test_mutated_fixtures_never_raise(data):
    payload = copy.deepcopy(data.draw(st.sampled_from(FIXTURE_PAYLOADS)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        path = data.draw(st.sampled_from(list(_paths(payload))))
        if not path:
            payload = data.draw(json_values)
            continue
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()):
            parent[path[-1]] = data.draw(json_values)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
        if not isinstance(payload, dict | list):
            break
    assert_parses(payload)
