"""Lesson 08: bad input to the lesson's utilities gives a clear error that says what to do (found by a hostile
review: these used to raise scikit-learn's or NumPy's own messages, or nothing)."""

from __future__ import annotations

import numpy as np
import pytest

from utils.negotiation.detectors import ContextDetector, TextDetector, context_features, split_games, text_lie_scores
from utils.negotiation.generator import boosted_scores, run_generator
from utils.negotiation.simulator import Message, check_dialogue, simulate_corpus, simulate_game


@pytest.fixture(scope="module")
def small():
    c = simulate_corpus(20, seed=0)
    return c, c.subset(range(14)), c.subset(range(14, 20))


CALLS = [
    ("unknown item", lambda c, tr, te: simulate_game(0, items=("grain", "gold", "salt")), ValueError, "unknown item"),
    ("two goods", lambda c, tr, te: simulate_game(0, items=("grain", "wool")), ValueError, "at least 3"),
    ("seed a string", lambda c, tr, te: simulate_game(0, seed="a"), ValueError, "non-negative int"),
    ("negative seed", lambda c, tr, te: simulate_corpus(3, seed=-1), ValueError, "non-negative int"),
    ("empty dialogue", lambda c, tr, te: check_dialogue([]), ValueError, "empty"),
    ("dialogue of strings", lambda c, tr, te: check_dialogue(["hello"]), TypeError, "expected a message"),
    ("empty test texts", lambda c, tr, te: text_lie_scores(tr.texts, tr.lie, []), ValueError, "empty"),
    ("a non-string message", lambda c, tr, te: text_lie_scores(tr.texts[:-1] + [None], tr.lie, te.texts), TypeError,
     "expected a string"),
    ("labels of wrong length", lambda c, tr, te: text_lie_scores(tr.texts, tr.lie[:-1], te.texts), ValueError,
     "labels for"),
    ("score before fit", lambda c, tr, te: TextDetector().score(["Deal."]), RuntimeError, "not fitted"),
    ("context index out of range", lambda c, tr, te: context_features(c.games[0].messages, 99), IndexError,
     "outside the dialogue"),
    ("context of an unknown item",
     lambda c, tr, te: context_features([Message(0, 0, "A", "B", "value", "x", item="gold", level="high")], 0),
     ValueError, "unknown item"),
    ("ctx with the wrong rows", lambda c, tr, te: ContextDetector().fit(tr.texts, np.zeros((3, 4)), tr.lie),
     ValueError, "one row of 4"),
    ("ctx with 3 columns", lambda c, tr, te: ContextDetector().fit(tr.texts, np.zeros((len(tr), 3)), tr.lie),
     ValueError, "one row of 4"),
    ("split of one game", lambda c, tr, te: split_games(1, 0.3), ValueError, ">= 2"),
    ("generator on an empty test corpus", lambda c, tr, te: run_generator(tr, c.subset([]), "state", epochs=1),
     ValueError, "no messages"),
    ("boosted read-out, mismatched columns", lambda c, tr, te: boosted_scores(np.zeros((4, 3)), [0, 1, 0, 1],
                                                                              np.zeros((2, 2))), ValueError, "columns"),
]


@pytest.mark.parametrize("name,call,exc,phrase", CALLS, ids=[c[0] for c in CALLS])
def test_bad_input_gives_a_clear_error(small, name, call, exc, phrase):
    with pytest.raises(exc) as err:
        call(*small)
    assert phrase.lower() in str(err.value).lower()


def test_generator_needs_both_classes(small):
    c, tr, te = small
    no_lies = [g for g in range(len(c.games)) if not any(m.lie for m in c.games[g].messages)]
    with pytest.raises(ValueError, match="only one class"):
        run_generator(c.subset(no_lies[:3]), te, "state", epochs=1)
