"""Lesson 02, text side: the dataset and its generator, tokens, the model and its input errors, the transformation
families on awkward input, the benchmark, the attack and the adversarial training step, the widget logic.
(The checks' mistake tables: test_mistakes.py.)"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from utils.text import sentiment as T
from utils.text.checks import _ATTACK_SENTENCES, _WRONG_FROM_THE_START, _check_model

torch.set_num_threads(1)

AWKWARD = ["", "   ", "!!!", "zxqv blorf", "The FILM was Great!!", "i loved it... or did i?", "great", "not bad.",
           "the film; the plot: the ending (sort of)", "café déjà vu — great"]


@pytest.fixture(scope="module")
def data():
    return T.load_sentiment()


@pytest.fixture(scope="module")
def syn():
    return T.load_synonyms()


@pytest.fixture(scope="module")
def model():
    return _check_model()


# ------------------------------------------------------------------------------------------- data

def test_dataset_size_split_and_balance(data):
    assert len(data.train_texts) == 1000 and len(data.test_texts) == 500
    assert len(data.train_labels) == 1000 and len(data.test_labels) == 500
    assert set(data.train_labels) == {0, 1}
    assert 0.45 < np.mean(data.train_labels) < 0.55 and 0.45 < np.mean(data.test_labels) < 0.55
    assert not set(data.train_texts) & set(data.test_texts), "train and test must not share sentences"
    assert len(set(data.train_texts)) == 1000
    assert "train=1000" in repr(data)


def test_shipped_corpus_is_what_the_documented_procedure_generates():
    rows = T.generate_sentiment_corpus()
    shipped = (T.ASSETS / "sentiment.tsv").read_text(encoding="utf-8").splitlines()
    assert shipped[0] == "split\tlabel\ttext"
    assert shipped[1:] == [f"{s}\t{y}\t{t}" for s, y, t in rows]


def test_vocabulary_is_varied(data):
    words = {w for t in data.train_texts for w in T.tokenize(t)}
    assert len(words) > 150
    assert len({len(T.tokenize(t)) for t in data.train_texts}) > 8, "sentences should vary in length"


def test_tables_are_single_tokens_and_nonempty(syn):
    ant = T.load_antonyms()
    assert len(syn) >= 50 and len(ant) >= 20
    for table in (syn, ant):
        for word, subs in table.items():
            assert subs, word
            assert T.tokenize(word) == [word]
            for s in subs:
                assert T.tokenize(s) == [s], f"{word} -> {s!r} must be one token"
                assert s != word


def test_missing_asset_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(T, "ASSETS", tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        T.load_sentiment()


# ----------------------------------------------------------------------------------------- tokens

@pytest.mark.parametrize("text", AWKWARD)
def test_tokenize_roundtrip(text):
    toks = T.tokenize(text)
    assert T.tokenize(T.detokenize(toks)) == toks


def test_tokenize_examples():
    assert T.tokenize("The film wasn't GREAT, first-rate though!") == [
        "the", "film", "wasn't", "great", ",", "first-rate", "though", "!"]
    assert T.detokenize(["great", ",", "really", "!"]) == "great, really!"
    assert T.tokenize("") == [] and T.detokenize([]) == ""


@pytest.mark.parametrize("bad", [None, 3, ["a"], b"bytes"])
def test_tokenize_rejects_non_strings(bad):
    with pytest.raises(TypeError, match="string"):
        T.tokenize(bad)


def test_vocab_drops_unknown_words(data):
    v = T.Vocab.build(data.train_texts[:50], ["terrific"])
    assert "terrific" in v and "<pad>" == v.itos[0]
    assert v.encode("zxqv blorf") == [] and v.encode("") == []
    assert all(i > 0 for i in v.encode("the terrific film"))


# ------------------------------------------------------------------------------------------ model

def test_model_is_accurate_enough_and_probabilities_are_valid(model, data):
    assert T.accuracy_on(model, data.test_texts, data.test_labels) > 0.75
    p = model.predict_proba(AWKWARD)
    assert p.shape == (len(AWKWARD), 2)
    assert torch.allclose(p.sum(1), torch.ones(len(AWKWARD)))
    assert model.predict(["the film was great."]).dtype == torch.long


@pytest.mark.parametrize("bad, err, match", [
    ([], ValueError, "empty batch"),
    ((), ValueError, "empty batch"),
    ("the film was great", TypeError, "single string"),
    ([1, 2], TypeError, "not a string"),
    (["fine", None], TypeError, "item 1"),
    (torch.zeros(3), TypeError, "list of strings"),
])
def test_model_rejects_bad_batches(model, bad, err, match):
    with pytest.raises(err, match=match):
        model.predict_proba(bad)


def test_training_is_seeded_and_validates_input(data):
    vocab = T.Vocab.build(data.train_texts[:100])

    def run():
        m = T.make_text_model(vocab, dim=8, seed=3)
        h = T.train_text_model(m, data.train_texts[:100], data.train_labels[:100], epochs=2, seed=3)
        return h, m.predict_proba(data.test_texts[:5])

    (h1, p1), (h2, p2) = run(), run()
    assert h1 == h2 and torch.equal(p1, p2)
    m = T.make_text_model(vocab, dim=8)
    with pytest.raises(ValueError, match="labels"):
        T.train_text_model(m, data.train_texts[:10], data.train_labels[:9])
    with pytest.raises(ValueError, match="0 .negative. or 1"):
        T.train_text_model(m, ["a", "b"], [0, 2])
    with pytest.raises(ValueError, match="empty batch"):
        T.train_text_model(m, [], [])


def test_adversarial_training_calls_the_step_on_every_batch_with_the_current_model(data):
    vocab = T.Vocab.build(data.train_texts[:60])
    m = T.make_text_model(vocab, dim=8)
    calls = []

    def step(model, optimizer, texts, labels, attack):
        calls.append((model, len(texts), attack))
        return T.adversarial_training_step(model, optimizer, texts, labels, attack)

    def attack(model, text, label):
        return text + " bad"

    h = T.train_text_model(m, data.train_texts[:60], data.train_labels[:60], epochs=3, batch_size=32, attack=attack,
                           attack_from=1, step=step)
    assert len(h) == 3 and len(calls) == 4 and all(c[0] is m and c[2] is attack for c in calls)
    assert [c[1] for c in calls] == [32, 28, 32, 28]
    with pytest.raises(TypeError, match="attack"):
        T.train_text_model(m, data.train_texts[:4], data.train_labels[:4], attack="greedy")


def test_adversarial_training_step_trains_on_clean_and_attacked(model, syn):
    m = copy.deepcopy(model)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    texts, labels = [t for t, _ in _ATTACK_SENTENCES[:4]], [y for _, y in _ATTACK_SENTENCES[:4]]
    adv = [T.greedy_attack(m, t, y, syn, 2) for t, y in zip(texts, labels)]
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(m(*m.pack(texts + adv)), torch.tensor(labels * 2)).item()
    before = [p.detach().clone() for p in m.parameters()]
    got = T.adversarial_training_step(m, opt, texts, labels, lambda mm, t, y: T.greedy_attack(mm, t, y, syn, 2))
    assert isinstance(got, float) and got == pytest.approx(want, abs=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))
    with pytest.raises(ValueError, match="labels"):
        T.adversarial_training_step(m, opt, texts, labels[:3], lambda mm, t, y: t)
    with pytest.raises(ValueError, match="empty batch"):
        T.adversarial_training_step(m, opt, [], [], lambda mm, t, y: t)
    with pytest.raises(TypeError, match="attack"):
        T.adversarial_training_step(m, opt, texts, labels, "greedy")


def test_trainer_forks_share_their_past_and_not_their_future(data):
    vocab = T.Vocab.build(data.train_texts[:80])
    a = T.TextTrainer(T.make_text_model(vocab, dim=8, seed=1), data.train_texts[:80], data.train_labels[:80], seed=1)
    a.run(2)
    b = a.fork()
    a.run(1)
    b.run(1)
    assert all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters())), "same future, same run"
    b.run(1, attack=lambda m, t, y: t + " bad")
    assert not all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters()))
    assert len(a.history) == 3 and len(b.history) == 4
    m = T.make_text_model(vocab, dim=8, seed=1)
    T.train_text_model(m, data.train_texts[:80], data.train_labels[:80], epochs=3, seed=1)
    c = T.TextTrainer(T.make_text_model(vocab, dim=8, seed=1), data.train_texts[:80], data.train_labels[:80], seed=1)
    c.run(3)
    assert all(torch.equal(x, y) for x, y in zip(m.parameters(), c.model.parameters()))
    with pytest.raises(ValueError, match="epochs"):
        c.run(-1)
    with pytest.raises(ValueError, match="batch_size"):
        T.TextTrainer(m, data.train_texts[:4], data.train_labels[:4], batch_size=0)


# ----------------------------------------------------------------------------------- transformations

FAMILY_FUNCS = [T.swap_synonyms, T.add_typos, T.add_distractor, T.add_contrast, T.negate_antonym, T.paraphrase]


@pytest.mark.parametrize("fn", FAMILY_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("text", AWKWARD)
def test_families_handle_awkward_input(fn, text):
    out = fn(text, 0)
    assert isinstance(out, str)
    assert out == fn(text, 0), "same seed, same output"
    assert fn(text, np.random.default_rng(1)) is not None


@pytest.mark.parametrize("fn", FAMILY_FUNCS, ids=lambda f: f.__name__)
def test_families_reject_non_strings_and_bad_rng(fn):
    with pytest.raises(TypeError):
        fn(None, 0)
    with pytest.raises(TypeError, match="rng"):
        fn("the film was great.", "seed")


def test_family_behaviour(syn):
    s = "the film was great and the plot was boring."
    out = T.swap_synonyms(s, 0, syn, k=2)
    diff = [(a, b) for a, b in zip(T.tokenize(s), T.tokenize(out)) if a != b]
    assert 1 <= len(diff) <= 2 and all(b in syn[a] for a, b in diff)
    assert T.swap_synonyms("zxqv blorf!", 0, syn) == "zxqv blorf!"
    typo = T.add_typos("wonderful acting", 0, n_words=2)
    assert typo != "wonderful acting" and len(T.tokenize(typo)) == 2
    assert T.add_typos("a an to", 0) == "a an to", "words shorter than 3 letters are left alone"
    assert T.add_distractor("", 0) in T.DISTRACTORS
    assert T.add_distractor("great.", 0).startswith("great. ")
    assert T.add_contrast("", 0) == ""
    assert T.add_contrast("great.", 0).endswith("but great.")
    assert T.negate_antonym("the film was great.", 0) in {"the film was not bad.", "the film was not terrible.",
                                                         "the film was not awful."}
    assert T.negate_antonym("the film was not great.", 0) == "the film was not great.", "no double negation"
    assert T.paraphrase("the plot was dull, but the cast was great.", 1) in {
        "the cast was great, even though the plot was dull.", *(f.format(s="the plot was dull, but the cast was great.")
                                                                for f in T.FRAMES)}
    fams = T.make_families(syn, T.load_antonyms())
    assert len(fams) >= 5


def test_run_benchmark_shapes_and_errors(model, data):
    fams = T.make_families()
    res = T.run_benchmark(model, data.test_texts[:40], data.test_labels[:40], fams, n_variants=2)
    assert list(res) == ["clean", *fams]
    assert all(0.0 <= v <= 1.0 for v in res.values())
    assert res == T.run_benchmark(model, data.test_texts[:40], data.test_labels[:40], fams, n_variants=2)
    worst_of_more = T.run_benchmark(model, data.test_texts[:40], data.test_labels[:40], fams, n_variants=4)
    assert all(worst_of_more[k] <= res[k] + 1e-9 for k in ("typos", "synonym swap"))
    with pytest.raises(ValueError, match="labels"):
        T.run_benchmark(model, data.test_texts[:3], [0, 1], fams)
    with pytest.raises(ValueError, match="n_variants"):
        T.run_benchmark(model, data.test_texts[:3], data.test_labels[:3], fams, n_variants=0)
    with pytest.raises(ValueError, match="empty"):
        T.run_benchmark(model, [], [], fams)


# ------------------------------------------------------------------------------------------- attack

@pytest.mark.parametrize("text", AWKWARD)
def test_reference_attack_handles_awkward_input(model, syn, text):
    out = T.greedy_attack(model, text, 1, syn, 2)
    assert isinstance(out, str)
    assert len(T.tokenize(out)) == len(T.tokenize(text))


def test_attack_accuracy_and_strength(model, syn, data):
    texts, labels = data.test_texts[:60], data.test_labels[:60]
    clean = T.accuracy_on(model, texts, labels)
    acc, adv = T.attack_accuracy(model, texts, labels, lambda m, t, y: T.greedy_attack(m, t, y, syn, 2))
    assert len(adv) == 60 and acc < clean - 0.2


# ------------------------------------------------------------------------------------------- widget

def test_widget_logic_reacts_to_text_and_variant(model):
    fams = T.make_families()
    a = T.render_transformations({"standard": model, "copy": model}, "the film was great.", fams, 0)
    b = T.render_transformations({"standard": model, "copy": model}, "what a boring film!", fams, 0)
    c = T.render_transformations({"standard": model, "copy": model}, "the film was great.", fams, 1)
    assert a != b and a != c
    assert "standard: P(pos)" in a and "typos" in a and "original" in a
    assert "Type a sentence" in T.render_transformations(model, "  ", fams, 0)
    rows = T.transformation_rows(model, "zxqv!! ...", fams, 3)
    assert len(rows) == 1 + len(fams) and all(0 <= r[2] <= 1 for r in rows)
    with pytest.raises(TypeError, match="string"):
        T.render_transformations(model, None, fams)
    with pytest.raises(TypeError, match="TextClassifier"):
        T.render_transformations({}, "great", fams)


# ------------------------------------------------------------------------------ the check's sentences

def test_check_attack_sentences_are_correctly_classified(model):
    texts = [t for t, _ in _ATTACK_SENTENCES]
    labels = [y for _, y in _ATTACK_SENTENCES]
    assert T.accuracy_on(model, texts, labels) == 1.0


def test_check_has_sentences_the_model_gets_wrong_from_the_start(model):
    assert any(model.predict([t]).item() != y for t, y in _WRONG_FROM_THE_START)


def test_greedy_attack_rejects_bad_arguments(model, syn):
    with pytest.raises(ValueError, match="k must be"):
        T.greedy_attack(model, "the film was great.", 1, syn, -1)
    with pytest.raises(ValueError, match="label"):
        T.greedy_attack(model, "the film was great.", 2, syn, 1)
    with pytest.raises(TypeError, match="table"):
        T.greedy_attack(model, "the film was great.", 1, ["great"], 1)
    with pytest.raises(TypeError, match="string"):
        T.greedy_attack(model, None, 1, syn, 1)
