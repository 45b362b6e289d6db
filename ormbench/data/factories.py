"""factory-boy factories for every data table, and the value functions they draw from.

(Data tables: users, tags, content_items_all and content_tags. ``ormbench_meta`` is the
seeder's bookkeeping, not data, and has no factory.)

The factories are the one declaration of what a row looks like. They are used two ways:

- **Hand-made cases in tests**, persisted through a SQLAlchemy session bound at use time::

      with bind_session(session):
          a, b = TagFactory(), TagFactory()
          item = ContentItemFactory(creator=user_x, is_private=True, tags=[a, b])

- **Datasets**, through :mod:`ormbench.data.generate`, which reads each factory's declarations
  and evaluates the same value functions in a tight loop over plain tuples. factory-boy's own
  per-row machinery (resolver, sequence bookkeeping, model instantiation) makes
  ``ContentItemFactory.build()`` take about half a millisecond a row on a 2-core machine,
  over ten times the whole per-row budget of a 30,000 rows/s seed, so the bulk path does not
  call ``build`` per row: it compiles the declarations once and calls their value functions.
  A column gets its value from its factory declaration unless the dataset decides it (ids,
  partition, creator, created_at, tag links: the *structural* columns that make the data
  production-shaped); a column that has neither is an error, so a column added to a model
  without a declaration fails loudly.

Declarations are cheap by design (generation's share of a seed: `python
benchmarks/seed_rate.py --figures canonical`, phase ``generate``): :class:`Drawn` calls a method of
:class:`Values` with a seeded ``random.Random``; ``factory.Sequence`` numbers unique names.
No Faker provider is used (8x slower). Value functions draw only through ``rng.random()`` and
``rng.getrandbits()``, the two methods whose output Python keeps stable across versions for
the same seed, so the data does not change with the interpreter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import factory
from factory.alchemy import SQLAlchemyModelFactory
from factory.builder import Resolver
from sqlalchemy.orm import Session

from ormbench.data.models import ContentItem, Source, Tag, User, content_tags
from ormbench.data.profiles import PROFILES

if TYPE_CHECKING:
    from ormbench.data.profiles import Profile

# The newest created_at of any dataset: a fixed epoch so that seeds never depend on now().
EPOCH = dt.datetime(2025, 1, 1)
# Seed of the random stream behind hand-made factory objects.
FACTORY_SEED = 1
# First sequence number of hand-made objects (datasets use 0..rows-1 for unique names).
HAND_MADE_SEQUENCE_START = 1_000_000
# Profile whose knobs shape hand-made objects (JSON sizes, private share).
FACTORY_PROFILE = "tiny"
# Mean prompt length in characters: the prompt column is wide in production (varchar 20000).
PROMPT_MEAN_CHARS = 240
# Share of items with no alternative thumbnail resolutions (the column is nullable).
NO_ALT_RES_SHARE = 0.1
# Share of active users.
ACTIVE_USER_SHARE = 0.95
# Distinct item_metadata prototypes per dataset (see Values).
METADATA_POOL = 4096
# Samples used to measure the mean size of a JSON value's fixed keys (deterministic).
_CALIBRATION_SAMPLES = 2048
# Characters in the text pools that free-text values are sliced from.
_TEXT_POOL_CHARS = 200_000

# Syllables of the made-up vocabulary.
_SYLLABLE_TEXT = (
    "ka na ri to mo shi ve la qu en ar is or un el at ro mi de pa lu se ti fa go "
    "bra cle dro fin glo hul jor kes lam nor pix rav sol tur vex wyn zel"
)
_SYLLABLES = _SYLLABLE_TEXT.split()


def _make_words(count: int) -> list[str]:
    gen = random.Random("ormbench:words")
    words: set[str] = set()
    while len(words) < count:
        parts = 2 + int(gen.random() * 2)
        words.add("".join(_SYLLABLES[int(gen.random() * len(_SYLLABLES))] for _ in range(parts)))
    return sorted(words)


# Plain ASCII vocabulary: no quote, backslash or control character ever reaches a value.
WORDS: list[str] = _make_words(600)


def _make_text(name: str, chars: int) -> str:
    gen = random.Random(f"ormbench:{name}")
    out: list[str] = []
    size = 0
    while size < chars:
        word = WORDS[int(gen.random() * len(WORDS))]
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


_TEXT_POOL = _make_text("text", _TEXT_POOL_CHARS)
_HEX_POOL = f"{random.Random('ormbench:hex').getrandbits(4 * 4096):04096x}"

_CONTENT_TYPES = ("image",) * 14 + ("video",) * 3 + ("audio", "text", "text")
_FORMATS = ("webp", "png", "jpeg", "mp4")
_SIZES = (512, 640, 768, 832, 896, 1024, 1152, 1216, 1344, 1536)
_MODELS = tuple(f"{w}-xl-{v}" for w in WORDS[:12] for v in ("1.0", "2.1"))
_SAMPLERS = ("euler", "euler_a", "dpmpp_2m", "dpmpp_sde", "ddim", "heun", "lms", "unipc")
_SCHEDULERS = ("karras", "normal", "exponential", "sgm_uniform")
_UPSCALERS = ("4x-ultrasharp", "realesrgan", "swinir", "latent")
_APPS = ("web", "ios", "android", "api", "discord")
_THEMES = ("light", "dark", "system")
_LANGUAGES = ("en", "de", "fr", "es", "ja", "pt", "ko")
_PAGE_SIZES = (10, 25, 50, 100)
_CATEGORIES = ("style", "subject", "medium", "mood", "technique", "color")
# Lengths of the tuples drawn from on every content row (saves a len() call per draw).
_N_CONTENT_TYPES, _N_SIZES, _N_FORMATS = len(_CONTENT_TYPES), len(_SIZES), len(_FORMATS)


def _pick(rng: random.Random, seq: tuple[Any, ...] | list[Any]) -> Any:
    # rng.choice is built on randbelow, whose output Python does not promise to keep stable.
    return seq[int(rng.random() * len(seq))]


def _text(rng: random.Random, pool: str, length: int) -> str:
    start = int(rng.random() * (len(pool) - length))
    return pool[start : start + length]


def _filler(rng: random.Random, pool: str, mean: int) -> str:
    """A slice of ``pool`` whose length is uniform on 0..2*mean (mean ``mean``)."""
    length = int(rng.random() * (2 * mean + 1))
    start = int(rng.random() * (len(pool) - length))
    return pool[start : start + length]


class Values:
    """The value function of every drawn column, shaped by one profile's knobs.

    Each method takes the seeded ``rng`` (then, for a few, the values of the columns it
    depends on) and returns a plain Python value. JSON sizes are calibrated once per profile
    so that the mean ``length(value::text)`` in PostgreSQL equals the profile's byte target.

    ``item_metadata`` is a fresh dict per row, made from one of ``METADATA_POOL`` prototypes
    (model, sampler, loras, keywords, negative prompt: production reuses these heavily) plus
    per-row generation parameters. Every distinct JSON value costs the GIN index on
    item_metadata about 10 µs to build, so unique-per-row values (seeds, scores) would make
    the GIN build the slowest phase of a seed; the pool keeps it proportional to the rows.
    Nested lists are shared between rows of the same prototype: treat values as read-only.
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.spread_us = profile.created_days * 86_400_000_000
        self._content_filler = self._filler_mean(
            lambda rng: self._content_data(rng, 0), profile.content_data_bytes
        )
        prototypes = self._metadata_prototypes(random.Random(f"ormbench:{profile.seed}:metadata"))
        filler = self._filler_mean(
            lambda rng: self._metadata_from(rng, prototypes), profile.item_metadata_bytes
        )
        # Filler lengths spread evenly over 0..2*filler: their mean is exactly ``filler``.
        for i, proto in enumerate(prototypes):
            length = round((i + 0.5) / METADATA_POOL * 2 * filler)
            start = (i * 7_919) % (len(_TEXT_POOL) - length)
            proto["negative_prompt"] = _TEXT_POOL[start : start + length]
        self._metadata_pool = prototypes

    @staticmethod
    def _filler_mean(make: Callable[[random.Random], dict[str, Any]], target: int) -> int:
        """Filler length that brings the mean JSON text length to ``target``, given ``make``
        building a value with an empty filler (its fixed part varies little: a sample
        suffices)."""
        gen = random.Random("ormbench:calibration")
        # json.dumps' default separators are the ones jsonb's text output uses.
        fixed = sum(len(json.dumps(make(gen))) for _ in range(_CALIBRATION_SAMPLES))
        return max(0, round(target - fixed / _CALIBRATION_SAMPLES))

    # -- shared ------------------------------------------------------------------------------

    def uuid(self, rng: random.Random) -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128))

    def created_at(self, rng: random.Random) -> dt.datetime:
        return EPOCH - dt.timedelta(microseconds=int(rng.random() * self.spread_us))

    def updated_at(self, rng: random.Random, created_at: dt.datetime) -> dt.datetime:
        # Two thirds never edited; the rest edited within about a month.
        r = rng.random()
        if r < 0.66:
            return created_at
        return created_at + dt.timedelta(seconds=int((r - 0.66) * 7_600_000))

    # -- users -------------------------------------------------------------------------------

    def email(self, rng: random.Random, username: str) -> str:
        return f"{username}@{_pick(rng, WORDS)}.example.com"

    def preferences(self, rng: random.Random) -> dict[str, Any]:
        return {
            "theme": _pick(rng, _THEMES),
            "language": _pick(rng, _LANGUAGES),
            "page_size": _pick(rng, _PAGE_SIZES),
            "notifications": rng.random() < 0.5,
        }

    def is_active(self, rng: random.Random) -> bool:
        return rng.random() < ACTIVE_USER_SHARE

    # -- tags --------------------------------------------------------------------------------

    def tag_metadata(self, rng: random.Random) -> dict[str, Any]:
        return {
            "category": _pick(rng, _CATEGORIES),
            "color": f"#{rng.getrandbits(24):06x}",
            "description": _text(rng, _TEXT_POOL, 20 + int(rng.random() * 60)),
        }

    # -- content -----------------------------------------------------------------------------

    def title(self, rng: random.Random) -> str:
        return _text(rng, _TEXT_POOL, 12 + int(rng.random() * 50)).strip().capitalize()

    def content_type(self, rng: random.Random) -> str:
        return _CONTENT_TYPES[int(rng.random() * _N_CONTENT_TYPES)]

    def _content_data(self, rng: random.Random, filler: int) -> dict[str, Any]:
        r = rng.random
        return {
            "w": _SIZES[int(r() * _N_SIZES)],
            "h": _SIZES[int(r() * _N_SIZES)],
            "fmt": _FORMATS[int(r() * _N_FORMATS)],
            "ref": _filler(rng, _HEX_POOL, filler),
        }

    def content_data(self, rng: random.Random) -> dict[str, Any]:
        return self._content_data(rng, self._content_filler)

    def path_thumb(self, rng: random.Random) -> str:
        return f"thumbs/{rng.getrandbits(128):032x}/512.webp"

    def path_thumbs_alt_res(self, rng: random.Random) -> dict[str, Any] | None:
        if rng.random() < NO_ALT_RES_SHARE:
            return None
        key = f"thumbs/{rng.getrandbits(128):032x}"
        return {"256": f"{key}/256.webp", "1024": f"{key}/1024.webp", "2048": f"{key}/2048.webp"}

    def prompt(self, rng: random.Random) -> str:
        return _filler(rng, _TEXT_POOL, PROMPT_MEAN_CHARS)

    def _metadata_prototypes(self, rng: random.Random) -> list[dict[str, Any]]:
        r = rng.random
        return [
            {
                "model": _pick(rng, _MODELS),
                "sampler": _pick(rng, _SAMPLERS),
                "scheduler": _pick(rng, _SCHEDULERS),
                "loras": [_pick(rng, WORDS) for _ in range(int(r() * 3))],
                "upscaler": _pick(rng, _UPSCALERS) if r() < 0.4 else None,
                "app": _pick(rng, _APPS),
                "keywords": [_pick(rng, WORDS) for _ in range(3 + int(r() * 3))],
                "negative_prompt": "",
            }
            for _ in range(METADATA_POOL)
        ]

    @staticmethod
    def _metadata_from(rng: random.Random, pool: list[dict[str, Any]]) -> dict[str, Any]:
        r = rng.random
        doc = pool[int(r() * METADATA_POOL)].copy()
        # Per-row generation parameters: few distinct values each (cheap to index).
        doc["steps"] = 20 + int(r() * 31)
        doc["cfg_scale"] = int(30 + r() * 90) / 10
        doc["width"] = _SIZES[int(r() * _N_SIZES)]
        doc["height"] = _SIZES[int(r() * _N_SIZES)]
        return doc

    def item_metadata(self, rng: random.Random) -> dict[str, Any]:
        return self._metadata_from(rng, self._metadata_pool)

    def quality_score(self, rng: random.Random) -> float:
        # Mean of two uniforms: most items middling, few excellent or awful.
        return round((rng.random() + rng.random()) / 2, 4)

    def is_private(self, rng: random.Random) -> bool:
        return rng.random() < self.profile.private_share


class _Source:
    """The random stream and value functions that hand-made factory objects draw from."""

    def __init__(self) -> None:
        self.values = Values(PROFILES[FACTORY_PROFILE])
        self.rng = random.Random(FACTORY_SEED)


_FACTORY_SOURCE = _Source()


class Drawn(factory.declarations.BaseDeclaration):
    """A column filled by ``Values.<method>(rng, *<columns it depends on>)``.

    For hand-made objects the factories' own seeded stream is used; the dataset generator
    calls the same method with the dataset's stream.
    """

    def __init__(self, method: str, *depends: str) -> None:
        super().__init__()
        if not callable(getattr(Values, method, None)):
            raise AttributeError(f"Values has no value function {method!r}")
        self.method = method
        self.depends = depends

    def evaluate(self, instance: Resolver, step: Any, extra: dict[str, Any]) -> Any:
        source = _FACTORY_SOURCE
        args = [getattr(instance, name) for name in self.depends]
        return getattr(source.values, self.method)(source.rng, *args)


class _Persisted(SQLAlchemyModelFactory):
    """Flush on create, so ids and server defaults exist when a test links objects."""

    class Meta:
        abstract = True
        sqlalchemy_session = None  # bound at use time: bind_session()
        sqlalchemy_session_persistence = "flush"

    @classmethod
    def _setup_next_sequence(cls) -> int:
        # Datasets number rows from 0; hand-made objects start far above, so their unique
        # names (user_1000000, tag_1000000) never collide with a seeded dataset's.
        return HAND_MADE_SEQUENCE_START


class UserFactory(_Persisted):
    class Meta:
        model = User

    id = Drawn("uuid")
    username = factory.Sequence(lambda n: f"user_{n:05d}")
    email = Drawn("email", "username")
    preferences = Drawn("preferences")
    # Structural in datasets (a few popular tags); empty for hand-made users.
    favorite_tag_ids = factory.LazyFunction(list)
    is_active = Drawn("is_active")
    created_at = Drawn("created_at")
    updated_at = Drawn("updated_at", "created_at")


class TagFactory(_Persisted):
    class Meta:
        model = Tag

    id = Drawn("uuid")
    # Datasets number tags by popularity rank: tag_000 is the most popular.
    name = factory.Sequence(lambda n: f"tag_{n:03d}")
    tag_metadata = Drawn("tag_metadata")
    created_at = Drawn("created_at")
    updated_at = Drawn("updated_at", "created_at")


class ContentItemFactory(_Persisted):
    """A content item; ``id`` comes from the shared sequence (the database's default)."""

    class Meta:
        model = ContentItem

    source_type = Source.ITEMS.value
    creator = factory.SubFactory(UserFactory)
    title = Drawn("title")
    content_type = Drawn("content_type")
    content_data = Drawn("content_data")
    path_thumb = Drawn("path_thumb")
    path_thumbs_alt_res = Drawn("path_thumbs_alt_res")
    prompt = Drawn("prompt")
    item_metadata = Drawn("item_metadata")
    created_at = Drawn("created_at")
    updated_at = Drawn("updated_at", "created_at")
    quality_score = Drawn("quality_score")
    is_private = Drawn("is_private")


class ContentTagFactory(factory.Factory):
    """A content_tags row (a Core table, no mapped class): built as a dict, created by an
    INSERT through the bound session. Prefer ``ContentItemFactory(tags=[...])``; this one is
    for links the ORM would not write (e.g. a deliberately wrong ``content_source``)."""

    class Meta:
        model = dict

    class Params:
        content = factory.SubFactory(ContentItemFactory)
        tag = factory.SubFactory(TagFactory)

    content_id = factory.LazyAttribute(lambda o: o.content.id)
    content_source = factory.LazyAttribute(lambda o: o.content.source_type)
    tag_id = factory.LazyAttribute(lambda o: o.tag.id)

    @classmethod
    def _create(cls, model_class: type[dict[str, Any]], **row: Any) -> dict[str, Any]:
        session = _Persisted._meta.sqlalchemy_session
        if session is None:
            raise RuntimeError("No session bound: use factories.bind_session(session)")
        session.execute(content_tags.insert().values(**row))
        return dict(row)


# Every factory by table name; the dataset generator compiles these.
FACTORIES: dict[str, type[factory.Factory]] = {
    "users": UserFactory,
    "tags": TagFactory,
    "content_items_all": ContentItemFactory,
    "content_tags": ContentTagFactory,
}


@contextlib.contextmanager
def bind_session(session: Session) -> Iterator[Session]:
    """Persist factory-made objects through ``session`` inside the block (flushed, not
    committed: the caller owns the transaction)."""
    persisted = [f for f in FACTORIES.values() if issubclass(f, SQLAlchemyModelFactory)]
    before = [f._meta.sqlalchemy_session for f in persisted]
    before_base = _Persisted._meta.sqlalchemy_session
    _Persisted._meta.sqlalchemy_session = session
    for f in persisted:
        f._meta.sqlalchemy_session = session
    try:
        yield session
    finally:
        _Persisted._meta.sqlalchemy_session = before_base
        for f, old in zip(persisted, before, strict=True):
            f._meta.sqlalchemy_session = old
