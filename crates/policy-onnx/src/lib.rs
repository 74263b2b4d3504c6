//! Writes a [`policy_core::Network`] — an MLP or a node-scoring network — (with its
//! observation normalisation) as an ONNX model.
//!
//! # Brief overview
//!
//! burn cannot export ONNX, so this crate writes the graph itself: [`model_bytes`] turns a
//! network and its optional [`policy_core::Normalization`] into the bytes of an ONNX file, and
//! [`write()`] puts them on disk atomically. [`ModelInfo`] carries the header fields (producer
//! version, description, metadata). An MLP's model takes `obs` (`float[batch, obs_dim]`, raw
//! observations) and returns `q_values` (`float[batch, n_actions]`); a node-scoring network's
//! takes `nodes` (`float[batch, nodes, node_width]`, raw node rows, any number of nodes) and
//! `task` (`float[batch, task_width]`) and returns `q_values` (`float[batch, nodes]`). The
//! greedy action is the arg-max of a row over the valid nodes. The protobuf messages live in [`proto`], so callers can decode a model
//! (with [`prost::Message`]) to inspect it. Invalid networks are an [`OnnxError`], never a
//! panic.
//!
//! The model targets IR version [`IR_VERSION`] and opset [`OPSET_VERSION`] of the default
//! domain, which onnxruntime 1.32 runs; the crate's interop test checks every activation,
//! dueling and normalisation combination against onnxruntime.
//!
//! ```
//! use policy_core::{Activation, Dense, Mlp, Network};
//! use policy_onnx::{ModelInfo, model_bytes, proto::ModelProto};
//! use prost::Message;
//!
//! // 3 features → 4 hidden units → 2 actions.
//! let dense = |d_in, d_out| Dense { d_in, d_out, weight: vec![0.1; d_in * d_out], bias: vec![0.0; d_out] };
//! let mlp = Mlp { hidden: vec![dense(3, 4)], head: dense(4, 2), value: None, activation: Activation::Relu };
//! let info = ModelInfo { producer_version: "0.1.0".into(), ..ModelInfo::default() };
//! let bytes = model_bytes(&Network::Mlp(mlp), None, &info)?;
//!
//! let model = ModelProto::decode(bytes.as_slice()).unwrap();
//! let ops: Vec<_> = model.graph.unwrap().node.iter().map(|n| n.op_type.clone().unwrap()).collect();
//! assert_eq!(ops, ["MatMul", "Add", "Relu", "MatMul", "Add"]);
//! # Ok::<(), policy_onnx::OnnxError>(())
//! ```

#![deny(missing_docs)]

pub use error::OnnxError;
pub use export::{
    BATCH_DIM, INPUT_NAME, IR_VERSION, ModelInfo, NODES_DIM, NODES_INPUT_NAME, OPSET_VERSION, OUTPUT_NAME,
    PRODUCER_NAME, TASK_INPUT_NAME, model_bytes, model_proto, write,
};

mod error;
mod export;
pub mod proto;
