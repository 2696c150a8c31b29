"""Thin ipywidgets helpers. Lesson logic lives in plain functions that tests call; a widget only
collects values from controls and shows what such a function returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.figure import Figure

__all__ = ["explorer", "show_result"]


def show_result(result: Any) -> None:
    """Display what a render function returned: a matplotlib figure (then closed), text, or any object."""
    if isinstance(result, Figure):
        display(result)
        plt.close(result)
    elif isinstance(result, str):
        print(result)
    elif result is not None:
        display(result)


def explorer(render: Callable[..., Any], controls: Mapping[str, W.ValueWidget], title: str = "") -> W.VBox:
    """A box of ``controls`` above an output area that shows ``render(**values)``, updated on every change.

    ``render`` is a plain function (tested on its own); this helper only wires it to the controls.
    """
    if not controls:
        raise ValueError("explorer needs at least one control")
    out = W.Output()

    def update(_change=None) -> None:
        values = {k: w.value for k, w in controls.items()}
        with out:
            out.clear_output(wait=True)
            show_result(render(**values))

    for w in controls.values():
        w.observe(update, names="value")
    update()
    header = [W.HTML(f"<b>{title}</b>")] if title else []
    return W.VBox([*header, W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap")), out])
