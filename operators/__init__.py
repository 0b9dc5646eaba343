"""Model families as plain torch/ONNX stylizers with their weight loading and pre/post-processing."""
