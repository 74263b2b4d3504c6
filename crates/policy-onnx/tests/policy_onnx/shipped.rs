//! The shipped exports' `policy.onnx`, rebuilt from their `policy.safetensors` and
//! `policy.json`, byte for byte: the writer's output does not drift (the trainer's export test
//! compares a fresh export with these files).

use std::path::Path;

use policy_onnx::proto::ModelProto;
use policy_onnx::{ModelInfo, model_bytes};
use prost::Message;

#[test]
fn shipped_models_are_reproduced_byte_for_byte() {
    let checkpoints = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints");
    for name in
        ["shipped-park-lb-export", "shipped-seed-case-export", "shipped-node-scoring-export", "shipped-openb-export"]
    {
        let dir = checkpoints.join(name);
        let export = policy::Export::read(&dir).unwrap_or_else(|e| panic!("{e}"));
        let shipped = std::fs::read(dir.join("policy.onnx")).unwrap();
        // The header fields come from the trainer (its version, the experiment's description).
        let model = ModelProto::decode(shipped.as_slice()).unwrap();
        let info = ModelInfo {
            producer_version: model.producer_version.clone().unwrap(),
            doc_string: model.doc_string.clone().unwrap_or_default(),
            metadata: model.metadata_props.iter().map(|p| (p.key.clone().unwrap(), p.value.clone().unwrap())).collect(),
        };
        let rebuilt = model_bytes(&export.network, export.meta.normalization.as_ref(), &info).unwrap();
        assert!(rebuilt == shipped, "{name}: policy.onnx rebuilt from the weights differs from the shipped file");
    }
}
