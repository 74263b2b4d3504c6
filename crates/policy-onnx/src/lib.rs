//! Writes a [`policy::Mlp`] (with its observation normalisation) as an ONNX model.
