"""Checks for lesson 02 (attacks on text, adversarial training, dynamic adversarial data collection).

* ``check_greedy_attack``: the greedy word-substitution attack under a budget of ``k`` changed words.
* ``check_adversarial_augment``: one epoch's training set for adversarial training (clean + attacked, true labels).
* ``check_dynamic_annotator``: an annotator that submits examples fooling the model it is given.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from utils.text.collection import Batch, MLPModel, PhenomenaTask, fit_model
from utils.text.sentiment import (TextClassifier, Vocab, detokenize, load_sentiment, load_synonyms, make_text_model, tokenize,
                    train_text_model)
from utils.checks import Case, CheckFailed, expect, run_check

__all__ = ["check_greedy_attack", "check_adversarial_augment", "check_dynamic_annotator"]


# ------------------------------------------------------------------------------------ references

def _reference_greedy_attack(model, text: str, label: int, table, k: int) -> str:
    tokens = tokenize(text)
    changed: set[int] = set()
    p_true = model.predict_proba([detokenize(tokens)])[0, label].item()
    for _ in range(k):
        if p_true < 0.5:                       # already misclassified: stop
            break
        cands = [(i, s) for i, t in enumerate(tokens) if i not in changed for s in table.get(t, [])]
        if not cands:
            break
        texts = [detokenize(tokens[:i] + [s] + tokens[i + 1:]) for i, s in cands]
        probs = model.predict_proba(texts)[:, label]
        j = int(torch.argmin(probs))
        if probs[j].item() >= p_true:          # no substitution helps any more
            break
        i, s = cands[j]
        tokens[i] = s
        changed.add(i)
        p_true = probs[j].item()
    return detokenize(tokens)


def _reference_adversarial_augment(model, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    return list(texts) + adv, list(labels) + list(labels)


def _reference_dynamic_annotator(task, model, budget: int, tries: int, rng) -> Batch:
    cands = task.propose(budget * tries, rng)
    wrong = (model.predict(cands.x) != cands.y).reshape(budget, tries)
    pick = np.where(wrong.any(1), wrong.argmax(1), tries - 1)   # first fooling try, else the last try
    return cands[np.arange(budget) * tries + pick]


# ------------------------------------------------------------------------- a small model to attack

@functools.lru_cache(maxsize=1)
def _check_model() -> TextClassifier:
    """A small sentiment model trained on part of the course data (fixed seed), shared by the checks."""
    data = load_sentiment()
    table = load_synonyms()
    vocab = Vocab.build(data.train_texts, [w for key, subs in table.items() for w in (key, *subs)])
    with torch.random.fork_rng():
        model = make_text_model(vocab, dim=16, seed=0)
        train_text_model(model, data.train_texts[:400], data.train_labels[:400], epochs=8, lr=0.03, seed=0)
    return model


_ATTACK_SENTENCES = [
    ("the film was great and the acting was good.", 1), ("i loved the pasta, it was really excellent.", 1),
    ("the service was terrible.", 0), ("what a boring film!", 0), ("the phone was amazing.", 1),
    ("i hated the ending last night.", 0), ("a very enjoyable place, i will be back soon.", 1),
    ("the plot was dull and the script was weak.", 0), ("overall, a wonderful dinner.", 1),
    ("the battery was poor.", 0), ("honestly, the food was good.", 1), ("the screen was bad.", 0),
    ("i enjoyed the movie.", 1), ("this product is awful.", 0), ("the staff was lovely.", 1),
    ("the soup was bland and the steak was mediocre.", 0), ("a great phone, i would buy it again.", 1),
    ("the meal was horrible.", 0), ("the camera felt impressive and charming.", 1), ("i disliked the app.", 0),
]


def _attack_validator(model, text, label, table, k, expect_success_at_least=None):
    orig = tokenize(text)

    def validate(got) -> None:
        expect(isinstance(got, str), f"return the adversarial sentence as a string, got {type(got).__name__}")
        new = tokenize(got)
        expect(len(new) == len(orig), f"the attack must replace words one for one; {text!r} has {len(orig)} tokens "
                                      f"but your sentence {got!r} has {len(new)}")
        diff = [i for i, (a, b) in enumerate(zip(orig, new)) if a != b]
        expect(len(diff) <= k, f"{len(diff)} words changed in {got!r}, but the budget is k={k}")
        for i in diff:
            expect(new[i] in table.get(orig[i], []),
                   f"{orig[i]!r} was replaced by {new[i]!r}, which is not one of its substitutions in the table")
    return validate


def _success_validator(model, items, table, k, n_ref):
    def validate(got) -> None:
        expect(isinstance(got, list) and len(got) == len(items), "internal: expected one sentence per input")
        for (t, y), g in zip(items, got):
            _attack_validator(model, t, y, table, k)(g)
        preds = model.predict(got).tolist()
        n = sum(int(p != y) for p, (_, y) in zip(preds, items))
        expect(n >= n_ref - 1, f"your attack fooled the model on {n} of {len(items)} sentences at k={k}; the greedy "
                               f"attack fools it on {n_ref}. Pick, at every step, the substitution that lowers the "
                               f"probability of the true label the most, and keep going until k words are changed "
                               f"or the model is fooled.")
    return validate


def check_greedy_attack(greedy_attack) -> None:
    """``greedy_attack(model, text, label, table, k) -> str``: at most ``k`` table substitutions, greedy, and as
    strong as the reference (within one sentence on 20 sentences)."""
    model = _check_model()
    table = load_synonyms()
    one = "one sentence"
    cases = []
    for text in ["", "the parking was fine.", "zzz qqq ... !!"]:
        cases.append(Case(f"no substitutable word: {text!r} comes back unchanged", args=(one, model, text, 1, table, 2),
                          validate=lambda got, e=text: expect(isinstance(got, str) and tokenize(got) == tokenize(e),
                                                              f"expected {e!r} unchanged, got {got!r}")))
    cases.append(Case("k=0 changes nothing", args=(one, model, "the film was great.", 1, table, 0),
                      validate=lambda got: expect(isinstance(got, str) and tokenize(got) == tokenize("the film was great."),
                                                  f"with k=0 the sentence must come back unchanged, got {got!r}")))
    for text, label in _ATTACK_SENTENCES[:3]:
        cases.append(Case(f"budget and table respected on {text!r}, k=1", args=(one, model, text, label, table, 1),
                          validate=_attack_validator(model, text, label, table, 1)))

    def run_all(attack, k):
        return [attack(model, t, y, table, k) for t, y in _ATTACK_SENTENCES]

    for k in (1, 3):
        ref = run_all(_reference_greedy_attack, k)
        n_ref = sum(int(p != y) for p, (_, y) in zip(model.predict(ref).tolist(), _ATTACK_SENTENCES))
        cases.append(Case(f"as strong as greedy on 20 sentences at k={k}", args=("all sentences", k),
                          validate=_success_validator(model, _ATTACK_SENTENCES, table, k, n_ref)))

    def call(mode, *args):
        return greedy_attack(*args) if mode == one else run_all(greedy_attack, *args)

    run_check("greedy_attack", call, cases,
              hint="Tokenise, then repeat at most k times: try every table substitution at every unchanged "
                   "position, keep the one with the lowest P(true label), stop early when nothing helps or the "
                   "model is already wrong. Return detokenize(tokens).")


def check_adversarial_augment(adversarial_augment) -> None:
    """``adversarial_augment(model, texts, labels, attack) -> (texts', labels')``: the clean sentences, then each
    sentence attacked against ``model``, every one with its true label."""
    model = _check_model()
    table = load_synonyms()
    texts = [t for t, _ in _ATTACK_SENTENCES[:8]]
    labels = [y for _, y in _ATTACK_SENTENCES[:8]]

    def attack(m, t, y):
        return _reference_greedy_attack(m, t, y, table, 2)

    def fake_attack(m, t, y):  # recognisable output, and it records that it got the true label and the model
        if m is not model:
            raise CheckFailed("attack the model you were given (the current model), not another one")
        return f"{t} [attacked as {y}]"

    cases = [
        Case("8 sentences, a marker attack", args=(model, texts, labels, fake_attack),
             expected=_reference_adversarial_augment(model, texts, labels, fake_attack),
             hint="Return (clean texts + attacked texts, labels + labels): the attacked copy of a sentence keeps "
                  "its true label, and the attack is given the true label."),
        Case("8 sentences, the greedy attack at k=2", args=(model, texts, labels, attack),
             expected=_reference_adversarial_augment(model, texts, labels, attack),
             hint="Each attacked copy keeps the true label of its sentence (not the model's prediction); return the "
                  "clean sentences first, then the attacked ones in the same order."),
        Case("one sentence", args=(model, texts[:1], labels[:1], fake_attack),
             expected=_reference_adversarial_augment(model, texts[:1], labels[:1], fake_attack)),
    ]

    def call(m, t, y, a):
        out = adversarial_augment(m, t, y, a)
        if isinstance(out, tuple) and len(out) == 2:
            return [list(out[0]), [int(v) for v in out[1]]]
        return out

    call.__name__ = "adversarial_augment"
    for c in cases:
        c.expected = [list(c.expected[0]), list(c.expected[1])]
    run_check("adversarial_augment", call, cases)


class _CountingTask:
    """Wraps a task and fails the check if the annotator draws more than ``limit`` candidates."""

    def __init__(self, task: PhenomenaTask, limit: int):
        self.task, self.limit, self.drawn = task, limit, 0

    def propose(self, n, rng):
        self.drawn += int(n)
        if self.drawn > self.limit:
            raise CheckFailed(f"you drew {self.drawn} candidates, more than budget * tries = {self.limit}: each "
                              f"example gets at most `tries` attempts")
        return self.task.propose(n, rng)

    def __getattr__(self, name):
        return getattr(self.task, name)


class _AlwaysRight:
    """A model that knows the task: nothing fools it."""

    def __init__(self, task: PhenomenaTask):
        self.task = task

    def predict(self, x):
        x = np.asarray(x)
        d = ((x[:, None, :-2] - self.task.signatures[None]) ** 2).sum(-1)
        return self.task.label(x, d.argmin(1))


@functools.lru_cache(maxsize=1)
def _annotator_setup() -> tuple[PhenomenaTask, MLPModel, float]:
    task = PhenomenaTask(seed=5)
    model = fit_model(task.sample(150, np.random.default_rng(0)), seed=0)
    err = model.error(task.sample(4000, np.random.default_rng(1)))
    return task, model, err


def _annotator_validator(task, model, budget, tries, min_fool, what):
    def validate(got) -> None:
        expect(isinstance(got, Batch), f"return a Batch(x, y, phenomenon) as task.propose does, got {type(got).__name__}")
        expect(len(got) == budget, f"return exactly budget={budget} examples (one per annotation slot), got {len(got)}")
        expect(np.array_equal(got.y, task.label(got.x, got.phenomenon)),
               "some labels are not the true labels: keep the label that came with each proposal (the annotator "
               "knows the answer); never use the model's prediction as the label")
        expect(len(np.unique(got.x, axis=0)) >= 0.9 * budget, "many examples are duplicates: each slot needs its own proposal")
        rate = float((model.predict(got.x) != got.y).mean())
        expect(rate >= min_fool, f"only {rate:.0%} of your examples fool the model ({what}); expected at least "
                                 f"{min_fool:.0%}. Submit, for each slot, the first candidate the model gets wrong.")
    return validate


def check_dynamic_annotator(dynamic_annotator) -> None:
    """``dynamic_annotator(task, model, budget, tries, rng) -> Batch``: ``budget`` examples; for each, up to
    ``tries`` proposals, submitting the first that ``model`` gets wrong (else the last one)."""
    task, model, err = _annotator_setup()
    budget, tries = 200, 8
    expected_rate = 1 - (1 - err) ** tries
    cases = [
        Case(f"a model with {err:.0%} natural error, budget {budget}, {tries} tries",
             args=(_CountingTask(task, budget * tries), model, budget, tries, np.random.default_rng(3)),
             validate=_annotator_validator(task, model, budget, tries, expected_rate - 0.12,
                                           f"about {expected_rate:.0%} should with {tries} tries each")),
        Case("one try each: no better than the natural error rate, still budget examples",
             args=(_CountingTask(task, 50), model, 50, 1, np.random.default_rng(4)),
             validate=_annotator_validator(task, model, 50, 1, 0.0, "one try each")),
        Case("a model that is never wrong: give up after `tries` and submit the last try",
             args=(_CountingTask(task, 30 * 5), _AlwaysRight(task), 30, 5, np.random.default_rng(5)),
             validate=_annotator_validator(task, _AlwaysRight(task), 30, 5, 0.0, "none can")),
    ]
    run_check("dynamic_annotator", dynamic_annotator, cases,
              hint="Draw candidates with task.propose(budget * tries, rng) (or `tries` at a time), ask "
                   "model.predict which ones it gets wrong, and for each slot keep the first wrong one, else the "
                   "last candidate. Labels come from the proposals, never from the model.")
