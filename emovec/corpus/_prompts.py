"""The prompts that make a model write the corpus: emotion stories and neutral dialogues.

The wording is versioned (`PROMPT_VERSION`, recorded in every manifest): change the text, bump
the version, so that two corpora made with different prompts are never mistaken for each other.
"""

PROMPT_VERSION = "story-v1+neutral-v2"
PERSONS = ("first", "third")
MIN_TURNS, MAX_TURNS = 2, 6

_STORY = (
    "Write a short story, one paragraph of about 120 words, in which a character feels"
    " {emotion}. The situation: {topic}.\n"
    "{person}\n"
    "Show the feeling only through what the character does, says and thinks, and how their body"
    ' reacts. Never use the word "{emotion}" or any word that means the same.'
    " Write only the story, with no title."
)
_PERSON = {
    "first": 'Tell it in the first person ("I").',
    "third": "Tell it in the third person, and give the character a name.",
}

# Neutral dialogues are assembled from independent answers: small models cannot keep a
# Human/Assistant format over several exchanges, but they answer a direct question well. The
# Human lines come from these templates (varied per dialogue); each Assistant line is the model's
# answer to its question, asked as its own user turn with `_ANSWER`'s instructions.
_QUESTIONS = (
    "Can you explain {subject}?",
    "What are the key facts about {subject}?",
    "Can you give a concrete example related to {subject}?",
    "What do people often get wrong about {subject}?",
    "Can you summarise {subject} in a few sentences?",
    "What is one detail about {subject} that is easy to miss?",
    "What is the first thing to check when dealing with {subject}?",
)
_ANSWER = (
    "{question}\nAnswer in two to four sentences with facts, steps or code. Do not greet, thank"
    " or praise; start with the answer."
)


def person_for(attempt: int, cycle: int) -> str:
    """Narration for the `attempt`-th story of an emotion whose topics repeat every `cycle`.

    Alternates by attempt and flips on each pass over the topics, so that every topic gets both
    persons when it is used twice, whether `cycle` is odd or even.

    Example:
        >>> [person_for(a, 2) for a in range(4)]
        ['first', 'third', 'third', 'first']
    """
    cycle = max(cycle, 1)
    return PERSONS[(attempt % cycle + attempt // cycle) % 2]


def story_prompt(emotion: str, topic: str, *, person: str = "third") -> str:
    """The user turn asking for one story in which a character feels `emotion` in `topic`.

    Args:
        emotion: The emotion word (for example "desperate" or "at ease").
        topic: An everyday situation ("a tenant receives a letter from the landlord").
        person: "first" or "third" person narration.

    Example:
        >>> story_prompt("calm", "a train is delayed", person="first").splitlines()[1]
        'Tell it in the first person ("I").'
    """
    if person not in _PERSON:
        raise ValueError(f"person must be 'first' or 'third', got {person!r}.")
    if not emotion.strip() or not topic.strip():
        raise ValueError("A story prompt needs a non-empty emotion and topic.")
    return _STORY.format(emotion=emotion.strip(), topic=topic.strip(), person=_PERSON[person])


def turns_for(index: int) -> int:
    """Number of exchanges of the `index`-th neutral dialogue: cycles through 2..6.

    Example:
        >>> [turns_for(i) for i in range(6)]
        [2, 3, 4, 5, 6, 2]
    """
    return MIN_TURNS + index % (MAX_TURNS - MIN_TURNS + 1)


def neutral_questions(subject: str, *, attempt: int, turns: int) -> tuple[str, ...]:
    """The Human lines of the `attempt`-th neutral dialogue about `subject` (distinct questions).

    Example:
        >>> neutral_questions("the water cycle", attempt=0, turns=2)
        ('Can you explain the water cycle?', 'What are the key facts about the water cycle?')
    """
    if not MIN_TURNS <= turns <= MAX_TURNS:
        raise ValueError(f"turns must be between {MIN_TURNS} and {MAX_TURNS}, got {turns}.")
    if not subject.strip():
        raise ValueError("A neutral dialogue needs a non-empty subject.")
    first = attempt % len(_QUESTIONS)
    picked = [_QUESTIONS[(first + j) % len(_QUESTIONS)] for j in range(turns)]
    return tuple(q.format(subject=subject.strip()) for q in picked)


def answer_prompt(question: str) -> str:
    """The user turn that asks the model for one Assistant line of a neutral dialogue."""
    return _ANSWER.format(question=question)
