"""A network described layer by layer: shapes, activations, parameter counts, as rows or as HTML.

What a notebook shows for a :class:`~mlpkit.network.DNN` (its ``_repr_html_``) and, under the
preprocessing and labels, for a :class:`~mlpkit.model.Model`: one row per layer ``l`` with the
shapes of ``W_l`` ``(n_l, n_{l-1})`` and ``b_l`` ``(n_l, 1)``, ``g_l`` and ``n_l n_{l-1} + n_l``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from mlpkit.losses import OUTPUT_LAYERS

if TYPE_CHECKING:
    from mlpkit.network import DNN

HEADER = ("layer", "units n_l", "W_l", "b_l", "activation g_l", "parameters")


def layer_rows(net: DNN) -> list[tuple[str, ...]]:
    """One row per layer, the input ``A0`` first: ``HEADER``'s columns as display strings."""
    sizes = net.layer_sizes
    rows = [("0 (input A0)", str(sizes[0]), "", "", "", "")]
    for l in range(1, net.L + 1):
        g = net.hidden_activations[l - 1] if l < net.L else net.output_activation
        kind = "hidden" if l < net.L else "output"
        count = sizes[l] * sizes[l - 1] + sizes[l]  # n_l n_{l-1} weights + n_l biases
        shape_W, shape_b = f"({sizes[l]}, {sizes[l - 1]})", f"({sizes[l]}, 1)"
        rows.append((f"{l} ({kind})", str(sizes[l]), shape_W, shape_b, g, f"{count:,}"))
    return rows


def output_loss(output_activation: str) -> str:
    """The loss an output activation pairs with, in words, or how such a network is trained."""
    pair = OUTPUT_LAYERS.get(output_activation)
    if pair is None:
        return "no paired loss: backward(dA_L, cache) from your own"
    return pair.loss_name.replace("_", " ")


def html_table(rows: Sequence[tuple[str, ...]], header: Sequence[str], caption: str) -> str:
    """A plain HTML table, every cell escaped; with an empty ``header``, no header row."""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    head = f"<thead><tr>{head}</tr></thead>" if header else ""  # no header: a table of facts
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><caption>{escape(caption)}</caption>{head}<tbody>{body}</tbody></table>"


def network_html(net: DNN, title: str = "DNN") -> str:
    """The network as an HTML table: a caption with the sizes, dtype and loss, a row per layer, the total."""
    sizes = " \u2192 ".join(str(size) for size in net.layer_sizes)
    caption = f"{title} {sizes}, {net.dtype.name}, loss: {output_loss(net.output_activation)}"
    total = ("total", "", "", "", "", f"{net.n_parameters:,}")
    return html_table([*layer_rows(net), total], HEADER, caption)
