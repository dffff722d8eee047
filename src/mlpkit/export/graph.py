"""The graph under construction: nodes, initializers, inputs and outputs of one ONNX graph.

Internal tensor names (``W1``, ``Z1``, ``p``, ...) never shadow a graph input: a table model's
inputs are named after its columns, so an internal name equal to a column's is renamed
(``p`` -> ``p_1``) wherever it is made or used, while a :class:`GraphInput` keeps its own name.
"""

from __future__ import annotations

import numpy as np


class GraphInput(str):
    """The name of a graph input (a table's column): used as it is, never renamed."""


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs of one ONNX graph."""

    def __init__(self, onnx_module) -> None:
        self.onnx = onnx_module
        self.helper = onnx_module.helper
        self.nodes: list = []
        self.initializers: list = []
        self.inputs: list = []
        self.outputs: list = []
        self.domains: dict[str, int] = {}
        self._reserved: set[str] = set()
        self._renamed: dict[str, str] = {}
        self._shared: dict[str, str] = {}

    def name(self, name: str) -> str:
        """``name`` itself, or a fresh name when a graph input already holds it."""
        if isinstance(name, GraphInput) or name not in self._reserved:
            return name
        if name not in self._renamed:
            k = 1
            while f"{name}_{k}" in self._reserved:
                k += 1
            self._renamed[name] = f"{name}_{k}"
        return self._renamed[name]

    def input(self, name: str, element_type: int, shape: list) -> GraphInput:
        """Declare a graph input; internal names equal to it are renamed from now on."""
        self._reserved.add(name)
        self.inputs.append(self.helper.make_tensor_value_info(name, element_type, shape))
        return GraphInput(name)

    def constant(self, name: str, values: np.ndarray) -> str:
        name = self.name(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(values), name=name))
        return name

    def shared(self, name: str, values: np.ndarray) -> str:
        """A constant made once however many nodes use it."""
        if name not in self._shared:
            self._shared[name] = self.constant(name, values)
        return self._shared[name]

    def node(self, op: str, inputs: list[str], output: str, domain: str = "", **attributes) -> str:
        """Append one node; returns its output's (possibly renamed) name."""
        output = self.name(output)
        names = [self.name(name) for name in inputs]
        node = self.helper.make_node(op, names, [output], name=f"{op}_{output}", domain=domain, **attributes)
        self.nodes.append(node)
        return output

    def output(self, name: str, element_type: int, shape: list) -> None:
        self.outputs.append(self.helper.make_tensor_value_info(name, element_type, shape))
