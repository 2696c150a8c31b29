"""Lesson 08 simulator: determinism, labels from private state, the class balance, the listener's information,
re-wording, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from utils.negotiation.simulator import (ACTS, CLAIM_ACTS, ITEMS, Corpus, Message, check_dialogue, check_item,
                                         claims_conflict, contradicted_later, outcome_counts, rerender,
                                         simulate_corpus, simulate_game)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return simulate_corpus(300, seed=0)


def test_deterministic_and_independent_of_corpus_size(corpus):
    again = simulate_corpus(300, seed=0)
    assert corpus.texts == again.texts and (corpus.lie == again.lie).all()
    assert [m.text for m in simulate_game(17, seed=0).messages] == [m.text for m in corpus.games[17].messages]
    other = simulate_corpus(300, seed=1)
    assert corpus.texts != other.texts


def test_class_balance_is_near_the_papers(corpus):
    assert 0.03 <= corpus.lie.mean() <= 0.07
    assert 0.02 <= corpus.suspected.mean() <= 0.08
    counts = outcome_counts(corpus.lie, corpus.suspected)
    assert sum(counts.values()) == len(corpus) and all(v > 0 for v in counts.values())


def test_structure_of_a_game(corpus):
    for g in corpus.games:
        assert 8 <= len(g) <= 16 and len(g.pool) == 3 and set(g.pool) <= set(ITEMS)
        for p in g.private.values():
            assert sum(p.values[i] * n for i, n in g.pool.items()) == 10
        assert g.messages[-1].act in ("accept", "walk") and g.outcome == ("deal" if g.messages[-1].act == "accept"
                                                                          else "walk")
        speakers = [m.speaker for m in g.messages]
        assert all(a != b for a, b in zip(speakers, speakers[1:])), "turns alternate"
        for m in g.messages:
            assert m.act in ACTS and isinstance(m.text, str) and m.text
            assert m.power == g.standing[m.speaker] - g.standing[m.listener]


def test_lies_follow_from_private_state(corpus):
    for g in corpus.games:
        for m in g.messages:
            me = g.private[m.speaker]
            if m.lie:
                assert m.act in CLAIM_ACTS and me.deceptive, "only deceptive traders lie, and only in claims"
            if m.act == "value":
                false = m.level != me.level(m.item, g.pool)
                assert false == (m.lie or m.slip), "a false value claim is a lie or an honest slip"
                assert not (m.lie and m.slip)
            if m.act == "outside":
                assert (m.outside != me.has_outside) == m.lie
            if m.act == "promise":
                assert me.plan_walk == m.lie
            if m.act == "offer":
                assert all(m.offer[i] + m.give[i] == g.pool[i] for i in g.pool)
                assert not all(m.give[i] == 0 for i in g.pool), "an offer never demands everything"


def test_listener_uses_only_the_past(corpus):
    # changing the future of a dialogue cannot change the listener's belief about an earlier message
    g = corpus.games[3]
    import copy
    from utils.negotiation.simulator import listener_beliefs
    g2 = copy.deepcopy(g)
    g2.messages[-1].text = "Honestly, trust me, I swear."
    listener_beliefs(g2, np.random.default_rng([0, g.gid, 2]))
    assert [m.belief for m in g2.messages[:-1]] == [m.belief for m in g.messages[:-1]]


def test_sincerity_words_are_more_common_in_lies(corpus):
    words = ("honestly", "to be frank", "trust me", "believe me", "i swear", "truly", "straight with you")
    has = np.array([any(w in t.lower() for w in words) for t in corpus.texts])
    lie = corpus.lie.astype(bool)
    assert has[lie].mean() > 2 * has[~lie].mean()
    assert has[~lie].sum() > has[lie].sum(), "honest messages use them too (in absolute numbers, more often)"


def test_rerender_keeps_content_and_can_avoid_a_scorer(corpus):
    small = corpus.subset(range(40))
    plain = rerender(small)
    assert (plain.lie == small.lie).all() and plain.column("act").tolist() == small.column("act").tolist()
    assert [m.text for m in plain.messages if not m.lie] == [m.text for m in small.messages if not m.lie]
    length = lambda texts: np.array([len(t) for t in texts], dtype=float)  # noqa: E731
    short = rerender(small, avoid=length, k=8)
    lies = small.lie.astype(bool)
    assert length(short.texts)[lies].mean() < length(plain.texts)[lies].mean()
    with pytest.raises(ValueError, match="one score per text"):
        rerender(small, avoid=lambda texts: [0.0])
    with pytest.raises(ValueError, match="positive int"):
        rerender(small, k=0)


def test_conflicts_and_contradictions():
    v = lambda level, item="wool": Message(0, 0, "A", "B", "value", item=item, level=level)  # noqa: E731
    assert claims_conflict(v("low"), v("high")) and not claims_conflict(v("low"), v("low"))
    assert not claims_conflict(v("low"), v("high", "salt"))
    o = lambda has: Message(0, 0, "A", "B", "outside", outside=has)  # noqa: E731
    assert claims_conflict(o(True), o(False))
    give_all = Message(0, 1, "A", "B", "offer", offer={"wool": 0}, give={"wool": 2})
    keep_all = Message(0, 1, "A", "B", "offer", offer={"wool": 2}, give={"wool": 0})
    assert contradicted_later(v("high"), give_all) and not contradicted_later(v("high"), keep_all)
    assert contradicted_later(v("low"), keep_all) and not contradicted_later(v("low"), give_all)
    promise, walk = Message(0, 0, "A", "B", "promise"), Message(0, 1, "A", "B", "walk")
    assert contradicted_later(promise, walk)
    assert contradicted_later(o(True), Message(0, 1, "A", "B", "accept"))


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="unknown item 'gold'"):
        simulate_game(0, items=("grain", "gold", "salt"))
    with pytest.raises(TypeError, match="must be a string"):
        check_item(3)
    with pytest.raises(ValueError, match="at least 3"):
        simulate_game(0, items=("grain", "salt"))
    with pytest.raises(ValueError, match="empty"):
        check_dialogue([])
    with pytest.raises(TypeError, match="list of Message"):
        check_dialogue("hello")
    with pytest.raises(TypeError, match=r"dialogue\[1\] is str"):
        check_dialogue([Message(0, 0, "A", "B", "chat", text="hi"), "hello"])
    with pytest.raises(TypeError, match=r"\.text is int"):
        check_dialogue([Message(0, 0, "A", "B", "chat", text=5)])
    with pytest.raises(ValueError, match="unknown item"):
        check_dialogue([Message(0, 0, "A", "B", "value", text="x", item="gold", level="high")])
    with pytest.raises(ValueError, match="positive int"):
        simulate_corpus(0)
    with pytest.raises(ValueError, match="same length"):
        outcome_counts([0, 1], [0])


def test_restricted_goods():
    g = simulate_game(0, seed=0, items=("grain", "salt", "wool"))
    assert set(g.pool) == {"grain", "salt", "wool"}
