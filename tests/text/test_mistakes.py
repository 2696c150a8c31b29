"""Lesson 02: each exercise's check against a table of typical mistakes, written against the real signatures.

Every row must be rejected with ``CheckFailed`` whose first line names that mistake (the phrase in the table), with
plain Python numbers in the message. Each check accepts the course's trusted implementation and honest variants,
answers the stub with "not implemented yet", and fails an endless loop quickly instead of hanging.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

from utils.checks import CheckFailed
from tests.mistakes import assert_endless_loop_fails_quickly, assert_stub_not_implemented
from utils.text import collection as D
from utils.text import sentiment as T
from utils.text.checks import (check_adversarial_training_step, check_collection_rounds, check_dynamic_annotator,
                               check_greedy_attack)

torch.set_num_threads(1)

CHECKS = {"greedy_attack": check_greedy_attack, "adversarial_training_step": check_adversarial_training_step,
          "dynamic_annotator": check_dynamic_annotator, "collection_rounds": check_collection_rounds}
TRUSTED = {"greedy_attack": T.greedy_attack, "adversarial_training_step": T.adversarial_training_step,
           "dynamic_annotator": D.dynamic_annotator, "collection_rounds": D.collection_rounds}


# ------------------------------------------------------------------------- exercise 1: greedy_attack

def attack_no_budget(model, text, label, table, k):  # ignores k
    return T.greedy_attack(model, text, label, table, 10)


def attack_random(model, text, label, table, k):  # random table swaps, no search
    rng = random.Random(0)
    toks = T.tokenize(text)
    spots = [i for i, t in enumerate(toks) if table.get(t)]
    for i in rng.sample(spots, min(k, len(spots))):
        toks[i] = rng.choice(table[toks[i]])
    return T.detokenize(toks)


def attack_maximises(model, text, label, table, k):  # argmax instead of argmin: raises P(true label)
    tokens, changed = T.tokenize(text), set()
    for _ in range(k):
        swaps = [(i, s) for i, t in enumerate(tokens) if i not in changed for s in table.get(t, [])]
        if not swaps:
            break
        probs = model.predict_proba([T.detokenize(tokens[:i] + [s] + tokens[i + 1:]) for i, s in swaps])[:, label]
        i, s = swaps[int(torch.argmax(probs))]
        tokens[i] = s
        changed.add(i)
    return T.detokenize(tokens)


def attack_one_step(model, text, label, table, k):  # stops after the first swap
    return T.greedy_attack(model, text, label, table, min(k, 1))


def attack_first_synonym(model, text, label, table, k):  # no search: the first table entry of the first words
    toks = T.tokenize(text)
    for i in [i for i, t in enumerate(toks) if table.get(t)][:k]:
        toks[i] = table[toks[i]][0]
    return T.detokenize(toks)


def attack_any_word(model, text, label, table, k):  # substitutes outside the table (antonyms)
    ant = T.load_antonyms()
    toks = T.tokenize(text)
    for i, t in enumerate(toks):
        if t in ant:
            toks[i] = ant[t][0]
            break
    return T.detokenize(toks)


def attack_returns_tokens(model, text, label, table, k):
    return T.tokenize(T.greedy_attack(model, text, label, table, k))


def _greedy(model, text, label, table, k, *, stop_when_fooled=True, stop_when_stuck=True, remember=True,
            use_prediction=False, tie_is_fooled=False, first_occurrence=False):
    tokens, changed = T.tokenize(text), set()
    if use_prediction:
        label = int(model.predict([text]).item())
    p_true = model.predict_proba([T.detokenize(tokens)])[0, label].item()
    for _ in range(k):
        if stop_when_fooled and (p_true <= 0.5 if tie_is_fooled else p_true < 0.5):
            break
        spots = [(i, t) for i, t in enumerate(tokens) if not (remember and i in changed)]
        if first_occurrence:   # only the first unchanged occurrence of each word
            spots = [(i, t) for i, t in spots if (i, t) == next(p for p in spots if p[1] == t)]
        swaps = [(i, s) for i, t in spots for s in table.get(t, [])]
        if not swaps:
            break
        probs = model.predict_proba([T.detokenize(tokens[:i] + [s] + tokens[i + 1:]) for i, s in swaps])[:, label]
        j = int(torch.argmin(probs))
        if stop_when_stuck and probs[j].item() >= p_true:
            break
        i, s = swaps[j]
        tokens[i] = s
        changed.add(i)
        p_true = probs[j].item()
    return T.detokenize(tokens)


def attack_never_stops_when_fooled(model, text, label, table, k):  # spends the whole budget
    return _greedy(model, text, label, table, k, stop_when_fooled=False)


def attack_applies_useless_swaps(model, text, label, table, k):  # keeps swapping when nothing lowers P(true)
    return _greedy(model, text, label, table, k, stop_when_stuck=False)


def attack_predicted_label(model, text, label, table, k):  # attacks the model's prediction, not the true label
    return _greedy(model, text, label, table, k, use_prediction=True)


def attack_reswaps_changed_positions(model, text, label, table, k):  # forgets which positions it changed
    return _greedy(model, text, label, table, k, remember=False)


def attack_stops_at_a_tie(model, text, label, table, k):  # treats P(true label) = 0.5 as already fooled
    return _greedy(model, text, label, table, k, tie_is_fooled=True)


def attack_joins_with_spaces(model, text, label, table, k):  # " ".join(tokens): a space before the full stop
    return " ".join(T.tokenize(T.greedy_attack(model, text, label, table, k)))


# ------------------------------------------------------------- exercise 2: adversarial_training_step

def _loss_step(model, optimizer, texts, labels, *, zero=True, step=True, scale=1.0):
    logits = model(*model.pack(texts))
    loss = scale * torch.nn.functional.cross_entropy(logits, torch.tensor(labels))
    if zero:
        optimizer.zero_grad()
    loss.backward()
    if step:
        optimizer.step()
    return loss.item()


def step_model_labels(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, list(texts) + adv, list(labels) + model.predict(adv).tolist())


def step_only_adversarial(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, adv, list(labels))


def step_no_attack(model, optimizer, texts, labels, attack):  # clean sentences twice
    return _loss_step(model, optimizer, list(texts) * 2, list(labels) * 2)


def step_attack_unused(model, optimizer, texts, labels, attack):  # attacks, then trains on clean only
    _ = [attack(model, t, y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, list(texts), list(labels))


def step_attack_wrong_label(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, 1 - y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, list(texts) + adv, list(labels) * 2)


def step_no_zero_grad(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, list(texts) + adv, list(labels) * 2, zero=False)


def step_no_step(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, list(texts) + adv, list(labels) * 2, step=False)


def step_attack_after_update(model, optimizer, texts, labels, attack):
    loss = _loss_step(model, optimizer, list(texts), list(labels))
    _ = [attack(model, t, y) for t, y in zip(texts, labels)]
    return loss


def step_sum_of_means(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, list(texts) + adv, list(labels) * 2, scale=2.0)


def step_probabilities(model, optimizer, texts, labels, attack):  # loss from predict_proba: no gradient
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    p = model.predict_proba(list(texts) + adv)
    loss = torch.nn.functional.nll_loss(torch.log(p), torch.tensor(list(labels) * 2))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_returns_tensor(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    logits = model(*model.pack(list(texts) + adv))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(list(labels) * 2))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def step_returns_loss_after(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    _loss_step(model, optimizer, list(texts) + adv, list(labels) * 2)
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model(*model.pack(list(texts) + adv)),
                                                 torch.tensor(list(labels) * 2)).item()


def step_sum_reduction(model, optimizer, texts, labels, attack):
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    logits = model(*model.pack(list(texts) + adv))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(list(labels) * 2), reduction="sum")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_two_steps(model, optimizer, texts, labels, attack):  # one step on the clean, one on the attacked
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    total = _loss_step(model, optimizer, list(texts), list(labels))
    total += _loss_step(model, optimizer, adv, list(labels))
    return total / 2


def step_only_changed(model, optimizer, texts, labels, attack):  # keeps only the attacked copies that changed
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    keep = [(a, y) for a, t, y in zip(adv, texts, labels) if a != t]
    return _loss_step(model, optimizer, list(texts) + [a for a, _ in keep], list(labels) + [y for _, y in keep])


# ----------------------------------------------------------------- exercise 3: dynamic_annotator

def ann_no_filter(task, model, budget, tries, rng):  # non-adversarial: ignores the model
    return task.propose(budget, rng)


def ann_keeps_right(task, model, budget, tries, rng):  # keeps the examples the model gets right
    c = task.propose(budget * tries, rng)
    right = (model.predict(c.x) == c.y).reshape(budget, tries)
    pick = np.where(right.any(1), right.argmax(1), tries - 1)
    return c[np.arange(budget) * tries + pick]


def ann_model_labels(task, model, budget, tries, rng):  # labels from the model, not the truth
    b = D.dynamic_annotator(task, model, budget, tries, rng)
    return D.Batch(b.x, model.predict(b.x), b.phenomenon)


def ann_only_fooling(task, model, budget, tries, rng):  # drops slots with no fooling example
    c = task.propose(budget * tries, rng)
    wrong = (model.predict(c.x) != c.y).reshape(budget, tries)
    idx = [b * tries + int(wrong[b].argmax()) for b in range(budget) if wrong[b].any()]
    return c[np.array(idx, dtype=int)]


def ann_until_fooled(task, model, budget, tries, rng):  # ignores the tries limit
    picked = []
    while len(picked) < budget:
        c = task.propose(1, rng)
        if model.predict(c.x)[0] != c.y[0]:
            picked.append(c)
    return D.Batch.concat(picked)


def ann_duplicates(task, model, budget, tries, rng):  # one fooling example repeated
    b = D.dynamic_annotator(task, model, budget, tries, rng)
    return b[np.zeros(budget, dtype=int)]


def ann_fixed_seed(task, model, budget, tries, rng):  # a new generator every call: the same examples every round
    return D.dynamic_annotator(task, model, budget, tries, np.random.default_rng(0))


def ann_slots_mixed_up(task, model, budget, tries, rng):  # reshapes to (tries, budget) but indexes as (budget, tries)
    c = task.propose(budget * tries, rng)
    wrong = (model.predict(c.x) != c.y).reshape(tries, budget).T
    pick = np.where(wrong.any(1), wrong.argmax(1), tries - 1)
    return c[np.arange(budget) * tries + pick]


def ann_unseeded(task, model, budget, tries, rng):  # a fresh unseeded generator: runs cannot be repeated
    return D.dynamic_annotator(task, model, budget, tries, np.random.default_rng())


def ann_pools_across_slots(task, model, budget, tries, rng):  # every fooling candidate first, whatever its slot
    c = task.propose(budget * tries, rng)
    wrong = np.flatnonzero(model.predict(c.x) != c.y)
    idx = np.concatenate([wrong, np.setdiff1d(np.arange(len(c)), wrong)])[:budget]
    return c[idx]


def _ann_pick(task, model, budget, tries, rng, *, last_fool=False, fallback=None, per_slot=None):
    t = per_slot or tries
    c = task.propose(budget * t, rng)
    wrong = (model.predict(c.x) != c.y).reshape(budget, t)
    first = t - 1 - wrong[:, ::-1].argmax(1) if last_fool else wrong.argmax(1)
    pick = np.where(wrong.any(1), first, t - 1 if fallback is None else fallback)
    return c[np.arange(budget) * t + pick]


def ann_last_fooling_try(task, model, budget, tries, rng):
    return _ann_pick(task, model, budget, tries, rng, last_fool=True)


def ann_falls_back_to_first(task, model, budget, tries, rng):
    return _ann_pick(task, model, budget, tries, rng, fallback=0)


def ann_one_try_fewer(task, model, budget, tries, rng):  # range(tries - 1): an off-by-one
    return _ann_pick(task, model, budget, tries, rng, per_slot=max(tries - 1, 1))


# ------------------------------------------------------------------ exercise 4: collection_rounds

def _loop(task, strategy, annotator, data, fit, rounds, budget, tries, rng, *, target=None, accumulate=True,
          fit_first=False, round0=True, fresh_rng=False, annotate_all=False, pair=True):
    models = [fit(data)] if round0 else []
    added = []
    first = models[0] if models else None
    for r in range(rounds):
        g = np.random.default_rng(r) if fresh_rng else rng
        if strategy == "non-adversarial" and not annotate_all:
            new = task.propose(budget, g)
        else:
            latest = models[-1] if models else first
            tgt = first if strategy == "static adversarial" else latest
            if target is not None:
                tgt = target(strategy, models, first, tgt)
            new = annotator(task, tgt, budget, tries, g)
        added.append(new)
        if fit_first:
            models.append(fit(data))
        data = D.Batch.concat([data, new]) if accumulate else new
        if not fit_first:
            models.append(fit(data))
        if first is None:
            first = models[0]
    return (models, added) if pair else models


def loop_static_attacks_latest(*a):
    return _loop(*a, target=lambda strategy, models, first, tgt: models[-1])


def loop_dynamic_attacks_round0(*a):
    return _loop(*a, target=lambda strategy, models, first, tgt: first if strategy == "dynamic adversarial" else tgt)


def loop_dynamic_one_round_late(*a):  # attacks the model before the latest one
    return _loop(*a, target=lambda strategy, models, first, tgt:
                 models[max(len(models) - 2, 0)] if strategy == "dynamic adversarial" else tgt)


def loop_non_adversarial_filters(*a):  # puts the latest model in the loop for non-adversarial collection too
    return _loop(*a, annotate_all=True)


def loop_fits_on_new_batch_only(*a):
    return _loop(*a, accumulate=False)


def loop_fits_before_adding(*a):
    return _loop(*a, fit_first=True)


def loop_no_round0_model(*a):
    return _loop(*a, round0=False)


def loop_new_rng_each_round(*a):
    return _loop(*a, fresh_rng=True)


def loop_returns_models_only(*a):
    return _loop(*a, pair=False)


MISTAKES = [
    ("greedy_attack", "ignores the budget k", attack_no_budget, "but the budget is k="),
    ("greedy_attack", "random table swaps, no search", attack_random, "not the greedy choice"),
    ("greedy_attack", "argmax instead of argmin", attack_maximises, "MORE sure of the true label"),
    ("greedy_attack", "stops after one swap", attack_one_step, "stopped after"),
    ("greedy_attack", "first table entry, no search", attack_first_synonym, "not the greedy choice"),
    ("greedy_attack", "substitutes outside the table", attack_any_word, "not one of its substitutions"),
    ("greedy_attack", "returns a token list", attack_returns_tokens, "as one string"),
    ("greedy_attack", "never stops when the model is fooled", attack_never_stops_when_fooled, "already"),
    ("greedy_attack", "applies swaps that do not help", attack_applies_useless_swaps, "did not lower P(true label)"),
    ("greedy_attack", "attacks the predicted label", attack_predicted_label, "already gets"),
    ("greedy_attack", "re-swaps positions it already changed", attack_reswaps_changed_positions, "changed that position twice"),
    ("greedy_attack", "stops at P(true label) <= 0.5, a tie", attack_stops_at_a_tie, "exactly undecided"),
    ("greedy_attack", "' '.join(tokens) instead of T.detokenize", attack_joins_with_spaces, "' '.join(tokens)"),
    ("adversarial_training_step", "model's predictions as labels", step_model_labels, "model's predictions as labels"),
    ("adversarial_training_step", "attacked sentences only", step_only_adversarial, "leaves out the clean"),
    ("adversarial_training_step", "never attacks", step_no_attack, "never called `attack`"),
    ("adversarial_training_step", "attacks but trains on clean only", step_attack_unused, "ignores the attacked"),
    ("adversarial_training_step", "attacks with the wrong label", step_attack_wrong_label, "TRUE label"),
    ("adversarial_training_step", "no zero_grad", step_no_zero_grad, "zero_grad"),
    ("adversarial_training_step", "no optimizer.step", step_no_step, "did not change"),
    ("adversarial_training_step", "attacks after the update", step_attack_after_update, "after the update"),
    ("adversarial_training_step", "sum of the two means", step_sum_of_means, "twice the expected size"),
    ("adversarial_training_step", "loss from predict_proba", step_probabilities, "no gradient"),
    ("adversarial_training_step", "returns the loss tensor", step_returns_tensor, "Python float"),
    ("adversarial_training_step", "returns the loss after the step", step_returns_loss_after, "loss before the step"),
    ("adversarial_training_step", "reduction='sum'", step_sum_reduction, "reduction='sum'"),
    ("adversarial_training_step", "two optimizer steps", step_two_steps, "two optimizer steps"),
    ("adversarial_training_step", "drops attacked copies that did not change", step_only_changed, "could not change"),
    ("dynamic_annotator", "no filter (non-adversarial)", ann_no_filter, "about what ordinary examples"),
    ("dynamic_annotator", "keeps what the model gets right", ann_keeps_right, "gets RIGHT"),
    ("dynamic_annotator", "labels from the model", ann_model_labels, "not the true labels"),
    ("dynamic_annotator", "drops slots with no fooling try", ann_only_fooling, "submit its last try"),
    ("dynamic_annotator", "ignores the tries limit", ann_until_fooled, "kept drawing until"),
    ("dynamic_annotator", "one fooling example repeated", ann_duplicates, "duplicates"),
    ("dynamic_annotator", "a new fixed-seed generator", ann_fixed_seed, "same examples"),
    ("dynamic_annotator", "slots mixed up by the reshape", ann_slots_mixed_up, "fool the model"),
    ("dynamic_annotator", "a fresh unseeded generator", ann_unseeded, "seeded alike"),
    ("dynamic_annotator", "pools fooling candidates across slots", ann_pools_across_slots, "pooled"),
    ("dynamic_annotator", "submits the last fooling try", ann_last_fooling_try, "FIRST try that fools"),
    ("dynamic_annotator", "falls back to the first try", ann_falls_back_to_first, "submitted the FIRST try"),
    ("dynamic_annotator", "one try fewer per slot", ann_one_try_fewer, "gave up after"),
    ("collection_rounds", "static attacks the latest model", loop_static_attacks_latest, "round-0 model in every round"),
    ("collection_rounds", "dynamic attacks the round-0 model", loop_dynamic_attacks_round0, "LATEST model"),
    ("collection_rounds", "dynamic one round late", loop_dynamic_one_round_late, "LATEST model"),
    ("collection_rounds", "non-adversarial puts a model in the loop", loop_non_adversarial_filters, "no model in the loop"),
    ("collection_rounds", "fits on the new batch only", loop_fits_on_new_batch_only, "new examples alone"),
    ("collection_rounds", "fits before adding the round's data", loop_fits_before_adding, "BEFORE fitting"),
    ("collection_rounds", "no round-0 model", loop_no_round0_model, "fit was called"),
    ("collection_rounds", "a new generator each round", loop_new_rng_each_round, "rng"),
    ("collection_rounds", "returns the models only", loop_returns_models_only, "return a pair"),
]


@pytest.mark.parametrize("exercise, mistake, wrong, phrase", MISTAKES, ids=[f"{e}: {m}" for e, m, _, _ in MISTAKES])
def test_check_rejects_typical_mistake_and_names_it_first(exercise, mistake, wrong, phrase):
    with pytest.raises(CheckFailed) as info:
        CHECKS[exercise](wrong)
    message = str(info.value)
    first = message.splitlines()[0]
    assert phrase.lower() in first.lower(), f"{mistake}: the message should name the mistake first, got:\n{message}"
    for raw in ("np.float", "np.int", "np.bool", "tensor("):
        assert raw not in message, f"{mistake}: the message prints a raw {raw} value:\n{message}"


def test_every_exercise_has_at_least_five_typical_mistakes():
    counts = {e: sum(row[0] == e for row in MISTAKES) for e in CHECKS}
    assert all(n >= 5 for n in counts.values()), counts


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_check_accepts_the_trusted_implementation(exercise, capsys):
    CHECKS[exercise](TRUSTED[exercise])
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_check_answers_the_stub_with_not_implemented(exercise):
    assert_stub_not_implemented(CHECKS[exercise])


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_check_fails_an_endless_loop_quickly(exercise):
    assert_endless_loop_fails_quickly(CHECKS[exercise], timeout_s=1.0, within_s=15)


# ------------------------------------------------------------------------ honest variants pass

def attack_loop_order(model, text, label, table, k):  # substitution-major loop, scores one at a time
    tokens, changed = T.tokenize(text), set()
    p_true = float(model.predict_proba([text])[0, label])
    for _ in range(k):
        if p_true < 0.5:
            break
        best = None
        for i, t in enumerate(tokens):
            if i in changed:
                continue
            for s in table.get(t, []):
                p = float(model.predict_proba([T.detokenize(tokens[:i] + [s] + tokens[i + 1:])])[0, label])
                if best is None or p < best[0]:
                    best = (p, i, s)
        if best is None or best[0] >= p_true:
            break
        p_true, i, s = best
        tokens[i] = s
        changed.add(i)
    return T.detokenize(tokens)


def step_sum_over_halves(model, optimizer, texts, labels, attack):  # two losses averaged: the same objective
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    y = torch.tensor(list(labels))
    clean = torch.nn.functional.cross_entropy(model(*model.pack(list(texts))), y)
    attacked = torch.nn.functional.cross_entropy(model(*model.pack(adv)), y)
    loss = (clean + attacked) / 2
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_with_tensor_labels(model, optimizer, texts, labels, attack):  # labels as a tensor throughout
    y = torch.tensor(labels)
    adv = [attack(model, t, label) for t, label in zip(texts, y)]
    logits = model(*model.pack(list(texts) + adv))
    loss = torch.nn.functional.cross_entropy(logits, torch.cat([y, y]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.item())


def attack_first_occurrence(model, text, label, table, k):  # swaps the first unchanged occurrence of a word:
    return _greedy(model, text, label, table, k, first_occurrence=True)  # for a bag of words the same probabilities


def step_attacks_a_frozen_copy(model, optimizer, texts, labels, attack):  # the same attack on an exact copy
    frozen = copy.deepcopy(model)
    adv = [attack(frozen, t, y) for t, y in zip(texts, labels)]
    return _loss_step(model, optimizer, list(texts) + adv, list(labels) * 2)


def ann_stops_at_first_fool(task, model, budget, tries, rng):  # draws one candidate at a time, no waste
    picked = []
    for _ in range(budget):
        for j in range(tries):
            c = task.propose(1, rng)
            if model.predict(c.x)[0] != c.y[0] or j == tries - 1:
                picked.append(c)
                break
    return D.Batch.concat(picked)


def ann_loop_version(task, model, budget, tries, rng):
    picked = []
    for _ in range(budget):
        cands = task.propose(tries, rng)
        wrong = model.predict(cands.x) != cands.y
        picked.append(cands[[int(np.argmax(wrong)) if wrong.any() else tries - 1]])
    return D.Batch.concat(picked)


def loop_with_index(task, strategy, annotator, data, fit, rounds, budget, tries, rng):
    models, added = [fit(data)], []
    for r in range(1, rounds + 1):
        if strategy == "non-adversarial":
            new = task.propose(budget, rng)
        elif strategy == "static adversarial":
            new = annotator(task, models[0], budget, tries, rng)
        else:
            new = annotator(task, models[r - 1], budget, tries, rng)
        added.append(new)
        models.append(fit(D.Batch.concat([data, *added])))
    return models, added


@pytest.mark.parametrize("exercise, variant", [("greedy_attack", attack_loop_order),
                                               ("greedy_attack", attack_first_occurrence),
                                               ("adversarial_training_step", step_sum_over_halves),
                                               ("adversarial_training_step", step_with_tensor_labels),
                                               ("adversarial_training_step", step_attacks_a_frozen_copy),
                                               ("dynamic_annotator", ann_loop_version),
                                               ("dynamic_annotator", ann_stops_at_first_fool),
                                               ("collection_rounds", loop_with_index)])
def test_check_accepts_an_honest_variant(exercise, variant):
    CHECKS[exercise](variant)


def test_checks_leave_the_callers_random_state_alone():
    np.random.seed(1)
    torch.manual_seed(1)
    before = (np.random.rand(), torch.rand(1).item())
    np.random.seed(1)
    torch.manual_seed(1)
    check_dynamic_annotator(D.dynamic_annotator)
    check_adversarial_training_step(T.adversarial_training_step)
    assert (np.random.rand(), torch.rand(1).item()) == before
    assert copy.deepcopy(T.load_synonyms()) == T.load_synonyms()
