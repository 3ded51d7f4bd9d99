import pytest

from emovec.catalogue import Catalogue, default_neutral_topics, default_topics
from emovec.corpus import Plan, Shard
from emovec.corpus._plan import batch_seed


def small_plan(**kw) -> Plan:
    base = dict(
        emotions=("calm", "afraid", "at ease"),
        topics=default_topics()[:5],
        neutral_topics=default_neutral_topics()[:4],
        stories_per_topic=2,
        neutral=5,
    )
    return Plan(**{**base, **kw})


def test_base_plan_is_emotions_x_topics_x_stories_plus_neutral():
    plan = small_plan()
    jobs = plan.base_jobs()
    assert len(jobs) == 3 * 5 * 2 + 5
    assert len({j.key for j in jobs}) == len(jobs)
    stories = [j for j in jobs if j.kind == "story"]
    assert {(j.emotion, j.topic) for j in stories} == {
        (e, t) for e in plan.emotions for t in plan.topics
    }
    assert all(j.emotion is None for j in jobs if j.kind == "neutral")


def test_paper_scale_plan_size():
    plan = Plan(
        emotions=Catalogue.default().emotions, topics=default_topics(), stories_per_topic=12
    )
    assert sum(plan.planned(g) for g in range(len(plan.emotions))) == 171 * 100 * 12
    assert plan.job(170, 1199).key == plan.job(170, 1199).key  # any attempt rebuilds alone


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_jobs(count):
    plan = small_plan()
    full = [j.key for j in plan.base_jobs()]
    parts = [[j.key for j in plan.base_jobs(Shard(i, count))] for i in range(count)]
    assert sorted(k for part in parts for k in part) == sorted(full)
    assert len({k for part in parts for k in part}) == len(full)
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= len(plan.groups)  # shards share the work evenly


def test_shards_partition_top_ups_too():
    plan = small_plan(min_accepted=20)  # 3 emotions over 2 shards: every shard holds each
    seen: set[str] = set()
    for i in range(2):
        shard = Shard(i, 2)
        tried = [j.attempt for j in plan.base_jobs(shard) if j.group == 0]
        more = plan.top_up(0, shard, accepted=0, tried=tried)
        assert more and all(plan.in_shard(0, j.attempt, shard) for j in more)
        keys = {j.key for j in more}
        assert not keys & seen
        seen |= keys


def test_top_ups_when_the_shard_count_divides_the_emotions():
    plan = small_plan(min_accepted=20)  # 3 emotions over 3 shards: once a hang, now dealt evenly
    seen: set[str] = set()
    for i in range(3):
        shard = Shard(i, 3)
        tried = [j.attempt for j in plan.base_jobs(shard) if j.group == 0]
        assert tried  # no emotion is pinned to one shard
        more = plan.top_up(0, shard, accepted=0, tried=tried)
        assert more and all(plan.in_shard(0, j.attempt, shard) for j in more)
        assert not {j.key for j in more} & seen
        seen |= {j.key for j in more}


def test_persons_alternate_and_topics_rotate():
    plan = small_plan()
    jobs = [plan.job(0, a) for a in range(10)]
    persons = [dict(j.meta)["person"] for j in jobs]
    assert persons[:5] == ["first", "third", "first", "third", "first"]
    assert all(persons[i] != persons[i + 5] for i in range(5))  # each topic gets both
    assert [j.topic for j in jobs[:5]] == [j.topic for j in jobs[5:]]
    assert {dict(plan.job(3, a).meta)["turns"] for a in range(5)} == {2, 3, 4, 5, 6}


def test_topics_per_emotion_draws_a_seeded_subset():
    plan = small_plan(topics_per_emotion=2)
    assert plan.planned(0) == 4
    assert len({j.topic for j in plan.base_jobs() if j.emotion == "calm"}) == 2
    assert plan.topic_order(0) == small_plan(topics_per_emotion=2).topic_order(0)
    assert plan.topic_order(0) != small_plan(topics_per_emotion=2, base_seed=1).topic_order(0) or (
        plan.topic_order(1) != small_plan(topics_per_emotion=2, base_seed=1).topic_order(1)
    )


def test_top_up_asks_for_the_deficit_within_the_limit():
    plan = small_plan(min_accepted=12, max_attempts=14)
    shard = Shard()
    tried = list(range(10))
    more = plan.top_up(0, shard, accepted=8, tried=tried)
    # 4 missing at an observed rate of 0.8 -> 5 attempts, capped by the limit of 14 -> 4
    assert [j.attempt for j in more] == [10, 11, 12, 13]
    assert plan.top_up(0, shard, accepted=12, tried=tried) == []
    assert plan.top_up(0, shard, accepted=0, tried=list(range(14))) == []


def test_batch_seed_depends_on_first_key_only():
    assert batch_seed(0, ["a", "b"]) == batch_seed(0, ["a", "c"]) != batch_seed(0, ["b", "a"])
    assert batch_seed(0, ["a"]) != batch_seed(1, ["a"])
    assert 0 <= batch_seed(3, ["x"]) < 2**32


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"emotions": ()}, "no emotions"),
        ({"topics": ()}, "no topics"),
        ({"neutral_topics": ()}, "need neutral topics"),
        ({"stories_per_topic": 0}, "at least 1"),
        ({"topics_per_emotion": 9}, "between 1 and 5"),
    ],
)
def test_bad_plans_say_what_to_fix(kw, message):
    with pytest.raises(ValueError, match=message):
        small_plan(**kw)


@pytest.mark.parametrize("text", ["3/2", "1", "a/b", "-1/2"])
def test_bad_shard_specs(text):
    with pytest.raises(ValueError, match="i/n|does not exist"):
        Shard.parse(text)


def test_crossed_topics_give_every_emotion_the_same_topics():
    crossed = small_plan(topics_per_emotion=3, crossed_topics=True)
    orders = [crossed.topic_order(g) for g in range(len(crossed.emotions))]
    assert all(o == orders[0] for o in orders) and len(set(orders[0])) == 3
    own = small_plan(topics_per_emotion=3)
    assert len({tuple(own.topic_order(g)) for g in range(len(own.emotions))}) > 1
    assert "crossed_topics" not in own.as_dict()  # older run.json files still match
    assert crossed.as_dict()["crossed_topics"] is True
