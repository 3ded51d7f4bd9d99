"""The plan of a corpus: which texts to ask for, in which order, on which shard.

Every text is a job with a stable key. Jobs form groups (one per emotion, plus one for neutral
dialogues); within a group, attempt `a` fixes the topic, narration and prompt, so any attempt
can be rebuilt from its index alone. The base plan is the first `planned` attempts of each
group (paper scale: 100 topics x 12 stories per emotion); top-up rounds continue the sequence
for groups that are still short of accepted texts.

Sharding is by the job's position in the base plan (`--shard i/n` keeps every n-th job; see
`Plan.index`) and continues with the same rule past the plan, so shards never overlap.
"""

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from ._prompts import answer_prompt, neutral_questions, person_for, story_prompt, turns_for

NEUTRAL = "(neutral)"  # the name of the neutral group


@dataclass(frozen=True)
class Job:
    """One text to generate: its key, group, attempt index, topic and prompts.

    A story has one prompt. A neutral dialogue has one prompt per exchange (the model answers
    each of `questions` separately; the driver joins them into Human/Assistant lines).
    """

    key: str
    kind: str
    group: int
    attempt: int
    emotion: str | None
    topic: str
    prompts: tuple[str, ...]
    questions: tuple[str, ...] = ()
    meta: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based), as written `--shard index/count`.

    Example:
        >>> Shard.parse("2/4")
        Shard(index=2, count=4)
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(
                f"Shard {self.index}/{self.count} does not exist: use i/n with 0 <= i < n"
                " (for example 0/4 ... 3/4)."
            )

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard expects i/n such as 0/4, got {text!r}.") from None
        return cls(index, count)

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}-of-{self.count:05d}"


@dataclass(frozen=True)
class Plan:
    """What a corpus asks for.

    Attributes:
        emotions: Emotion words (one group each).
        topics: Situations that stories are set in.
        neutral_topics: Subjects of neutral dialogues.
        stories_per_topic: Stories per (emotion, topic) in the base plan (paper: 12).
        topics_per_emotion: Topics used per emotion, drawn by a seeded shuffle (None = all).
        neutral: Neutral dialogues in the base plan.
        min_accepted: Top up each emotion until it has this many accepted stories (0 = never).
        min_neutral: Top up neutral dialogues until this many are accepted (0 = never).
        max_attempts: Most attempts per group, top-ups included (None = 3 x the base plan).
        base_seed: Seed that every job seed and topic shuffle derives from.
        crossed_topics: Every emotion uses the same `topics_per_emotion` topics (one seeded
            shuffle), as in the paper's emotions x topics design: topic content is then common
            to all emotions and cancels in each emotion's mean minus the mean over emotions.
            False draws each emotion its own topics, which at a few stories per emotion leaves
            topic differences inside the emotion means.
    """

    emotions: tuple[str, ...]
    topics: tuple[str, ...]
    neutral_topics: tuple[str, ...] = ()
    stories_per_topic: int = 12
    topics_per_emotion: int | None = None
    neutral: int = 0
    min_accepted: int = 0
    min_neutral: int = 0
    max_attempts: int | None = None
    base_seed: int = 0
    crossed_topics: bool = False

    def __post_init__(self) -> None:
        if not self.emotions:
            raise ValueError("The plan has no emotions.")
        if not self.topics:
            raise ValueError("The plan has no topics: pass a topics file or use the defaults.")
        if (self.neutral or self.min_neutral) and not self.neutral_topics:
            raise ValueError("Neutral dialogues need neutral topics (subjects).")
        if self.stories_per_topic < 1:
            raise ValueError(f"stories_per_topic must be at least 1, got {self.stories_per_topic}.")
        k = self.topics_per_emotion
        if k is not None and not 1 <= k <= len(self.topics):
            raise ValueError(
                f"topics_per_emotion must be between 1 and {len(self.topics)}, got {k}."
            )
        if min(self.neutral, self.min_accepted, self.min_neutral) < 0:
            raise ValueError("Counts in a plan cannot be negative.")

    def as_dict(self) -> dict:
        data = asdict(self)
        if not self.crossed_topics:  # runs recorded before the option existed stay resumable
            del data["crossed_topics"]
        return data

    @property
    def topics_used(self) -> int:
        return self.topics_per_emotion or len(self.topics)

    @property
    def groups(self) -> tuple[str, ...]:
        return (*self.emotions, NEUTRAL)

    def planned(self, group: int) -> int:
        """Attempts of `group` in the base plan."""
        return (
            self.neutral
            if group == len(self.emotions)
            else self.topics_used * self.stories_per_topic
        )

    def target(self, group: int) -> int:
        return self.min_neutral if group == len(self.emotions) else self.min_accepted

    def attempt_limit(self, group: int) -> int:
        if self.max_attempts is not None:
            return max(self.max_attempts, self.planned(group))
        return 3 * max(self.planned(group), self.target(group))

    def index(self, group: int, attempt: int) -> int:
        """Position of a job in the base plan (and past it, for top-ups).

        Neutral dialogues come first, then stories round-robin over emotions (attempt 0 of every
        emotion, then attempt 1, ...), so a run cut short still covers every emotion evenly.
        """
        if group == len(self.emotions):
            return attempt
        return self.neutral + attempt * len(self.emotions) + group

    def topic_order(self, group: int) -> list[int]:
        """The topics (indices) an emotion cycles through: a seeded shuffle, cut to `topics_used`."""
        key = "topics" if self.crossed_topics else self.emotions[group]
        rng = random.Random(f"{self.base_seed}/{key}")
        return rng.sample(range(len(self.topics)), len(self.topics))[: self.topics_used]

    def job(self, group: int, attempt: int) -> Job:
        """The job for attempt `attempt` of `group` (any attempt, in or past the base plan)."""
        if group == len(self.emotions):
            index = attempt % len(self.neutral_topics)
            subject, turns = self.neutral_topics[index], turns_for(attempt)
            questions = neutral_questions(subject, attempt=attempt, turns=turns)
            return Job(
                f"neutral/n{index:03d}/s{attempt // len(self.neutral_topics)}",
                "neutral", group, attempt, None, subject,
                tuple(answer_prompt(q) for q in questions), questions, (("turns", turns),),
            )  # fmt: skip
        emotion, cycle = self.emotions[group], self.topics_used
        index = self.topic_order(group)[attempt % cycle]
        person = person_for(attempt, cycle)
        return Job(
            f"story/{emotion}/t{index:03d}/s{attempt // cycle}",
            "story", group, attempt, emotion, self.topics[index],
            (story_prompt(emotion, self.topics[index], person=person),), (),
            (("person", person),),
        )  # fmt: skip

    def in_shard(self, group: int, attempt: int, shard: Shard) -> bool:
        # Stories are dealt by (group + attempt), not by plan index: with the index, a shard
        # count dividing the number of emotions would pin each emotion to one shard, and the
        # other shards' top-ups for it would search forever.
        if group == len(self.emotions):
            return attempt % shard.count == shard.index
        return (self.neutral + group + attempt) % shard.count == shard.index

    def base_jobs(self, shard: Shard | None = None) -> list[Job]:
        """The shard's jobs of the base plan, in plan order (see `index`)."""
        shard = shard or Shard()
        keys = [
            (self.index(g, a), g, a)
            for g in range(len(self.groups))
            for a in range(self.planned(g))
            if self.in_shard(g, a, shard)
        ]
        return [self.job(g, a) for _, g, a in sorted(keys)]

    def top_up(self, group: int, shard: Shard, *, accepted: int, tried: Sequence[int]) -> list[Job]:
        """Next attempts for a group that has `accepted` texts out of the attempts `tried`.

        Each shard aims at its part of the group's target, in proportion to its part of the
        group's base plan (so shards can be topped up independently, and a shard that holds
        none of a group's jobs leaves it alone), and asks for as many attempts as the observed
        acceptance rate (at least 1 in 4) suggests, within its part of the attempt limit.
        """
        planned = self.planned(group)
        if planned:
            mine = sum(self.in_shard(group, a, shard) for a in range(planned)) / planned
        else:
            mine = 1 / shard.count
        share = math.ceil(self.target(group) * mine)
        limit = math.ceil(self.attempt_limit(group) * mine)
        missing = share - accepted
        if missing <= 0 or len(tried) >= limit:
            return []
        rate = max(accepted / len(tried), 0.25) if tried else 1.0
        wanted = min(math.ceil(missing / rate), limit - len(tried))
        jobs: list[Job] = []
        attempt = max(tried, default=-1) + 1
        # Membership repeats with period `count` in the attempt: a shard that finds none of a
        # group's attempts in one period never will.
        idle = 0
        while len(jobs) < wanted and idle < shard.count:
            if self.in_shard(group, attempt, shard):
                jobs.append(self.job(group, attempt))
                idle = 0
            else:
                idle += 1
            attempt += 1
        return jobs


def batch_seed(base_seed: int, keys: Iterable[str]) -> int:
    """The sampling seed of a batch: a hash of the base seed and the batch's first job key.

    Example:
        >>> batch_seed(0, ["story/calm/t001/s0"]) == batch_seed(0, ["story/calm/t001/s0", "x"])
        True
    """
    first = next(iter(keys))
    return int(hashlib.sha256(f"{base_seed}/{first}".encode()).hexdigest()[:8], 16)
