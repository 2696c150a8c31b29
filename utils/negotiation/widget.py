"""Step through a simulated negotiation with each message's truth, the listener's belief and every detector's
score (lesson 08). :func:`dialogue_rows` and :func:`render_dialogue` are plain functions (tested); the widget
:func:`negotiation_explorer` only wires sliders and a button to them."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

from .simulator import Corpus, Game

__all__ = ["game_offsets", "dialogue_rows", "render_dialogue", "negotiation_explorer"]


def game_offsets(corpus: Corpus) -> dict:
    """game id -> index of its first message in the corpus's flat message list."""
    out, k = {}, 0
    for g in corpus.games:
        out[g.gid] = k
        k += len(g.messages)
    return out


def _check_scores(corpus: Corpus, scores: Mapping[str, np.ndarray]) -> dict:
    n = len(corpus)
    out = {}
    for name, s in scores.items():
        a = np.asarray(s, dtype=float)
        if a.shape != (n,):
            raise ValueError(f"scores[{name!r}] has shape {a.shape}; it needs one score per corpus message ({n},)")
        out[str(name)] = a
    return out


def dialogue_rows(corpus: Corpus, game_index: int, scores: Mapping[str, np.ndarray], upto: int | None = None,
                  threshold: float = 0.5) -> list[dict]:
    """One dict per message of game number ``game_index`` (position in ``corpus.games``) up to message ``upto``
    (1-based, clamped to the game's length): turn, speaker, text, truth, outcome, listener belief, and
    ``scores`` / ``flags``: each detector's score and whether it reaches ``threshold``."""
    if not corpus.games:
        raise ValueError("the corpus has no games")
    if isinstance(game_index, bool) or not isinstance(game_index, (int, np.integer)) or \
            not 0 <= game_index < len(corpus.games):
        raise IndexError(f"game_index must be between 0 and {len(corpus.games) - 1}, got {game_index!r}")
    scores = _check_scores(corpus, scores)
    g: Game = corpus.games[int(game_index)]
    start = game_offsets(corpus)[g.gid]
    n = len(g.messages) if upto is None else max(1, min(int(upto), len(g.messages)))
    rows = []
    for t, m in enumerate(g.messages[:n]):
        outcome = {(False, False): "straightforward", (False, True): "Cassandra", (True, False): "deceived",
                   (True, True): "caught"}[(m.lie, m.suspected)]
        row = {"turn": t, "speaker": m.speaker, "text": m.text, "truth": "LIE" if m.lie else "truth",
               "outcome": outcome, "listener": round(m.belief, 2)}
        row["scores"] = {name: round(float(s[start + t]), 2) for name, s in scores.items()}
        row["flags"] = {name: bool(s[start + t] >= threshold) for name, s in scores.items()}
        rows.append(row)
    return rows


def _private_line(g: Game, who: str) -> str:
    p = g.private[who]
    vals = ", ".join(f"{item} {p.values[item]}/unit ({p.level(item, g.pool)})" for item in g.pool)
    extra = ("outside option" if p.has_outside else "no outside option") + (", deceptive type" if p.deceptive
                                                                             else ", honest type")
    if p.plan_walk:
        extra += ", plans to walk away"
    return f"<b>{who}</b> (standing {g.standing[who]}): {vals}; {extra}"


def render_dialogue(corpus: Corpus, game_index: int, scores: Mapping[str, np.ndarray], upto: int,
                    threshold: float = 0.5) -> str:
    """HTML: the traders' private states (what no reader of the text sees), then the dialogue up to message
    ``upto`` with the truth, the listener's belief and each detector's score; the last shown message is bold."""
    rows = dialogue_rows(corpus, game_index, scores, upto, threshold)
    g = corpus.games[int(game_index)]
    names = list(_check_scores(corpus, scores))
    pool = ", ".join(f"{n} {item}" for item, n in g.pool.items())
    head = (f"<div><b>Game #{int(game_index)}</b> (game id {g.gid}): pool {html.escape(pool)}; outcome: {g.outcome} "
            f"(message {len(rows)} of {len(g.messages)})<br>{_private_line(g, 'A')}<br>{_private_line(g, 'B')}</div>")
    cols = ["#", "who", "message", "truth", "outcome", "listener", *names]
    out = [head, "<table style='border-collapse:collapse;font-size:12px'><tr>" +
           "".join(f"<th style='text-align:left;padding:2px 6px'>{html.escape(c)}</th>" for c in cols) + "</tr>"]
    for k, r in enumerate(rows):
        bg = "#fde0dc" if r["truth"] == "LIE" else "#ffffff"
        weight = "bold" if k == len(rows) - 1 else "normal"
        cells = [str(r["turn"]), r["speaker"], html.escape(r["text"]), r["truth"], r["outcome"],
                 f"{r['listener']:.2f}" + (" ⚑" if r["outcome"] in ("caught", "Cassandra") else "")]
        cells += [f"{r['scores'][nm]:.2f}" + (" ⚑" if r["flags"][nm] else "") for nm in names]
        out.append(f"<tr style='background:{bg};font-weight:{weight}'>" +
                   "".join(f"<td style='padding:2px 6px;text-align:left'>{c}</td>" for c in cells) + "</tr>")
    out.append("</table><div style='font-size:11px'>⚑ = suspected by the listener / score ≥ "
               f"{threshold:.2f}. Red rows are lies (the speaker's private intent).</div>")
    return "".join(out)


def negotiation_explorer(corpus: Corpus, scores: Mapping[str, np.ndarray], threshold: float = 0.5,
                         title: str = "Step through a negotiation"):
    """A widget: a slider picks the game, a slider (or the 'next message' button) the message."""
    import ipywidgets as W
    from IPython.display import HTML

    from utils.widgets import explorer

    _check_scores(corpus, scores)
    if not corpus.games:
        raise ValueError("the corpus has no games")
    longest = max(len(g.messages) for g in corpus.games)
    game = W.IntSlider(value=0, min=0, max=len(corpus.games) - 1, description="game", continuous_update=False)
    step = W.IntSlider(value=1, min=1, max=longest, description="message", continuous_update=False)
    nxt = W.Button(description="next message ▶")

    def on_next(_):
        n = len(corpus.games[game.value].messages)
        step.value = step.value + 1 if step.value < n else 1     # wrap round: every click changes the view

    nxt.on_click(on_next)

    def render(game, step):
        return HTML(render_dialogue(corpus, game, scores, step, threshold))

    box = explorer(render, {"game": game, "step": step}, title=title)
    children = list(box.children)
    children[-2] = W.HBox([*children[-2].children, nxt])
    box.children = tuple(children)
    return box
