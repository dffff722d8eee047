"""Export of trained networks to other runtimes (ONNX)."""

from mlpkit.export.onnx import IR_VERSION, OPSET_VERSION, export_onnx, to_onnx

__all__ = ["IR_VERSION", "OPSET_VERSION", "export_onnx", "to_onnx"]
