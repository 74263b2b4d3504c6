//! The crate's one error type.

use std::path::PathBuf;

/// Why a network could not be written as ONNX.
///
/// Everything but [`OnnxError::Io`] is found before any byte is written: the writer refuses a
/// network that onnxruntime would reject or compute differently from the Rust runtime.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A layer does not fit the network: an empty dimension, a bias whose length is not the
    /// layer's output width, an input width that is not the previous layer's output width, or
    /// a value head with more than one output.
    #[error("onnx export: {tensor}: {reason}")]
    Shape {
        /// The offending tensor, named as in `policy.safetensors`, e.g. `hidden.1.weight`.
        tensor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A weight, bias or normalisation statistic is NaN or infinite.
    #[error("onnx export: {tensor}{} is {value}, not a finite number", subscript(.index))]
    NonFinite {
        /// The tensor or field, e.g. `head.bias` or `normalization.var`.
        tensor: String,
        /// The element's index (row, column for a weight; empty for a scalar).
        index: Vec<usize>,
        /// The element.
        value: f64,
    },
    /// The normalisation does not fit the network or cannot be applied: a statistic whose
    /// length is not the observation width, a negative variance or epsilon, a zero standard
    /// deviation, or a clip bound that is not positive.
    #[error("onnx export: normalization: {reason}")]
    Normalization {
        /// What is wrong.
        reason: String,
    },
    /// Two metadata entries share a key; ONNX requires distinct keys (the checker rejects the
    /// model otherwise).
    #[error("onnx export: metadata key {key:?} appears more than once")]
    DuplicateMetadataKey {
        /// The repeated key.
        key: String,
    },
    /// The model file (or its temporary sibling) could not be written, synced or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// `[2, 3]` for an element of a matrix; nothing for a scalar.
fn subscript(index: &[usize]) -> String {
    if index.is_empty() { String::new() } else { format!("{index:?}") }
}
