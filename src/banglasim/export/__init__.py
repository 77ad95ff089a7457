"""Ship a trained model: a pruned-vocabulary ONNX graph (int8 by default), its tokenizer, manifest and card.
The `export` stage writes models/export/; `runtime.OnnxEncoder` encodes with it without torch."""
