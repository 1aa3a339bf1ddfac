"""LocalCache: a bounded in-process cache with a TTL per entry and drops by key or group."""

from prometheus_client import REGISTRY

from shop_common.local_cache import LocalCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counted(result: str) -> float:
    labels = {"service": "common", "cache": "local-test", "result": result}
    return REGISTRY.get_sample_value("cache_requests_total", labels) or 0.0


def cache(clock: Clock, max_entries: int = 10) -> LocalCache[str]:
    return LocalCache(max_entries=max_entries, name="local-test", service="common", clock=clock)


def test_an_entry_is_served_until_its_own_ttl_and_not_after() -> None:
    clock = Clock()
    values = cache(clock)
    values.set("a", "ada", ttl=30, group="g", version=values.version)
    values.set("b", "bob", ttl=5, group="g", version=values.version)
    clock.now += 5
    assert values.get("a") == "ada"
    assert values.get("b") is None
    clock.now += 25
    assert values.get("a") is None
    assert len(values) == 0


def test_a_value_without_time_left_is_not_stored() -> None:
    values = cache(Clock())
    values.set("a", "ada", ttl=0, group="g", version=values.version)
    values.set("b", "bob", ttl=-3, group="g", version=values.version)
    assert len(values) == 0


def test_when_full_the_oldest_entry_makes_room() -> None:
    values = cache(Clock(), max_entries=2)
    for key in ("a", "b", "c"):
        values.set(key, key.upper(), ttl=30, group=key, version=values.version)
    assert len(values) == 2
    assert [values.get(key) for key in ("a", "b", "c")] == [None, "B", "C"]


def test_drop_ends_one_entry() -> None:
    values = cache(Clock())
    values.set("a", "ada", ttl=30, group="g", version=values.version)
    values.set("b", "bob", ttl=30, group="g", version=values.version)
    values.drop("a")
    assert (values.get("a"), values.get("b")) == (None, "bob")


def test_drop_group_ends_the_entries_of_the_group_that_match() -> None:
    values = cache(Clock())
    for key, group in (("a1", "ada"), ("a2", "ada"), ("b1", "bob")):
        values.set(key, key, ttl=30, group=group, version=values.version)
    values.drop_group("ada", lambda value: value == "a1")
    assert [values.get(key) for key in ("a1", "a2", "b1")] == [None, "a2", "b1"]
    values.drop_group("ada")
    values.drop_group("nobody")
    assert [values.get(key) for key in ("a2", "b1")] == [None, "b1"]


def test_a_value_read_before_a_drop_is_not_stored_after_it() -> None:
    values = cache(Clock())
    before = values.version
    values.drop_group("ada")  # the drop lands while the value was being read
    values.set("a", "ada", ttl=30, group="ada", version=before)
    assert values.get("a") is None
    values.set("a", "ada", ttl=30, group="ada", version=values.version)
    assert values.get("a") == "ada"


def test_hits_and_misses_are_counted() -> None:
    values = cache(Clock())
    hits, misses = counted("hit"), counted("miss")
    values.set("a", "ada", ttl=30, group="g", version=values.version)
    values.get("a")
    values.get("a")
    values.get("b")
    assert (counted("hit") - hits, counted("miss") - misses) == (2, 1)
