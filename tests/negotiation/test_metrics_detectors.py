"""Lesson 08 metrics (against scikit-learn), detectors, the generator and probe, the widget logic, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from utils.negotiation.detectors import (HINDSIGHT, REALTIME, ContextDetector, TextDetector, check_texts,
                                         context_features, context_matrix, split_games, text_lie_scores)
from utils.negotiation.generator import (PhraseVocab, condition_matrix, generate, phrase_tokens, run_generator,
                                         speaker_states, train_generator)
from utils.negotiation.metrics import rare_class_metrics, seed_rows, summarise
from utils.negotiation.simulator import Message, rerender, simulate_corpus
from utils.negotiation.widget import dialogue_rows, game_offsets, negotiation_explorer, render_dialogue


@pytest.fixture(scope="module")
def split():
    c = simulate_corpus(240, seed=3)
    tr, te = split_games(240, 0.3, seed=3)
    return c.subset(tr), c.subset(te)


# ------------------------------------------------------------------------------------ metrics

@pytest.mark.parametrize("seed", range(6))
def test_rare_class_metrics_match_scikit_learn(seed):
    g = np.random.default_rng(seed)
    n = int(g.integers(5, 200))
    y = (g.random(n) < 0.1).astype(int)
    y[0] = 1
    s = np.round(g.random(n), 1)               # coarse scores: many ties
    thr = float(g.choice([0.3, 0.5, 0.7]))
    got = rare_class_metrics(y, s, threshold=thr)
    pred = (s >= thr).astype(int)
    assert got["precision"] == pytest.approx(precision_score(y, pred, zero_division=0))
    assert got["recall"] == pytest.approx(recall_score(y, pred, zero_division=0))
    assert got["f1_lie"] == pytest.approx(f1_score(y, pred, zero_division=0))
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert got["pr_auc"] == pytest.approx(average_precision_score(y, s))
    assert all(type(v) is float for v in got.values())


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="empty"):
        rare_class_metrics([], [])
    with pytest.raises(ValueError, match="only 0"):
        rare_class_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="one score per message"):
        rare_class_metrics([0, 1], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        rare_class_metrics([0, 1], [0.1, float("nan")])


def test_summaries():
    s = summarise([0.1, 0.2, 0.3])
    assert s["mean"] == pytest.approx(0.2) and s["sd"] == pytest.approx(0.1) and s["n"] == 3
    rows = seed_rows({"a": [{"f1_lie": 0.1, "pr_auc": 0.2}, {"f1_lie": 0.3, "pr_auc": 0.4}]})
    assert rows == [("a", "0.200 ± 0.141 [0.100, 0.300]", "0.300 ± 0.141 [0.200, 0.400]")]
    with pytest.raises(ValueError):
        summarise([])


# ------------------------------------------------------------------------------------ detectors

def test_text_detector_beats_chance_and_matches_the_function(split):
    train, test = split
    s = text_lie_scores(train.texts, train.lie, test.texts)
    assert s.shape == (len(test),) and ((0 <= s) & (s <= 1)).all()
    assert rare_class_metrics(test.lie, s)["pr_auc"] > 2 * test.lie.mean()
    det = TextDetector().fit(train.texts, train.lie)
    assert np.allclose(det.score(test.texts), s)
    up, down = det.top_features(5)
    assert len(up) == 5 and up[0][1] > 0 > down[0][1]


def test_text_detector_bad_input(split):
    train, test = split
    with pytest.raises(TypeError, match=r"test_texts\[1\] is int"):
        text_lie_scores(train.texts, train.lie, ["fine", 7])
    with pytest.raises(ValueError, match="empty"):
        text_lie_scores(train.texts, train.lie, [])
    with pytest.raises(TypeError, match="one string"):
        check_texts("a single message")
    with pytest.raises(ValueError, match="only one class"):
        text_lie_scores(train.texts, np.zeros(len(train), dtype=int), test.texts)
    with pytest.raises(ValueError, match="labels for"):
        text_lie_scores(train.texts, train.lie[:-1], test.texts)


def test_context_features_and_detector(split):
    train, test = split
    X = context_matrix(test)
    assert X.shape == (len(test), 4)
    assert set(np.unique(X[:, 0])) <= {0.0, 1.0} and set(np.unique(X[:, 1])) <= {0.0, 1.0}
    assert (X[:, 2] == test.column("power")).all()
    det = ContextDetector(HINDSIGHT).fit(train.texts, context_matrix(train), train.lie)
    s = det.score(test.texts, X)
    assert s.shape == (len(test),)
    assert set(det.context_weights()) == {"said_before", "later_did", "power", "turn"}
    rt = ContextDetector(REALTIME, text=False).fit(train.texts, context_matrix(train), train.lie)
    assert set(rt.context_weights()) == {"said_before", "power", "turn"}


def test_context_features_never_read_labels(split):
    _, test = split
    g = test.games[0]
    import copy
    flipped = copy.deepcopy(g.messages)
    for m in flipped:
        m.lie, m.suspected, m.belief = not m.lie, not m.suspected, 1 - m.belief
    for i in range(len(g.messages)):
        assert (context_features(g.messages, i) == context_features(flipped, i)).all()


def test_context_features_bad_input(split):
    _, test = split
    with pytest.raises(ValueError, match="empty"):
        context_features([], 0)
    with pytest.raises(IndexError, match="outside the dialogue"):
        context_features(test.games[0].messages, 99)
    with pytest.raises(TypeError, match="expected a Message"):
        context_features([{"text": "hi"}], 0)


def test_split_is_by_game():
    tr, te = split_games(100, 0.3, seed=1)
    assert len(te) == 30 and not set(tr) & set(te) and set(tr) | set(te) == set(range(100))
    with pytest.raises(ValueError):
        split_games(10, 1.5)


# ------------------------------------------------------------------------------------ generator and probe

def test_phrase_tokens_round_trip(split):
    train, _ = split
    from utils.negotiation.generator import _style_from_tokens
    from utils.negotiation.simulator import render_text
    for m in train.messages[:200]:
        assert render_text(m, _style_from_tokens(phrase_tokens(m))) == m.text


def test_condition_matrix_variants(split):
    train, _ = split
    a, b, c = (condition_matrix(train, v) for v in ("intent", "state", "text-only"))
    assert a.shape == b.shape == c.shape and a.shape[0] == len(train)
    assert (a[:, -1] == train.lie).all() and (b[:, -1] == 0).all() and (c == 0).all()
    assert (a[:, :-1] == b[:, :-1]).all()
    with pytest.raises(ValueError, match="unknown variant"):
        condition_matrix(train, "mind-reading")


def test_generator_trains_samples_and_probe_reads_the_intent(split):
    train, test = split
    run = run_generator(train, test, "intent", epochs=2, seed=0)
    assert run.losses[-1] < run.losses[0]
    assert rare_class_metrics(test.lie, run.test_scores)["pr_auc"] > 0.9
    msgs = test.messages[:5]
    texts = generate(run.model, condition_matrix(test, "intent")[:5], run.vocab, msgs, seed=0)
    assert len(texts) == 5 and all(isinstance(t, str) and t for t in texts)
    for m, t in zip(msgs, texts):                  # the sample says what the plan says
        if m.item:
            assert m.item in t
    states = speaker_states(run.model, condition_matrix(test, "intent"))
    assert states.shape == (len(test), 32)
    blind = run_generator(train, test, "text-only", seed=0, trained=False)
    assert np.ptp(blind.test_scores) < 1e-9, "no conditioning: every message gets the same score"


def test_generator_bad_input(split):
    train, _ = split
    vocab = PhraseVocab(train.messages)
    with pytest.raises(ValueError, match="cond must be"):
        train_generator(np.zeros((3, 27)), train.messages, vocab, epochs=1)
    with pytest.raises(ValueError, match="at least one message"):
        PhraseVocab([])
    with pytest.raises(TypeError, match="expected a Message"):
        phrase_tokens("Deal.")
    with pytest.raises(ValueError, match="wording record"):
        phrase_tokens(Message(0, 0, "A", "B", "chat", text="hi"))


# ------------------------------------------------------------------------------------ widget logic

def test_dialogue_rows_and_render(split):
    _, test = split
    scores = {"text": np.linspace(0, 1, len(test)), "probe": test.lie.astype(float)}
    rows = dialogue_rows(test, 2, scores, upto=3)
    g = test.games[2]
    assert len(rows) == 3 and rows[0]["text"] == g.messages[0].text
    start = game_offsets(test)[g.gid]
    assert rows[1]["scores"]["text"] == round(float(scores["text"][start + 1]), 2)
    assert rows[2]["truth"] == ("LIE" if g.messages[2].lie else "truth")
    assert len(dialogue_rows(test, 2, scores, upto=99)) == len(g.messages)
    a, b = render_dialogue(test, 2, scores, 3), render_dialogue(test, 2, scores, 4)
    assert a != b and "<table" in a and "outside option" in a
    assert render_dialogue(test, 3, scores, 3) != a


def test_widget_logic_bad_input(split):
    _, test = split
    with pytest.raises(ValueError, match="one score per corpus message"):
        dialogue_rows(test, 0, {"text": np.zeros(3)})
    with pytest.raises(IndexError, match="game_index"):
        dialogue_rows(test, len(test.games), {})


def test_explorer_builds_and_reacts(split):
    _, test = split
    panel = negotiation_explorer(test, {"text": np.zeros(len(test))})
    controls = panel.children[1].children
    game, step, button = controls
    out = panel.children[2]
    assert game.max == len(test.games) - 1 and step.value == 1
    button.click()
    assert step.value == 2
    game.value = 1
    assert out is not None


def test_rerender_against_a_detector_lowers_its_scores_on_lies(split):
    train, test = split
    det = TextDetector().fit(train.texts, train.lie)
    ev = rerender(test, avoid=det.score)
    lies = test.lie.astype(bool)
    before, after = det.score(test.texts)[lies], det.score(ev.texts)[lies]
    assert (after <= before + 1e-12).all(), "the original wording is a candidate, so no lie scores higher"
    assert after.mean() < before.mean()
    assert (ev.lie == test.lie).all()
