"""Lesson 09 models: vocabulary and bad input, the language model, scoring, distillation, preference models,
gaming probes and the widget's plain function. Everything runs on tiny settings in a few seconds."""

from __future__ import annotations

import pytest
import torch

from utils.assistant import data as D
from utils.assistant import gaming as G
from utils.assistant import lm as L
from utils.assistant import prefs as PF
from utils.assistant import scoring as S
from utils.assistant.widget import compare_responses, render_comparison


@pytest.fixture(scope="module")
def vocab():
    return L.build_vocab()


@pytest.fixture(scope="module")
def trained(vocab):
    torch.manual_seed(0)
    windows = L.make_windows(D.make_corpus(120, seed=0), vocab, length=32)
    model, hist = L.train_lm(windows, len(vocab), "small", epochs=2, seed=0)
    return model, hist


# ------------------------------------------------------------------ vocabulary and encoding

def test_vocab_covers_the_generator(vocab):
    texts = [D.hhh_prompt(), *D.all_requests(), *D.candidate_responses()]
    for p in D.make_hhh_eval():
        texts += [p.request, p.good, p.bad]
    texts += [D.format_document(d) for d in D.make_corpus(300)]
    assert {w for t in texts for w in vocab.unknown_words(t)} == set()
    assert vocab.itos[L.BOS] == "<bos>" and vocab.itos[L.UNK] == "<unk>"


def test_encode_decode_round_trip(vocab):
    assert vocab.decode(vocab.encode("Boil an EGG?")) == "boil an egg?"
    assert vocab.decode(vocab.encode("sure. put it in water, then cool it.")) == "sure. put it in water, then cool it."


def test_unknown_words_become_unk_and_are_reported(vocab):
    assert vocab.encode("boil a zebra")[-1] == L.UNK
    assert vocab.unknown_words("boil a zebra ok") == ["zebra", "ok"]


@pytest.mark.parametrize("text", ["how do i boil an égg?", "price: 5€", "tab\there", "hash #tag"])
def test_unknown_characters_are_refused_clearly(vocab, text):
    with pytest.raises(ValueError, match="unknown characters"):
        vocab.encode(text)


def test_non_string_is_refused(vocab):
    with pytest.raises(TypeError, match="must be a string"):
        vocab.encode(42)


def test_encode_batch_bad_input(vocab):
    with pytest.raises(ValueError, match="mismatched"):
        L.encode_batch(vocab, ["a", "b"], ["c"])
    with pytest.raises(ValueError, match="nothing to encode"):
        L.encode_batch(vocab, [], [])
    with pytest.raises(ValueError, match="empty response"):
        L.encode_batch(vocab, ["h: hi\na: "], ["   "])
    with pytest.raises(TypeError, match="lists of strings"):
        L.encode_batch(vocab, "h: hi", "a")


def test_encode_batch_mask_marks_the_continuation(vocab):
    ids, mask = L.encode_batch(vocab, ["h: thanks for the help!\na: ", ""], ["glad i could help.\n", "go away.\n"])
    assert ids.shape == mask.shape and ids[:, 0].eq(L.BOS).all()
    assert mask[0].sum() == len(vocab.encode("glad i could help.\n"))
    assert vocab.decode(ids[1][mask[1]].tolist()) == "go away.\n"


# ------------------------------------------------------------------ the language model

def test_model_shapes_and_causality(vocab):
    torch.manual_seed(0)
    m = L.DecayLM(len(vocab), emb=8, width=16)
    ids = torch.randint(2, len(vocab), (2, 10))
    out = m(ids)
    assert out.shape == (2, 10, len(vocab)) and m.features(ids).shape == (2, 10, 16)
    ids2 = ids.clone()
    ids2[:, 7:] = 5                                   # the future must not change the past
    assert torch.allclose(m(ids2)[:, :7], out[:, :7], atol=1e-5)
    assert torch.allclose(m(ids.float()), out)        # float ids (the training loop's inputs) work the same


@pytest.mark.parametrize("bad, err", [
    (torch.zeros(3, dtype=torch.long), "batch, time"),
    (torch.zeros(1, 0, dtype=torch.long), "no time steps"),
    (torch.full((1, 3), 10_000), "must lie in"),
    (torch.full((1, 3), -1), "must lie in"),
])
def test_model_rejects_bad_ids(vocab, bad, err):
    with pytest.raises(ValueError, match=err):
        L.DecayLM(len(vocab), 8, 16)(bad)


def test_model_rejects_bad_settings():
    with pytest.raises(ValueError, match="decays"):
        L.DecayLM(50, 8, 16, decays=(0.5, 1.0))
    with pytest.raises(ValueError, match="vocab_size"):
        L.DecayLM(2, 8, 16)
    with pytest.raises(ValueError, match="unknown size"):
        L.train_lm(torch.zeros(4, 9, dtype=torch.long), 50, "huge")


def test_training_lowers_the_loss_and_uses_the_course_loop(trained, vocab):
    model, hist = trained
    assert len(hist) == 2 and hist[-1] < hist[0]
    docs = D.make_corpus(10, seed=5)
    fresh = L.DecayLM(len(vocab), *L.LM_SIZES["small"])
    assert L.held_out_loss(model, vocab, docs) < L.held_out_loss(fresh, vocab, docs)


def test_windows(vocab):
    w = L.make_windows(D.make_corpus(20), vocab, length=16)
    assert w.shape[1] == 17 and (w == L.BOS).any()
    with pytest.raises(ValueError, match="length"):
        L.make_windows(D.make_corpus(2), vocab, length=1)
    with pytest.raises(ValueError, match="shorter than one window"):
        L.make_windows(D.make_corpus(1), vocab, length=5000)


def test_held_out_loss_parts(trained, vocab):
    model, _ = trained
    docs = D.make_corpus(5, seed=9)
    parts = {p: L.held_out_loss(model, vocab, docs, part=p) for p in ("request", "response", "all")}
    assert all(v > 0 for v in parts.values())
    assert min(parts["request"], parts["response"]) <= parts["all"] <= max(parts["request"], parts["response"])
    with pytest.raises(ValueError, match="part must be"):
        L.held_out_loss(model, vocab, docs, part="human")
    with pytest.raises(ValueError, match="at least one document"):
        L.held_out_loss(model, vocab, [])


# ------------------------------------------------------------------ scoring

def test_score_pairs_matches_a_direct_computation(trained, vocab):
    model, _ = trained
    pairs = D.make_hhh_eval()[:4]
    g, b = S.score_pairs(model, vocab, pairs)
    ids, mask = L.encode_batch(vocab, [L.exchange_prefix(pairs[0].request)], [pairs[0].good + "\n"])
    with torch.no_grad():
        lp = torch.log_softmax(model(ids), -1)
    direct = sum(float(lp[0, t - 1, ids[0, t]]) for t in range(1, ids.shape[1]) if mask[0, t])
    assert float(g[0]) == pytest.approx(direct, abs=1e-4)
    acc = S.accuracy_by(pairs, g, b)
    assert set(acc) == {p.category for p in pairs} | {"all"}


@pytest.mark.parametrize("pairs, err", [
    ([], "no pairs"),
    (["not a pair"], "not a data.Pair"),
    ([D.Pair("", "a", "b", "helpful", "x")], "empty request"),
    ([D.Pair("how?", "  ", "b", "helpful", "x")], "empty good"),
])
def test_score_pairs_bad_input(trained, vocab, pairs, err):
    with pytest.raises((ValueError, TypeError), match=err):
        S.score_pairs(trained[0], vocab, pairs)


def test_trusted_functions_reject_mismatched_input():
    with pytest.raises(ValueError, match="mismatched pairs"):
        S.comparison_accuracy(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="mismatched pairs"):
        S.bradley_terry_loss(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="no pairs"):
        S.comparison_accuracy(torch.ones(0), torch.ones(0))
    with pytest.raises(ValueError, match="1-D"):
        S.comparison_accuracy(torch.ones(2, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match="logits"):
        S.response_logprobs(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=bool))
    with pytest.raises(ValueError, match="no position"):
        S.distill_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="both be"):
        S.distill_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="mismatched pairs"):
        S.accuracy_by(D.make_hhh_eval()[:3], torch.ones(2), torch.ones(2))


def test_bradley_terry_is_stable_and_log2_at_a_tie():
    assert float(S.bradley_terry_loss(torch.zeros(5), torch.zeros(5))) == pytest.approx(0.693147, abs=1e-5)
    assert torch.isfinite(S.bradley_terry_loss(torch.tensor([-500.0]), torch.tensor([500.0])))


# ------------------------------------------------------------------ distillation and preference models

def test_distillation_moves_the_student_towards_the_prompted_teacher(trained, vocab):
    model, _ = trained
    docs, held = D.make_corpus(30, seed=2), D.make_corpus(10, seed=3)
    prompt = D.hhh_prompt()
    student, hist = PF.distill_prompt(model, vocab, docs, prompt, epochs=2)
    assert hist[-1] < hist[0]
    assert PF.distillation_kl(model, student, vocab, held, prompt) < PF.distillation_kl(model, model, vocab, held,
                                                                                         prompt)
    assert student is not model and all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="non-empty prompt"):
        PF.distill_prompt(model, vocab, docs, "")
    with pytest.raises(ValueError, match="documents"):
        PF.distill_prompt(model, vocab, [], prompt)


def test_preference_models_learn_and_controls_do_not(trained, vocab):
    model, _ = trained
    ev = D.make_hhh_eval(20)
    pool = D.make_pm_pairs(40, exclude=ev)
    res = PF.learning_curves(model, vocab, pool, ev, [0, 120], [0])
    assert res["binary"][0, 0] == res["ranked"][0, 0] == 0.5           # nothing learnt from no labels
    assert res["ranked"][1, 0] > 0.6 and res["binary"][1, 0] > 0.6
    g, b = S.score_pairs(model, vocab, ev)
    assert res["imitation"][0, 0] == pytest.approx(S.comparison_accuracy(g, b), abs=1e-6)  # n=0: the plain model


def test_subsets_are_nested_and_checked():
    sub = PF.subsets(10, [2, 5], [0, 1])
    assert sub[2, 0] == sub[5, 0][:2] and sub[5, 0] != sub[5, 1]
    with pytest.raises(ValueError, match="larger than the pool"):
        PF.subsets(3, [5], [0])


def test_fit_full_batch_rejects_bad_loss():
    lin = torch.nn.Linear(2, 1)
    with pytest.raises(TypeError, match="scalar"):
        PF.fit_full_batch(lin, lambda: lin(torch.ones(3, 2)), steps=1)
    with pytest.raises(ValueError, match="steps"):
        PF.fit_full_batch(lin, lambda: lin(torch.ones(1, 2)).sum(), steps=-1)


# ------------------------------------------------------------------ gaming and widget

def test_probe_and_best_of_n(trained, vocab):
    model, _ = trained
    ev = D.make_hhh_eval(6)
    head = PF.fit_ranked(PF.pair_features(model, vocab, ev), PF.feature_stats(PF.pair_features(model, vocab, ev)))
    score = G.pm_scorer(model, vocab, head)
    r = G.probe(score, ev, G.PROBES["polite closing line"])
    assert set(r) == {"before", "after", "flipped", "score change"} and 0 <= r["flipped"] <= 1
    bon = G.best_of_n(score, ev, D.candidate_responses(), [2, 8], seeds=(0,))
    assert bon["random good"][0] == pytest.approx(0.5) and bon["random good"][1] < 0.5
    assert bon["pick score"][1] >= bon["pick score"][0] - 1e-6     # more candidates, at least as high a maximum
    with pytest.raises(ValueError, match="at least 2"):
        G.best_of_n(score, ev, D.candidate_responses(), [1])
    with pytest.raises(ValueError, match="at least one pair"):
        G.probe(score, [], str.upper)


def test_widget_function_changes_with_the_text(trained, vocab):
    model, _ = trained
    lms = {"small": model}
    req = "how do i boil an egg?"
    a, b = "put it in boiling water for eight minutes.", "go away."
    res = compare_responses(req, a, b, lms, vocab, D.hhh_prompt())
    assert len(res["rows"]) == 2 and res["truth"] == (True, False) and res["pm"] is None
    before = render_comparison(req, a, b, lms, vocab, D.hhh_prompt())
    after = render_comparison(req, a + " ok", b, lms, vocab, D.hhh_prompt())     # what the browser test types
    assert before != after and "ok" in after
    assert "no prompt" in before and "HHH prompt" in before


@pytest.mark.parametrize("req, a, b, err", [
    ("", "x", "y", "request is empty"),
    ("how?", "   ", "y", "response A is empty"),
    ("how?", "fine", "caf\u00e9", "unknown characters"),
])
def test_widget_bad_input(trained, vocab, req, a, b, err):
    with pytest.raises(ValueError, match=err):
        compare_responses(req, a, b, {"m": trained[0]}, vocab, "")
    assert render_comparison(req, a, b, {"m": trained[0]}, vocab, "").startswith("Cannot compare:")


def test_widget_needs_a_model(vocab):
    with pytest.raises(ValueError, match="at least one language model"):
        compare_responses("how?", "a", "b", {}, vocab, "")
