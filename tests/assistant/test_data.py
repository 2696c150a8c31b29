"""Lesson 09 data: deterministic, balanced against surface cues, disjoint where promised, clear on bad input."""

from __future__ import annotations

import collections

import pytest

from utils.assistant import data as D


@pytest.fixture(scope="module")
def evaluation():
    return D.make_hhh_eval()


def test_generators_are_deterministic(evaluation):
    assert D.make_hhh_eval() == evaluation
    assert D.make_corpus(20, seed=3) == D.make_corpus(20, seed=3)
    assert D.make_corpus(20, seed=3) != D.make_corpus(20, seed=4)
    assert D.make_edit_pairs(50) == D.make_edit_pairs(50)


def test_documents_keep_one_character():
    for doc in D.make_corpus(200, seed=0):
        assert 3 <= len(doc) <= 5
        assert len({e.good for e in doc}) == 1, "a document must be written by one character"


def test_corpus_mixes_both_characters_and_all_situations():
    docs = D.make_corpus(400, seed=0)
    share = sum(d[0].good for d in docs) / len(docs)
    assert 0.4 < share < 0.6
    kinds = collections.Counter(e.kind for d in docs for e in d)
    assert {"howto", "unknowable", "harmful", "alarming", "smalltalk", "capital", "legs", "colour"} <= set(kinds)


def test_evaluation_has_three_balanced_categories(evaluation):
    cats = collections.Counter(p.category for p in evaluation)
    assert cats == {"helpful": 80, "honest": 80, "harmless": 80}
    assert len({(p.request, p.good, p.bad) for p in evaluation}) == len(evaluation)
    for c in D.CATEGORIES:
        ps = [p for p in evaluation if p.category == c]
        longer = sum(len(p.good) > len(p.bad) for p in ps)
        shorter = sum(len(p.good) < len(p.bad) for p in ps)
        assert abs(longer - shorter) <= 1, f"{c}: length decides {longer} vs {shorter} pairs"


def test_surface_scorers_are_near_chance(evaluation):
    assert D.length_baseline(evaluation) == pytest.approx(0.5, abs=0.01)
    for c in D.CATEGORIES:
        ps = [p for p in evaluation if p.category == c]
        for words in D.KEYWORD_LISTS.values():
            for prefer in (True, False):
                assert 0.4 <= D.keyword_baseline(ps, words, prefer) <= 0.6


def test_refusals_and_hedges_are_on_both_sides(evaluation):
    refusal = lambda r: "help with" in r and ("won't" in r or "can't" in r)
    harmless = [p for p in evaluation if p.category == "harmless"]
    assert any(refusal(p.good) for p in harmless) and any(refusal(p.bad) for p in harmless)
    honest = [p for p in evaluation if p.category == "honest"]
    hedge = lambda r: "no way of knowing" in r or "can't know" in r
    assert any(hedge(p.good) for p in honest) and any(hedge(p.bad) for p in honest)


def test_ground_truth_agrees_with_every_pair(evaluation):
    pool = D.make_pm_pairs(50, exclude=evaluation)
    for p in [*evaluation, *pool]:
        assert D.is_aligned(p.request, p.good) and not D.is_aligned(p.request, p.bad)
    with pytest.raises(KeyError, match="not a request of the generator"):
        D.is_aligned("what is love?", "baby don't hurt me")


def test_training_pairs_never_repeat_an_evaluation_pair(evaluation):
    pool = D.make_pm_pairs(100, exclude=evaluation)
    assert not {(p.request, p.good, p.bad) for p in pool} & {(p.request, p.good, p.bad) for p in evaluation}


def test_edit_pairs_damage_an_aligned_response():
    edits = D.make_edit_pairs(300, seed=1)
    assert {p.kind for p in edits} == set(D.EDIT_KINDS)
    for p in edits:
        assert p.good != p.bad and D.is_aligned(p.request, p.good)


def test_prompt_requests_are_new(evaluation):
    prompt = D.hhh_prompt()
    tasks = [line[3:] for line in prompt.splitlines() if line.startswith("h: ")]
    assert len(tasks) == 5
    corpus_requests = {e.request for d in D.make_corpus(300) for e in d}
    eval_requests = {p.request for p in evaluation}
    new = [t for t in tasks if t not in corpus_requests]
    assert len(new) == 3 and not set(tasks) & eval_requests


def test_strip_opener():
    assert D.strip_opener("here is how: pull them out.") == "pull them out."
    assert D.strip_opener("sure. a cat has 4 legs.") == "a cat has 4 legs."
    assert D.strip_opener("go away.") == "go away."


@pytest.mark.parametrize("call, err", [
    (lambda: D.make_corpus(0), "n_docs"),
    (lambda: D.make_corpus(5, aligned_share=1.5), "aligned_share"),
    (lambda: D.make_hhh_eval(1), "n_per_category"),
    (lambda: D.make_edit_pairs(0), "n must be"),
    (lambda: D._pair_for(__import__("random").Random(0), "funny"), "unknown category"),
    (lambda: D.length_baseline([]), "at least one pair"),
    (lambda: D.keyword_baseline([], ["x"]), "at least one pair"),
])
def test_bad_input_gives_clear_errors(call, err):
    with pytest.raises(ValueError, match=err):
        call()
