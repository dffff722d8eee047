"""Export of trained networks to other runtimes (ONNX)."""

from mlpkit.export.onnx import IR_VERSION, OPSET_VERSION, export_onnx, to_onnx
from mlpkit.export.table import MISSING_TEXT, onnx_inputs

__all__ = ["IR_VERSION", "MISSING_TEXT", "OPSET_VERSION", "export_onnx", "onnx_inputs", "to_onnx"]
