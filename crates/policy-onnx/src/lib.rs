//! Writes a [`policy::Mlp`] (with its observation normalisation) as an ONNX model.

#![deny(missing_docs)]

pub mod proto;
