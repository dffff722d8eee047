"""Tasks and the output layers that serve them: binary, multiclass, multilabel, regression."""

from __future__ import annotations

from mlpkit.network import DNN

TASKS = ("binary", "multiclass", "multilabel", "regression")


def infer_task(net: DNN) -> str:
    """The prediction task a network's output layer implies (a bare DNN, without a Model)."""
    if net.output_activation == "softmax":
        return "multiclass"
    if net.output_activation == "sigmoid":
        return "binary" if net.layer_sizes[-1] == 1 else "multilabel"
    return "regression"


def check_task(task: str, net: DNN) -> str:
    """``task`` if the network's output layer can serve it, else ValueError naming what fits."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {list(TASKS)}")
    output, n_out = net.output_activation, net.layer_sizes[-1]
    allowed = {
        "binary": (output == "sigmoid" and n_out == 1) or (output == "softmax" and n_out == 2),
        "multiclass": output == "softmax" and n_out >= 2,
        "multilabel": output == "sigmoid",
        "regression": output == "identity",
    }
    if not allowed[task]:
        raise ValueError(
            f"task {task!r} does not fit a {output} output layer with {n_out} unit(s): binary needs "
            "sigmoid with 1 unit or softmax with 2, multiclass softmax, multilabel sigmoid, "
            "regression identity"
        )
    return task
