"""A seeded, offline negotiation simulator with ground-truth lie labels (lesson 08).

Two traders, A and B, bargain over a small pool of goods. Each has **private** values for the goods, may have
an outside option (another buyer), and may be a deceptive type that sometimes misstates its values, bluffs about
an outside option or makes a promise it plans to break. Every message carries

* ``lie``: the sender's intent to deceive, read from the simulator's private state (the analogue of the
  sender's own annotation in Peskov et al. 2020), and
* ``suspected`` / ``belief``: the listener's judgement, from a heuristic that sees only the public dialogue up
  to that message (the analogue of the receiver's annotation).

The content of a dialogue (who says what, what is true, who lies) is drawn first; the wording is rendered
afterwards from templates with varied phrasing, from its own random stream, so the same content can be
re-worded (see :func:`rerender`, used by the evasion experiment). The design and its limits are documented in
``utils/negotiation/assets/README.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = [
    "ITEMS", "ACTS", "CLAIM_ACTS", "SPEAKERS", "PrivateState", "Message", "Game", "Corpus",
    "simulate_game", "simulate_corpus", "render_text", "draw_style", "template_key", "TEMPLATES",
    "SINCERE", "OPENERS", "HEDGES", "CLOSERS", "rerender", "listener_beliefs", "outcome_counts",
    "OUTCOMES", "check_item", "check_dialogue", "claims_conflict", "contradicted_later",
]

ITEMS: tuple[str, ...] = ("grain", "timber", "wool", "salt", "spice", "cloth")
ACTS: tuple[str, ...] = ("greet", "chat", "value", "outside", "promise", "offer", "accept", "walk")
CLAIM_ACTS: tuple[str, ...] = ("value", "outside", "promise")  # the only acts that can be lies
SPEAKERS: tuple[str, str] = ("A", "B")
OUTCOMES: tuple[str, ...] = ("straightforward", "cassandra", "deceived", "caught")

# ---------------------------------------------------------------------------------------------
# Knobs of the simulator (documented in assets/README.md). They were set once, before any detector was
# fitted, so that about 5% of messages are lies and about as many are suspected (the paper's balance).
# ---------------------------------------------------------------------------------------------
P_DECEPTIVE = 0.45        # share of traders of the deceptive type
P_OUTSIDE = 0.35          # share of traders with a real outside option
LIE_BASE = 0.16           # a deceptive trader's base probability of lying on a turn
P_HONEST_SLIP = 0.04      # an honest trader misstates a value by mistake (false, but not a lie)
LISTENER_BIAS = -2.2      # the listener's log-odds that a message is a lie, before any cue (veracity effect)


def check_item(item: object) -> str:
    """Return ``item`` if it is one of :data:`ITEMS`, else raise a ValueError that lists them."""
    if not isinstance(item, str):
        raise TypeError(f"an item must be a string, one of {list(ITEMS)}; got {type(item).__name__} {item!r}")
    if item not in ITEMS:
        raise ValueError(f"unknown item {item!r}; the simulator's goods are {list(ITEMS)}")
    return item


@dataclass(frozen=True)
class PrivateState:
    """What only the trader itself knows."""

    values: dict            # item -> value per unit (ints; the pool is worth 10 to each trader)
    has_outside: bool       # a real outside option (another buyer)
    deceptive: bool         # the trader's type: willing to lie
    plan_walk: bool         # intends to walk away at the end, whatever it promises

    def total(self, item: str, pool: dict) -> int:
        return int(self.values[item] * pool[item])

    def level(self, item: str, pool: dict) -> str:
        """'high' if the item is worth at least 4 of the trader's 10 points, else 'low'."""
        return "high" if self.total(item, pool) >= 4 else "low"

    def utility(self, keep: dict) -> int:
        return int(sum(self.values[i] * n for i, n in keep.items()))


@dataclass
class Message:
    """One message of a dialogue. ``lie`` is ground truth; ``belief``/``suspected`` are the listener's."""

    game: int
    turn: int
    speaker: str
    listener: str
    act: str
    text: str = ""
    item: str | None = None          # value claims: which good
    level: str | None = None         # value claims: 'high' or 'low' (claimed, not necessarily true)
    outside: bool | None = None      # outside-option claims: claims to have one (True) or not (False)
    offer: dict | None = None        # offers: units of each good the speaker would keep
    give: dict | None = None         # offers: units of each good the listener would get
    lie: bool = False
    slip: bool = False               # a false statement made by mistake (not a lie)
    power: int = 0                   # public: speaker's standing minus the listener's
    belief: float = 0.0              # listener's probability that this is a lie
    suspected: bool = False          # belief > 0.5
    style: dict = field(default_factory=dict)   # rendering choices (for re-wording); not a feature


@dataclass
class Game:
    gid: int
    pool: dict
    private: dict            # speaker -> PrivateState
    standing: dict           # speaker -> public standing (1..7)
    messages: list
    outcome: str             # 'deal' or 'walk'

    def __len__(self) -> int:
        return len(self.messages)


@dataclass
class Corpus:
    """A list of games plus flat views of all their messages."""

    games: list
    seed: int

    @property
    def messages(self) -> list:
        return [m for g in self.games for m in g.messages]

    def column(self, name: str) -> np.ndarray:
        return np.array([getattr(m, name) for m in self.messages])

    @property
    def texts(self) -> list:
        return [m.text for m in self.messages]

    @property
    def lie(self) -> np.ndarray:
        return self.column("lie").astype(int)

    @property
    def suspected(self) -> np.ndarray:
        return self.column("suspected").astype(int)

    @property
    def belief(self) -> np.ndarray:
        return self.column("belief").astype(float)

    @property
    def game_ids(self) -> np.ndarray:
        return self.column("game").astype(int)

    def subset(self, gids: Iterable[int]) -> "Corpus":
        keep = set(int(g) for g in gids)
        return Corpus([g for g in self.games if g.gid in keep], self.seed)

    def __len__(self) -> int:
        return sum(len(g) for g in self.games)

    def __repr__(self) -> str:
        n = len(self)
        lies = int(self.lie.sum()) if n else 0
        return f"Corpus({len(self.games)} games, {n} messages, {lies} lies)"


# ---------------------------------------------------------------------------------------------
# wording
# ---------------------------------------------------------------------------------------------

TEMPLATES: dict[str, tuple[str, ...]] = {
    "greet": ("Good morning, partner.", "Hello! Ready to trade?", "Greetings, let us find a deal.",
              "Hi there, good to see you at the market.", "Welcome, sit down and let us talk.",
              "Morning. Shall we get started?"),
    "chat": ("The roads were muddy today.", "Prices have been strange this season.", "Let us keep this friendly.",
             "I have traded with your family before.", "The harbour is busy today.", "Let me think about it.",
             "We have plenty of time.", "It is a long way back home for me.", "Your cart looks heavy.",
             "Let us not rush this."),
    "value_high": ("I really need the {item}.", "The {item} matters a lot to me.", "The {item} is what I came for.",
                   "I cannot leave without the {item}.", "My workshop depends on the {item}.",
                   "The {item} is my top priority.", "I would give a lot for the {item}.",
                   "Without the {item} this trip is wasted."),
    "value_low": ("I do not care much about the {item}.", "The {item} is not important to me.",
                  "You can have the {item}, it means little to me.", "I could live without the {item}.",
                  "The {item} is the least of my worries.", "I have enough {item} at home.",
                  "The {item} is not worth much to me."),
    "outside_yes": ("I have another buyer waiting for these goods.", "A trader in the next port offered me more.",
                    "I have other offers on the table.", "If this falls through, someone else will deal with me.",
                    "You are not my only option here.", "Another merchant asked me for the same goods."),
    "outside_no": ("I have no other buyer, so let us make this work.", "You are my only option this season.",
                   "Nobody else is buying right now.", "I have nowhere else to sell."),
    "promise": ("I will not walk away from this table.", "You have my word that we will close a deal.",
                "I will stay until we agree.", "I will accept a fair split, I promise.",
                "I am not going anywhere, let us keep talking.", "We will make a deal today, I am sure of it."),
    "offer": ("How about I take {mine} and you get {yours}?", "I propose {mine} for me and {yours} for you.",
              "Here is my offer: I keep {mine}, you take {yours}.", "Let us split it: {mine} to me, {yours} to you.",
              "What if I keep {mine} and you have {yours}?"),
    "accept": ("Deal. Let us shake on it.", "Fine, I accept.", "Agreed, you have a deal.", "That works for me. Done.",
               "Very well, we have a deal."),
    "walk": ("I am done here. Good luck.", "This is not working, I am leaving.",
             "No deal. I will take my business elsewhere.", "I am walking away.", "Forget it, I am going."),
}
SINCERE = ("Honestly,", "To be frank,", "Trust me,", "Believe me,", "I swear,", "Truly,",
           "I will be straight with you:")
OPENERS = ("Look,", "Well,", "Okay,", "Listen,", "So,", "Right,")
HEDGES = ("I think", "Perhaps", "Maybe", "To be fair,")
CLOSERS = (" What do you say?", " Your move.", " Think about it.", " I mean it.", " You can count on that.")


def template_key(m: Message) -> str:
    if m.act == "value":
        return "value_high" if m.level == "high" else "value_low"
    if m.act == "outside":
        return "outside_yes" if m.outside else "outside_no"
    return m.act


def _lower_first(s: str) -> str:
    return s[0].lower() + s[1:] if s and not s.startswith("I ") else s


def _describe_bundle(bundle: dict) -> str:
    parts = [f"{n} {item}" for item, n in bundle.items() if n > 0]
    if not parts:
        return "nothing"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def draw_style(m: Message, deceptive: bool, rng: np.random.Generator) -> dict:
    """Wording choices: which template, and the index of the sincerity word / opener / hedge / closer used
    (None for none). Lies (and, less, deceptive traders) lean on sincerity words, as in the paper's
    observation that words like 'sincerely' and 'frankly' skew towards lies; everyone uses them sometimes."""
    lie = float(m.lie)
    options = TEMPLATES[template_key(m)]
    u = rng.random(5)
    sincere = m.act != "offer" and u[0] < 0.05 + 0.06 * deceptive + 0.22 * lie
    return {
        "template": int(rng.integers(len(options))),
        "sincere": int(rng.integers(len(SINCERE))) if sincere else None,
        "opener": int(rng.integers(len(OPENERS))) if (not sincere and u[1] < 0.25) else None,
        "hedge": int(rng.integers(len(HEDGES))) if (m.act in CLAIM_ACTS and u[2] < 0.10 + 0.05 * lie) else None,
        "closer": int(rng.integers(len(CLOSERS))) if u[3] < 0.12 + 0.10 * lie else None,
    }


def render_text(m: Message, style: dict, pool: dict | None = None) -> str:
    """The wording of ``m`` for the given style choices (deterministic)."""
    if m.act not in ACTS:
        raise ValueError(f"unknown act {m.act!r}; acts are {list(ACTS)}")
    if m.item is not None:
        check_item(m.item)
    options = TEMPLATES[template_key(m)]
    body = options[int(style["template"]) % len(options)]
    if m.act == "offer":
        if not m.offer or (m.give is None and pool is None):
            raise ValueError("an offer needs its bundle (m.offer, m.give)")
        for it in m.offer:
            check_item(it)
        yours = m.give if m.give is not None else {it: pool[it] - n for it, n in m.offer.items()}
        body = body.format(mine=_describe_bundle(m.offer), yours=_describe_bundle(yours))
    else:
        body = body.format(item=m.item or "")
    if style.get("hedge") is not None:
        body = f"{HEDGES[style['hedge']]} {_lower_first(body)}"
    if style.get("sincere") is not None:
        body = f"{SINCERE[style['sincere']]} {_lower_first(body)}"
    elif style.get("opener") is not None:
        body = f"{OPENERS[style['opener']]} {_lower_first(body)}"
    if style.get("closer") is not None:
        body += CLOSERS[style["closer"]]
    return body


# ---------------------------------------------------------------------------------------------
# simulation
# ---------------------------------------------------------------------------------------------

def _feasible_values(counts: tuple) -> list:
    """Every integer value vector (0..10 per unit) with sum(count * value) == 10."""
    out = []
    for a in range(11):
        for b in range(11):
            rest = 10 - counts[0] * a - counts[1] * b
            if rest >= 0 and rest % counts[2] == 0 and rest // counts[2] <= 10:
                out.append((a, b, rest // counts[2]))
    return out


def _draw_pool_and_values(goods: tuple, rng: np.random.Generator) -> tuple:
    """Three goods with 1-3 units each, and two value vectors (one per trader) worth 10 in total."""
    chosen = sorted(rng.choice(len(goods), size=3, replace=False))
    while True:
        counts = tuple(int(c) for c in rng.integers(1, 4, size=3))
        feasible = _feasible_values(counts)
        if feasible:
            break
    pool = {goods[k]: c for k, c in zip(chosen, counts)}
    values = []
    for _ in SPEAKERS:
        v = feasible[int(rng.integers(len(feasible)))]
        values.append({i: int(x) for i, x in zip(pool, v)})
    return pool, values


def _make_offer(me: PrivateState, pool: dict, target: float, rng: np.random.Generator) -> dict:
    """Keep units of the goods I value most per unit until my utility reaches ``target``; give the rest."""
    order = sorted(pool, key=lambda i: (-me.values[i], rng.random()))
    keep = {i: 0 for i in pool}
    for item in order:
        for _ in range(pool[item]):
            if me.utility(keep) >= target:
                break
            keep[item] += 1
    if all(keep[i] == pool[i] for i in pool):           # never demand everything
        worst = min(pool, key=lambda i: (me.values[i], rng.random()))
        keep[worst] -= 1
    return keep


def _lie_probability(me: PrivateState, power: int, frac: float) -> float:
    if not me.deceptive:
        return 0.0
    # the paper's intuition: a stronger player may feel freer to lie; and lies cluster late, before a stab
    return float(min(0.9, LIE_BASE * math.exp(0.18 * power) * (0.4 + 1.2 * frac)))


def simulate_game(gid: int, seed: int = 0, items: Sequence[str] | None = None) -> Game:
    """Simulate one negotiation. Deterministic in ``(seed, gid)``; ``items`` restricts the goods that may be
    in the pool (default: all of :data:`ITEMS`; at least 3)."""
    if isinstance(gid, bool) or not isinstance(gid, (int, np.integer)):
        raise TypeError(f"gid must be an int, got {type(gid).__name__}")
    goods = tuple(check_item(i) for i in (ITEMS if items is None else items))
    if len(set(goods)) < 3:
        raise ValueError(f"a game needs at least 3 different goods, got {list(goods)}")
    rng = np.random.default_rng([int(seed), int(gid), 0])
    style_rng = np.random.default_rng([int(seed), int(gid), 1])
    pool, values = _draw_pool_and_values(goods, rng)
    private, standing = {}, {}
    for s, vals in zip(SPEAKERS, values):
        deceptive = bool(rng.random() < P_DECEPTIVE)
        has_outside = bool(rng.random() < P_OUTSIDE)
        plan_walk = deceptive and bool(rng.random() < (0.5 if has_outside else 0.2))
        private[s] = PrivateState(vals, has_outside, deceptive, plan_walk)
        standing[s] = int(rng.integers(1, 8))

    n = int(rng.integers(8, 17))
    first = SPEAKERS[int(rng.integers(2))]
    order = [first if t % 2 == 0 else ("B" if first == "A" else "A") for t in range(n)]
    msgs: list[Message] = []
    lied_about: dict = {s: {} for s in SPEAKERS}         # speaker -> item -> claimed (false) level
    last_offer: dict = {s: None for s in SPEAKERS}
    for t, sp in enumerate(order):
        other = "B" if sp == "A" else "A"
        me = private[sp]
        power = standing[sp] - standing[other]
        frac = t / (n - 1)
        m = Message(gid, t, sp, other, "chat", power=power)
        if t == n - 1:                                     # the end: accept the other's last offer or walk
            offer = last_offer[other]
            got = me.utility({i: pool[i] - offer[i] for i in pool}) if offer else 0
            need = 5 if me.has_outside else 3
            m.act = "walk" if (me.plan_walk or got < need) else "accept"
        elif t == n - 2 or (t > 0 and rng.random() < 0.28):
            target = 8.5 - 3.0 * frac + rng.normal(0, 0.7)
            m.act, m.offer = "offer", _make_offer(me, pool, target, rng)
            m.give = {i: pool[i] - m.offer[i] for i in pool}
            last_offer[sp] = m.offer
        elif t == 0 and rng.random() < 0.7:
            m.act = "greet"
        elif rng.random() < _lie_probability(me, power, frac):
            kinds = ["value"] * 6 + (["outside"] * 3 if not me.has_outside else ["outside"]) + \
                    (["promise"] * 3 if me.plan_walk else [])
            kind = kinds[int(rng.integers(len(kinds)))]
            m.act, m.lie = kind, True
            if kind == "value":
                sticky = list(lied_about[sp])
                if sticky and rng.random() < 0.5:
                    m.item = sticky[int(rng.integers(len(sticky)))]
                    m.level = lied_about[sp][m.item]
                else:
                    low = [i for i in pool if me.level(i, pool) == "low"]
                    feign = low and rng.random() < 0.65       # feigned interest in a good I do not need
                    cands = low if feign else list(pool)
                    m.item = cands[int(rng.integers(len(cands)))]
                    m.level = "low" if me.level(m.item, pool) == "high" else "high"
                    lied_about[sp][m.item] = m.level
            elif kind == "outside":
                m.outside = not me.has_outside
            # a promise that the speaker plans to break needs no fields
        else:
            u = rng.random()
            if u < 0.30:
                m.act = "chat"
            elif u < 0.78:
                m.act = "value"
                if lied_about[sp] and rng.random() < 0.5:      # a liar keeps its story straight
                    m.item = list(lied_about[sp])[int(rng.integers(len(lied_about[sp])))]
                    m.level, m.lie = lied_about[sp][m.item], True
                else:
                    top = max(pool, key=lambda i: (me.total(i, pool), rng.random()))
                    m.item = top if rng.random() < 0.5 else list(pool)[int(rng.integers(3))]
                    m.level = me.level(m.item, pool)
                    if rng.random() < P_HONEST_SLIP:            # an honest mistake: false, not a lie
                        m.level = "low" if m.level == "high" else "high"
                        m.slip = True
            elif u < 0.88:
                if me.has_outside:
                    m.act, m.outside = "outside", True
                elif rng.random() < 0.35:
                    m.act, m.outside = "outside", False
                else:
                    m.act = "chat"
            else:
                m.act = "promise" if not me.plan_walk else "chat"
        m.style = draw_style(m, me.deceptive, style_rng)
        m.text = render_text(m, m.style, pool)
        msgs.append(m)
    outcome = "deal" if msgs[-1].act == "accept" else "walk"
    game = Game(int(gid), pool, private, standing, msgs, outcome)
    listener_beliefs(game, np.random.default_rng([int(seed), int(gid), 2]))
    return game


def simulate_corpus(n_games: int, seed: int = 0, items: Sequence[str] | None = None) -> Corpus:
    """``n_games`` independent negotiations (game ids 0..n_games-1), deterministic in ``seed``."""
    if isinstance(n_games, bool) or not isinstance(n_games, (int, np.integer)) or n_games < 1:
        raise ValueError(f"n_games must be a positive int, got {n_games!r}")
    return Corpus([simulate_game(g, seed, items) for g in range(int(n_games))], int(seed))


# ---------------------------------------------------------------------------------------------
# public reasoning about a dialogue (used by the listener and by the context features)
# ---------------------------------------------------------------------------------------------

def check_dialogue(dialogue: object) -> list:
    """Validate a dialogue (a non-empty list of :class:`Message` with string texts) and return it as a list."""
    if isinstance(dialogue, Game):
        dialogue = dialogue.messages
    if isinstance(dialogue, (str, bytes)) or not isinstance(dialogue, Sequence):
        raise TypeError(f"a dialogue is a list of Message objects, got {type(dialogue).__name__}")
    if len(dialogue) == 0:
        raise ValueError("the dialogue is empty: it needs at least one message")
    for k, m in enumerate(dialogue):
        if not isinstance(m, Message):
            raise TypeError(f"dialogue[{k}] is {type(m).__name__}, expected a Message")
        if not isinstance(m.text, str):
            raise TypeError(f"dialogue[{k}].text is {type(m.text).__name__}, expected a string")
        if m.item is not None:
            check_item(m.item)
    return list(dialogue)


def claims_conflict(earlier: Message, later: Message) -> bool:
    """Two claims by one speaker that cannot both be true: the same good called 'high' and then 'low' (or the
    reverse), or having an outside option and then not (or the reverse)."""
    if earlier.act == later.act == "value":
        return earlier.item == later.item and earlier.level != later.level
    if earlier.act == later.act == "outside":
        return earlier.outside != later.outside
    return False


def contradicted_later(claim: Message, action: Message) -> bool:
    """Does a later action of the same speaker contradict ``claim``? An offer that gives away every unit of a
    good claimed 'high', or keeps every unit of a good claimed 'low'; walking away after a promise to stay;
    accepting a deal after claiming another buyer (a holder of a real option rarely settles cheaply)."""
    if claim.act == "value" and action.act == "offer" and action.offer is not None:
        kept = action.offer.get(claim.item)
        if kept is None:
            return False
        given = (action.give or {}).get(claim.item, 0)
        return (claim.level == "high" and kept == 0) or (claim.level == "low" and kept > 0 and given == 0)
    if claim.act == "promise":
        return action.act == "walk"
    if claim.act == "outside" and claim.outside:
        return action.act == "accept"
    return False


def listener_beliefs(game: Game, rng: np.random.Generator) -> Game:
    """Fill ``belief`` and ``suspected`` for every message, from public information up to that message.

    The heuristic: a low prior (most messages are true), raised by a claim that conflicts with what the
    speaker said before, by sincerity words ("trust me" protests too much), by a weaker trader claiming
    another buyer, by promises, and by a grudge against a speaker already suspected; plus the listener's
    own noise."""
    msgs = check_dialogue(game.messages)
    for t, m in enumerate(msgs):
        before = [d for d in msgs[:t] if d.speaker == m.speaker]
        z = LISTENER_BIAS
        z += 2.0 * any(claims_conflict(d, m) for d in before)
        low = m.text.lower()
        z += 1.3 * any(w.lower().rstrip(",:") in low for w in SINCERE)
        z += 1.0 * (m.act == "outside" and bool(m.outside) and m.power < 0)
        z += 0.6 * (m.act == "promise")
        z += 0.7 * min(2, sum(d.suspected for d in before))
        z += rng.normal(0.0, 1.0)
        m.belief = float(1.0 / (1.0 + math.exp(-z)))
        m.suspected = m.belief > 0.5
    return game


def rerender(corpus: Corpus, avoid: Callable[[list], Sequence[float]] | None = None, k: int = 8, seed: int = 0,
             only_lies: bool = True) -> Corpus:
    """A copy of ``corpus`` with messages re-worded. For each lie (or every message, ``only_lies=False``) there are
    ``k`` candidate wordings: the original and ``k - 1`` more drawn from the speaker's usual style distribution. With
    ``avoid`` (a function that scores a list of texts, such as a detector's ``score``) the speaker sends the candidate
    scored lowest; without it, the last new one (a plain re-wording). The content, the truth and the game are
    unchanged; the listener re-reads the new words."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    plans = []                                 # (game index, message index, [(text, style), ...])
    new_games = []
    for gi, g in enumerate(corpus.games):
        rng = np.random.default_rng([int(corpus.seed), g.gid, 3, int(seed)])
        msgs = []
        for mi, m in enumerate(g.messages):
            m2 = replace(m, style=dict(m.style))
            if m.lie or not only_lies:
                deceptive = g.private[m.speaker].deceptive
                cands = [(m.text, dict(m.style))]          # the original wording is one of the candidates
                for _ in range(k - 1):
                    st = draw_style(m2, deceptive, rng)
                    cands.append((render_text(m2, st, g.pool), st))
                plans.append((gi, mi, cands))
            msgs.append(m2)
        new_games.append(Game(g.gid, dict(g.pool), g.private, dict(g.standing), msgs, g.outcome))
    if plans:
        texts = [t for _, _, cands in plans for t, _ in cands]
        if avoid is None:
            picks = [k - 1] * len(plans)
        else:
            scores = np.asarray(avoid(texts), dtype=float)
            if scores.shape != (len(texts),):
                raise ValueError(f"avoid must return one score per text ({len(texts)}), got shape {scores.shape}")
            picks = [int(np.argmin(scores[j * k:(j + 1) * k])) for j in range(len(plans))]
        for (gi, mi, cands), pick in zip(plans, picks):
            m2 = new_games[gi].messages[mi]
            m2.text, m2.style = cands[pick]
    for g2 in new_games:
        listener_beliefs(g2, np.random.default_rng([int(corpus.seed), g2.gid, 2]))
    return Corpus(new_games, corpus.seed)


def outcome_counts(lie: Sequence, suspected: Sequence) -> dict:
    """Counts of the paper's four outcomes: straightforward (truth, believed), cassandra (truth, suspected),
    deceived (lie, believed) and caught (lie, suspected)."""
    lie, sus = np.asarray(lie).astype(bool), np.asarray(suspected).astype(bool)
    if lie.shape != sus.shape or lie.ndim != 1:
        raise ValueError(f"lie and suspected must be 1-D of the same length, got {lie.shape} and {sus.shape}")
    return {"straightforward": int((~lie & ~sus).sum()), "cassandra": int((~lie & sus).sum()),
            "deceived": int((lie & ~sus).sum()), "caught": int((lie & sus).sum())}
