"""Checks for lesson 02 (attacks on text, adversarial training, dynamic adversarial data collection).

* ``check_greedy_attack``: the greedy word-substitution attack under a budget of ``k`` changed words.
* ``check_adversarial_training_step``: one mini-batch step of adversarial training (attack, then clean + attacked).
* ``check_dynamic_annotator``: an annotator that submits examples fooling the model it is given.
* ``check_collection_rounds``: the round loop of data collection (which model the annotator attacks, retraining).

Each check compares the learner's function with the course's one trusted implementation
(:func:`utils.text.sentiment.greedy_attack`, :func:`utils.text.sentiment.adversarial_training_step`,
:func:`utils.text.collection.dynamic_annotator`, :func:`utils.text.collection.collection_rounds`) and, when they
differ, says which typical mistake explains the difference. Every case is bounded in time (``timeout_s``).
"""

from __future__ import annotations

import copy
import functools
from collections import Counter

import numpy as np
import torch

from utils.checks import Case, CheckFailed, expect, plain, run_check
from utils.text.collection import (STRATEGIES, Batch, MLPModel, PhenomenaTask, collection_rounds, dynamic_annotator,
                                   fit_model)
from utils.text.sentiment import (TextClassifier, Vocab, adversarial_training_step, greedy_attack, load_sentiment,
                                  load_synonyms, make_text_model, tokenize, train_text_model)

__all__ = ["check_greedy_attack", "check_adversarial_training_step", "check_dynamic_annotator",
           "check_collection_rounds"]

CHECK_SECONDS = 20.0  # per case; the trusted implementations answer every case in well under a second


def _describe(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"a torch tensor of shape {tuple(v.shape)}"
    if isinstance(v, np.ndarray):
        return f"a NumPy array of shape {v.shape}"
    return f"{type(v).__name__} {plain(v)!r}"[:100]


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

# sentences the check model gets wrong before any attack (a bag of words cannot read negation)
_WRONG_FROM_THE_START = [("the steak was not boring.", 1), ("the plot was not interesting.", 0),
                         ("the film was not bad.", 1), ("the service was not good.", 0)]


def _p_true(model, text: str, label: int) -> float:
    return model.predict_proba([text])[0, label].item()


# ------------------------------------------------------------------------------ exercise 1: attack

def _attack_validator(model, text: str, label: int, table, k: int, collect: list | None = None):
    """Validate one adversarial sentence against the trusted greedy attack and name the mistake.

    Breaking the rules of the attack (type, tokens, table, budget) fails at once; a weaker or over-long attack is
    reported as ``(kind, message)`` into ``collect`` when given (so a check over many sentences can name the most
    common mistake), else raised."""
    orig = tokenize(text)
    ref = greedy_attack(model, text, label, table, k)
    n_ref = sum(a != b for a, b in zip(orig, tokenize(ref)))
    p0, p_ref = _p_true(model, text, label), _p_true(model, ref, label)

    def verdict(got, n_got: int, p_got: float) -> tuple | None:
        if p0 < 0.5 and n_got > 0:
            return ("wrong from the start",
                    f"the model already gets {text!r} wrong (P(true label) = {p0:.3f} < 0.5), so the attack has "
                    f"nothing to do and returns it unchanged; you changed {n_got} word(s). Check P(true label) < 0.5 "
                    f"before the first swap, with the label you are given (not the model's prediction)")
        if p_got <= p_ref + 1e-4:
            if n_got > n_ref and p_ref < 0.5:
                return ("continued after fooling",
                        f"the model was already fooled after {n_ref} change(s) ({ref!r}), but you kept changing words "
                        f"({got!r}, {n_got} changes): stop as soon as P(true label) < 0.5, so the sentence keeps as "
                        f"much of its wording as possible")
            return None
        if p_got > p0 + 1e-6:
            detail = f"P(true) {p0:.4f} -> {p_got:.4f} on {text!r}"
            return ("raised P",
                    f"your sentence makes the model MORE sure of the true label ({detail}): at every step keep the "
                    f"swap that LOWERS P(true label) the most (argmin, not argmax)", detail, p_got - p0)
        if n_got < n_ref:
            return ("stopped early",
                    f"your attack stopped after {n_got} change(s) on {text!r} (P(true) {p_got:.3f}) while the model "
                    f"was still right and another swap still lowered P(true label); the greedy attack goes on to "
                    f"{n_ref} change(s) (P(true) {p_ref:.3f}). Repeat the step up to k times.")
        if n_got > n_ref:
            return ("useless swap",
                    f"you applied a swap that did not lower P(true label): on {text!r} the greedy attack stops after "
                    f"{n_ref} change(s) at P(true) {p_ref:.3f}, your {n_got} changes end at {p_got:.3f}. When no swap "
                    f"lowers P(true label), stop.")
        return ("not greedy",
                f"your swaps are not the greedy choice: on {text!r} your sentence {got!r} leaves P(true) at "
                f"{p_got:.3f}, the greedy choice reaches {p_ref:.3f} ({ref!r}) with as many changes. At every step "
                f"score ALL candidate swaps (every unchanged position x every substitution in the table) and keep "
                f"the lowest P(true label).")

    def validate(got) -> None:
        expect(isinstance(got, str), f"return the adversarial sentence as one string (T.detokenize(tokens)), got "
                                     f"{_describe(got)}")
        new = tokenize(got)
        expect(len(new) == len(orig), f"the attack must replace words one for one; {text!r} has {len(orig)} tokens "
                                      f"but your sentence {got!r} has {len(new)}")
        diff = [i for i, (a, b) in enumerate(zip(orig, new)) if a != b]
        for i in diff:
            if new[i] not in table.get(orig[i], []):
                twice = any(new[i] in table.get(s, []) for s in table.get(orig[i], []))
                raise CheckFailed(
                    f"{orig[i]!r} was replaced by {new[i]!r}, which is not one of its substitutions in the table"
                    + (" (it is a substitution of a substitution: you changed that position twice; remember the "
                       "positions you have changed and skip them)" if twice else ""))
        expect(len(diff) <= k, f"{len(diff)} words changed in {got!r}, but the budget is k={k} changed words")
        v = verdict(got, len(diff), _p_true(model, got, label))
        if v is not None:
            if collect is None:
                raise CheckFailed(v[1])
            collect.append(v)
    return validate


def _all_sentences_validator(model, items, table, k):
    found: list[tuple] = []
    validators = [_attack_validator(model, t, y, table, k, collect=found) for t, y in items]

    def validate(got) -> None:
        found.clear()
        expect(isinstance(got, list) and len(got) == len(items), "internal: expected one sentence per input")
        for v, g in zip(validators, got):
            v(g)
        if found:
            kinds = Counter(f[0] for f in found)
            if 0 < kinds["raised P"] < 0.75 * len(found):   # some swaps raise P(true): a poor search, not argmax
                example = max((f for f in found if f[0] == "raised P"), key=lambda f: f[3])[2]
                raise CheckFailed(f"your swaps are not the greedy choice: on {kinds['raised P']} of {len(items)} "
                                  f"sentences they even make the model more sure of the true label ({example}). "
                                  f"At every step score ALL candidate swaps (every unchanged position x every "
                                  f"substitution in the table) and keep the one with the lowest P(true label).")
            kind = max(kinds, key=lambda x: (kinds[x], -[f[0] for f in found].index(x)))
            message = next(f[1] for f in found if f[0] == kind)
            raise CheckFailed(f"{message} ({kinds[kind]} of {len(items)} sentences like this)")
    return validate


def check_greedy_attack(greedy_attack_fn, *, timeout_s: float = CHECK_SECONDS) -> None:
    """``greedy_attack(model, text, label, table, k) -> str``: at most ``k`` table substitutions, chosen greedily
    (each step the swap that lowers P(true label) most; stop when fooled or when nothing helps), compared sentence
    by sentence with the trusted :func:`utils.text.sentiment.greedy_attack`."""
    model = _check_model()
    table = load_synonyms()
    one = "one sentence"
    cases = [Case("k=0 changes nothing", args=(one, "the film was great.", 1, 0),
                  validate=_attack_validator(model, "the film was great.", 1, table, 0))]
    for k in (1, 3):
        cases.append(Case(f"20 sentences at k={k}, each compared with the greedy attack", args=("all", None, None, k),
                          validate=_all_sentences_validator(model, _ATTACK_SENTENCES, table, k)))
    wrong = [(t, y) for t, y in _WRONG_FROM_THE_START if model.predict([t]).item() != y]
    if wrong:
        t, y = wrong[0]
        cases.append(Case(f"the model already gets {t!r} wrong: nothing to change", args=(one, t, y, 2),
                          validate=_attack_validator(model, t, y, table, 2)))
    for text in ["", "the parking was fine.", "zzz qqq ... !!"]:
        cases.append(Case(f"no substitutable word: {text!r} comes back unchanged", args=(one, text, 1, 2),
                          validate=_attack_validator(model, text, 1, table, 2)))

    def call(mode, text, label, k):
        if mode == one:
            return greedy_attack_fn(model, text, label, table, k)
        return [greedy_attack_fn(model, t, y, table, k) for t, y in _ATTACK_SENTENCES]

    run_check("greedy_attack", call, cases, timeout_s=timeout_s,
              hint="Repeat at most k times: stop if P(true label) < 0.5; build every candidate that swaps one unchanged "
                   "token for one of its table entries; score them all in one predict_proba call; keep the lowest "
                   "P(true label) if it is lower than the current one, else stop.")


# --------------------------------------------------------------------- exercise 2: training step

_LR = 0.5          # plain SGD, so the update is proportional to the gradient and every mistake shows
_STALE = 0.05      # gradients left in .grad by an earlier step


class _RecordingAttack:
    """The trusted greedy attack (``k`` words), recording every call: model, sentence, label, parameters then."""

    def __init__(self, table, k: int):
        self.table, self.k, self.calls = table, k, []

    def __call__(self, model, text, label):
        params = _params(model) if isinstance(model, TextClassifier) else None
        self.calls.append((model, text, _as_label(label), params))
        return greedy_attack(model, text, _as_label(label), self.table, self.k)


def _as_label(y):
    """A label as a plain int when it is one (int, NumPy integer, one-element tensor), else unchanged."""
    if isinstance(y, torch.Tensor) and y.numel() == 1:
        y = y.item()
    return int(y) if isinstance(y, (int, np.integer)) and not isinstance(y, bool) else y


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _close(a: list[torch.Tensor], b: list[torch.Tensor], atol: float = 1e-5) -> bool:
    return all(torch.allclose(x, y, atol=atol, rtol=1e-4) for x, y in zip(a, b))


def _sgd_step(base: TextClassifier, texts: list[str], labels: list[int]) -> list[torch.Tensor]:
    """Parameters after one SGD step on the mean cross-entropy of ``texts`` (for naming mistakes only)."""
    m = copy.deepcopy(base)
    opt = torch.optim.SGD(m.parameters(), lr=_LR)
    logits = m(*m.pack(texts))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return _params(m)


def _step_validator(base: TextClassifier, texts, labels, table, k):
    ref_model = copy.deepcopy(base)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=_LR)
    attack = _RecordingAttack(table, k)
    ref_loss = adversarial_training_step(ref_model, ref_opt, list(texts), list(labels), attack)
    ref = _params(ref_model)
    start = _params(base)
    adv = [greedy_attack(base, t, y, table, k) for t, y in zip(texts, labels)]
    labels = [int(v) for v in labels]

    def mistakes():  # parameters each typical mistake would produce, with what to tell the learner
        yield ([p - _LR * _STALE * torch.ones_like(p) for p in ref],
               "old gradients were still in .grad when you stepped: call optimizer.zero_grad() before loss.backward() "
               "(PyTorch adds new gradients to the old ones)")
        yield (_sgd_step(base, list(texts), labels),
               "your update ignores the attacked sentences: the loss must include the attacked copies (mean "
               "cross-entropy over the clean AND the attacked sentences)")
        yield (_sgd_step(base, adv, labels),
               "your update leaves out the clean sentences: train on the clean and the attacked sentences together "
               "(mean cross-entropy over all 2B)")
        yield (_sgd_step(base, list(texts) + adv, labels + base.predict(adv).tolist()),
               "the attacked sentences were trained with the model's predictions as labels: each attacked copy keeps "
               "the TRUE label of its sentence (the point is to teach the model that the rewrite means the same)")
        yield (_sgd_step(base, list(texts) + adv, labels + [1 - y for y in labels]),
               "the attacked sentences were trained with flipped labels: each attacked copy keeps the TRUE label of "
               "its sentence")
        yield ([s + 2 * (r - s) for s, r in zip(start, ref)],
               "your update is twice the expected size: average the cross-entropy over all 2B sentences (or halve "
               "the sum of the clean and the attacked mean)")

    def validate(got) -> None:
        model, out, calls = got["model"], got["out"], got["calls"]
        expect(len(calls) > 0, "you never called `attack`: attack every sentence of the batch with "
                               "attack(model, text, label) before the update")
        expect(all(c[0] is model for c in calls), "attack the model you are training (the `model` argument), "
                                                  "not another one")
        used = [(c[1], c[2]) for c in calls]
        expect(Counter(t for t, _ in used) == Counter(texts),
               f"attack each sentence of the batch exactly once: you called attack {len(calls)} times for "
               f"{len(texts)} sentences")
        if Counter((t, _as_label(y)) for t, y in used) != Counter(zip(texts, labels)):
            raise CheckFailed("attack each sentence with its TRUE label, attack(model, text, label): you passed "
                              "another label (the opposite one, or the model's prediction)")
        expect(all(c[3] is not None and _close(c[3], start, atol=0) for c in calls),
               "you attacked after the update: attack the model as it is BEFORE the optimizer step, then train on "
               "what the attack returned")
        now = _params(model)
        expect(not _close(now, start, atol=0), "the parameters did not change: call optimizer.step() after "
                                               "loss.backward()")
        if not _close(now, ref):
            for params, message in mistakes():
                if _close(now, params):
                    raise CheckFailed(message)
            i = next(j for j, (a, b) in enumerate(zip(now, ref)) if not torch.allclose(a, b, atol=1e-5, rtol=1e-4))
            name = [n for n, _ in model.named_parameters()][i]
            raise CheckFailed(f"after the step, parameter {name!r} differs from one step on the mean cross-entropy "
                              f"over the B clean and B attacked sentences (true labels for both)")
        expect(isinstance(out, float), f"return the loss as a Python float (loss.item()), got {_describe(out)}")
        expect(abs(out - ref_loss) < 1e-4, f"you returned {out:.5f}, but the loss before the step is {ref_loss:.5f}: "
                                           f"return loss.item() of the mean cross-entropy over clean + attacked")
    return validate


def check_adversarial_training_step(adversarial_training_step_fn, *, timeout_s: float = CHECK_SECONDS) -> None:
    """``adversarial_training_step(model, optimizer, texts, labels, attack) -> float``: attack the current model on
    every sentence (true labels), one optimizer step on the mean cross-entropy over clean + attacked sentences,
    return that loss. Compared with :func:`utils.text.sentiment.adversarial_training_step` under plain SGD."""
    base = _check_model()
    table = load_synonyms()
    batches = [("8 sentences, greedy attack k=1", _ATTACK_SENTENCES[:8], 1),
               ("6 other sentences, greedy attack k=2", _ATTACK_SENTENCES[10:16], 2),
               ("a batch of one sentence", _ATTACK_SENTENCES[4:5], 1)]
    cases = [Case(label, args=(tuple(t for t, _ in items), tuple(y for _, y in items), k),
                  validate=_step_validator(base, [t for t, _ in items], [y for _, y in items], table, k))
             for label, items, k in batches]

    def call(texts, labels, k):
        model = copy.deepcopy(base)
        opt = torch.optim.SGD(model.parameters(), lr=_LR)
        for p in model.parameters():          # what an earlier step leaves behind
            p.grad = torch.full_like(p, _STALE)
        attack = _RecordingAttack(table, k)
        try:
            out = adversarial_training_step_fn(model, opt, list(texts), list(labels), attack)
        except RuntimeError as e:
            if "does not require grad" in str(e) or "grad_fn" in str(e):
                raise CheckFailed("your loss carries no gradient: model.predict_proba and model.predict run without "
                                  "gradients. Compute logits = model(*model.pack(sentences)) and the cross-entropy of "
                                  "those logits.") from None
            raise
        return {"model": model, "out": out, "calls": attack.calls}

    call.__name__ = "adversarial_training_step"
    run_check("adversarial_training_step", call, cases, timeout_s=timeout_s,
              hint="adv = [attack(model, t, y) for t, y in zip(texts, labels)]; logits of texts + adv; cross-entropy "
                   "against labels + labels; zero_grad, backward, step; return loss.item().")


# ------------------------------------------------------------------------- exercise 3: annotator

class _CountingTask:
    """Wraps a task and fails the check if the annotator draws more than ``limit`` candidates."""

    def __init__(self, task: PhenomenaTask, limit: int):
        self.task, self.limit, self.drawn = task, limit, 0

    def propose(self, n, rng):
        self.drawn += int(n)
        if self.drawn > self.limit:
            raise CheckFailed(f"you drew {self.drawn} candidates, more than budget * tries = {self.limit}: each "
                              f"slot gets at most `tries` attempts, then you submit the last one")
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


def _annotator_validator(task, model, budget, tries, err, what):
    ref = dynamic_annotator(task, model, budget, tries, np.random.default_rng(99))   # the trusted annotator
    ref_rate = float((np.asarray(model.predict(ref.x)) != ref.y).mean())

    def validate(got) -> None:
        expect(isinstance(got, Batch), f"return a Batch(x, y, phenomenon), as task.propose does, got {_describe(got)}")
        if len(got) < budget:
            raise CheckFailed(f"you returned {len(got)} examples for budget={budget}: every slot gets one example; when "
                              f"none of a slot's {tries} tries fools the model, submit its last try")
        expect(len(got) == budget, f"return exactly budget={budget} examples (one per slot), got {len(got)}")
        expect(np.array_equal(got.y, task.label(got.x, got.phenomenon)),
               "some labels are not the true labels: keep the label that came with each proposal (the annotator "
               "knows the answer); never use the model's prediction as the label")
        expect(len(np.unique(got.x, axis=0)) >= 0.9 * budget,
               "many examples are duplicates: each slot needs its own proposals, not copies of one fooling example")
        rate = float((np.asarray(model.predict(got.x)) != got.y).mean())
        if ref_rate - rate > 0.1:
            if rate < 0.5 * err:
                raise CheckFailed(f"only {rate:.0%} of your examples fool the model, fewer than random natural examples "
                                  f"would ({err:.0%}): you kept the candidates the model gets RIGHT; keep the first one "
                                  f"with model.predict(x) != y")
            raise CheckFailed(f"only {rate:.0%} of your examples fool the model ({what}), about what ordinary "
                              f"examples would ({err:.0%}); the trusted annotator reaches {ref_rate:.0%}. For each "
                              f"slot look at all its `tries` candidates and submit the first one the model gets wrong.")
    return validate


def _fresh_draws(got) -> None:
    a, b = got
    expect(isinstance(a, Batch) and isinstance(b, Batch), "return a Batch from each call")
    expect(not np.array_equal(a.x, b.x), "two calls with the same generator returned the same examples: draw from the "
                                         "`rng` you are given (task.propose(n, rng)), never from a new seed")


def check_dynamic_annotator(dynamic_annotator_fn, *, timeout_s: float = CHECK_SECONDS) -> None:
    """``dynamic_annotator(task, model, budget, tries, rng) -> Batch``: ``budget`` examples; for each, up to
    ``tries`` proposals, submitting the first that ``model`` gets wrong (else the last one). Compared with
    :func:`utils.text.collection.dynamic_annotator` by the share of examples that fool the model."""
    task, model, err = _annotator_setup()
    budget, tries = 200, 8
    cases = [
        Case(f"a model with {err:.0%} natural error, budget {budget}, {tries} tries",
             args=("one", _CountingTask(task, budget * tries), model, budget, tries, np.random.default_rng(3)),
             validate=_annotator_validator(task, model, budget, tries, err, f"{tries} tries each")),
        Case("one try each: still budget examples",
             args=("one", _CountingTask(task, 50), model, 50, 1, np.random.default_rng(4)),
             validate=_annotator_validator(task, model, 50, 1, err, "one try each")),
        Case("a model that is never wrong: give up after `tries` and submit the last try",
             args=("one", _CountingTask(task, 30 * 5), _AlwaysRight(task), 30, 5, np.random.default_rng(5)),
             validate=_annotator_validator(task, _AlwaysRight(task), 30, 5, 0.0, "none can")),
        Case("two rounds with the same generator give new examples",
             args=("two", _CountingTask(task, 2 * 20 * 4), model, 20, 4, np.random.default_rng(6)),
             validate=_fresh_draws),
    ]

    def call(mode, t, m, b, k, rng):
        if mode == "one":
            return dynamic_annotator_fn(t, m, b, k, rng)
        return dynamic_annotator_fn(t, m, b, k, rng), dynamic_annotator_fn(t, m, b, k, rng)

    call.__name__ = "dynamic_annotator"
    run_check("dynamic_annotator", call, cases, timeout_s=timeout_s,
              hint="Draw candidates with task.propose(budget * tries, rng), ask model.predict which ones it gets "
                   "wrong, and for each slot keep the first wrong one, else the slot's last candidate. Labels come "
                   "from the proposals, never from the model.")


# --------------------------------------------------------------------------- exercise 4: the loop

class _Tracer:
    """Fakes that record what a round loop does: every example carries a serial number (in ``phenomenon``)."""

    def __init__(self, n_initial: int = 5):
        self.serial = n_initial
        self.fits: list[list[int]] = []
        self.proposals: list[tuple[int, bool]] = []
        self.attacks: list[tuple[int, int, int, bool]] = []
        self.rng = np.random.default_rng(0)
        self.initial = self._batch(n_initial, start=0)

    def _batch(self, n: int, start: int | None = None) -> Batch:
        s = self.serial if start is None else start
        if start is None:
            self.serial += n
        return Batch(np.zeros((n, 2)), np.zeros(n), np.arange(s, s + n))

    # the task
    def propose(self, n, rng):
        self.proposals.append((int(n), rng is self.rng))
        return self._batch(int(n))

    # the annotator
    def annotator(self, task, model, budget, tries, rng):
        self.attacks.append((getattr(model, "round", -1), int(budget), int(tries), rng is self.rng))
        return self._batch(int(budget))

    # fit
    def fit(self, data):
        self.fits.append([int(v) for v in np.asarray(data.phenomenon)])
        return _TracedModel(len(self.fits) - 1)


class _TracedModel:
    def __init__(self, round_: int):
        self.round = round_

    def predict(self, x):
        return np.zeros(len(x), dtype=np.int64)

    def __repr__(self) -> str:
        return f"<model fit after round {self.round}>"


def _loop_validator(strategy: str, rounds: int, budget: int, tries: int):
    def validate(got) -> None:
        out, tr = got["out"], got["tracer"]
        expect(isinstance(out, tuple) and len(out) == 2,
               f"return a pair (models, added), got {_describe(out)}")
        models, added = out
        expect(len(tr.fits) == rounds + 1,
               f"fit was called {len(tr.fits)} times for {rounds} rounds: fit once on the initial data (round 0), "
               f"then once after each round")
        initial = list(range(len(tr.initial)))
        expect(tr.fits[0] == initial, "round 0 must fit on the initial data alone")
        if strategy == "non-adversarial":
            expect(not tr.attacks, "non-adversarial collection has no model in the loop: take task.propose(budget, "
                                   "rng) each round and do not call the annotator")
            expect(len(tr.proposals) == rounds and all(n == budget for n, _ in tr.proposals),
                   f"non-adversarial collection asks task.propose for budget={budget} examples once per round; your "
                   f"calls asked for {[n for n, _ in tr.proposals]}")
            expect(all(ok for _, ok in tr.proposals), "pass the `rng` you were given to task.propose; never make a new "
                                                      "generator")
        else:
            expect(len(tr.attacks) == rounds, f"call the annotator once per round ({rounds} rounds); you called it "
                                              f"{len(tr.attacks)} times")
            targets = [a[0] for a in tr.attacks]
            want = [0] * rounds if strategy == "static adversarial" else list(range(rounds))
            if targets != want:
                r = next(i for i, (a, b) in enumerate(zip(targets, want)) if a != b) + 1
                who = f"the model of round {targets[r - 1]}" if targets[r - 1] >= 0 else "something that is not one of your models"
                if strategy == "static adversarial":
                    raise CheckFailed(f"static adversarial collection attacks the round-0 model in every round; in round "
                                      f"{r} your annotator got {who}")
                raise CheckFailed(f"dynamic adversarial collection attacks the LATEST model: in round {r} that is the "
                                  f"model of round {r - 1}, but your annotator got {who}")
            expect(all(b == budget and k == tries for _, b, k, _ in tr.attacks),
                   f"call annotator(task, model, budget, tries, rng) with budget={budget} and tries={tries}")
            expect(all(a[3] for a in tr.attacks), "pass the `rng` you were given to the annotator; never make a new "
                                                  "generator")
        batches, seen = [], set(initial)
        for fit in tr.fits[1:]:
            batches.append([s for s in fit if s not in seen])
            seen.update(fit)
        for r in range(1, rounds + 1):
            want = initial + [s for b in batches[:r] for s in b]
            if tr.fits[r] != want or not batches[r - 1]:
                if tr.fits[r] == tr.fits[r - 1]:
                    raise CheckFailed(f"the model of round {r} was fit on the same data as round {r - 1}: add the "
                                      f"round's new examples to the data BEFORE fitting")
                if not set(initial) <= set(tr.fits[r]):
                    raise CheckFailed(f"the model of round {r} was fit on the new examples alone: add them to everything "
                                      f"collected so far (Batch.concat([data, new])) and fit on the whole set")
                raise CheckFailed(f"the model of round {r} was not fit on the initial data plus every batch collected "
                                  f"up to round {r}, in order")
        expect(isinstance(models, (list, tuple)) and len(models) == rounds + 1,
               f"return rounds + 1 = {rounds + 1} models (the round-0 model first), got "
               f"{len(models) if hasattr(models, '__len__') else _describe(models)}")
        expect([getattr(m, "round", None) for m in models] == list(range(rounds + 1)),
               "models[r] must be the model fit after round r, in order (models[0] is the round-0 model)")
        expect(isinstance(added, (list, tuple)) and len(added) == rounds,
               f"return one added batch per round ({rounds}), got "
               f"{len(added) if hasattr(added, '__len__') else _describe(added)}")
        for r, b in enumerate(added, start=1):
            expect(isinstance(b, Batch) and [int(v) for v in b.phenomenon] == batches[r - 1],
                   f"added[{r - 1}] must be the batch collected in round {r}")
    return validate


def _same_as_trusted(expected_errors):
    def validate(got) -> None:
        models, added = got
        errs = [round(m.error(_small_world()[1]), 6) for m in models]
        expect(errs == expected_errors, f"on a real task your models' expert-set errors are {errs}; the trusted loop "
                                        f"gives {expected_errors}")
    return validate


@functools.lru_cache(maxsize=1)
def _small_world():
    task = PhenomenaTask(n_phenomena=8, seed=3)
    return task, task.expert_set(per_phenomenon=10)


def check_collection_rounds(collection_rounds_fn, *, timeout_s: float = CHECK_SECONDS) -> None:
    """``collection_rounds(task, strategy, annotator, data, fit, rounds, budget, tries, rng) -> (models, added)``:
    the round loop, traced with fakes (which model the annotator gets, what each fit sees), then compared with the
    trusted :func:`utils.text.collection.collection_rounds` on a small real task."""
    rounds, budget, tries = 3, 2, 4
    cases = [Case(f"{s}, {rounds} rounds of {budget} examples", args=("traced", s),
                  validate=_loop_validator(s, rounds, budget, tries)) for s in STRATEGIES]
    task, expert = _small_world()

    def real(loop, strategy):
        data = task.sample(40, np.random.default_rng(1))
        return loop(task, strategy, dynamic_annotator, data, lambda d: fit_model(d, seed=0, steps=30), 2, 15, 4,
                    np.random.default_rng(2))

    expected = [round(m.error(expert), 6) for m in real(collection_rounds, "dynamic adversarial")[0]]
    cases.append(Case("dynamic adversarial on a small real task: same models as the trusted loop",
                      args=("real", "dynamic adversarial"), validate=_same_as_trusted(expected)))

    def call(mode, strategy):
        if mode == "real":
            return real(collection_rounds_fn, strategy)
        tr = _Tracer()
        out = collection_rounds_fn(tr, strategy, tr.annotator, tr.initial, tr.fit, rounds, budget, tries, tr.rng)
        return {"out": out, "tracer": tr}

    call.__name__ = "collection_rounds"
    run_check("collection_rounds", call, cases, timeout_s=timeout_s,
              hint="models = [fit(data)]; each round: pick the target (none / models[0] / models[-1]), collect `new`, "
                   "data = Batch.concat([data, new]), models.append(fit(data)); return models, added.")
