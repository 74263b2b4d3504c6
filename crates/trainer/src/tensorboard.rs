//! TensorBoard event files through tensorboard-rs, behind [`dqn::Logger`].
//!
//! tensorboard-rs writes on a background thread and its `flush` does not wait: the data is on
//! disk only once the writer is dropped ([`TensorBoard::close`]). Its `SummaryWriter` panics in
//! `add_histogram` and `add_text` (unimplemented), so we write summaries through its lower-level
//! `FileWriter`: scalars and raw histograms with its own builders, text with the text plugin's
//! format built here from tensorboard-proto's types — all into one event file, since two
//! writers opened in the same second in one directory clobber each other.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use protobuf::RepeatedField;
use tensorboard_proto::summary::{Summary, Summary_Value, SummaryMetadata, SummaryMetadata_PluginData};
use tensorboard_proto::tensor::TensorProto;
use tensorboard_proto::tensor_shape::TensorShapeProto;
use tensorboard_proto::types::DataType;
use tensorboard_rs::summary::{histogram_raw, scalar};
use tensorboard_rs::summary_writer::FileWriter;

/// A TensorBoard run directory being written.
pub struct TensorBoard {
    writer: Option<FileWriter>,
    dir: PathBuf,
}

impl std::fmt::Debug for TensorBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorBoard").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl TensorBoard {
    /// Opens a new event file in `dir` (created if needed; earlier event files are kept, so a
    /// resumed run appends to the same run).
    ///
    /// # Errors
    /// If the directory cannot be created.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the run directory", dir.display()))?;
        Ok(Self { writer: Some(FileWriter::new(dir)), dir: dir.to_path_buf() })
    }

    /// A histogram of `values` in 30 equal-width buckets (non-finite values are skipped).
    pub fn histogram(&mut self, tag: &str, values: &[f64], step: u64) {
        let xs: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if xs.is_empty() {
            return;
        }
        let (min, max) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let k = 30;
        let width = ((max - min) / k as f64).max(1e-12);
        let limits: Vec<f64> = (1..=k).map(|i| min + width * i as f64).collect();
        let mut counts = vec![0.0; k];
        for &x in &xs {
            counts[(((x - min) / width) as usize).min(k - 1)] += 1.0;
        }
        self.raw_histogram(tag, &xs, &limits, &counts, step);
    }

    /// A histogram of integer categories: `counts[i]` occurrences of value `i`.
    pub fn categories(&mut self, tag: &str, counts: &[u64], step: u64) {
        let num: u64 = counts.iter().sum();
        if num == 0 {
            return;
        }
        let xs: Vec<f64> =
            counts.iter().enumerate().flat_map(|(i, &c)| std::iter::repeat_n(i as f64, c as usize)).collect();
        let limits: Vec<f64> = (0..counts.len()).map(|i| i as f64 + 0.5).collect();
        let c: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
        self.raw_histogram(tag, &xs, &limits, &c, step);
    }

    fn raw_histogram(&mut self, tag: &str, xs: &[f64], limits: &[f64], counts: &[f64], step: u64) {
        let (min, max) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let sum: f64 = xs.iter().sum();
        let sum_sq: f64 = xs.iter().map(|x| x * x).sum();
        if let Some(w) = &mut self.writer {
            let summary = histogram_raw(tag, min, max, xs.len() as f64, sum, sum_sq, limits, counts);
            w.add_summary(summary, step as usize);
        }
    }

    /// A text summary (markdown, shown in TensorBoard's Text tab), in the text plugin's format:
    /// a scalar string tensor with plugin name `text`.
    pub fn text(&mut self, tag: &str, markdown: &str, step: u64) {
        let mut shape = TensorShapeProto::new();
        shape.clear_dim();
        let mut tensor = TensorProto::new();
        tensor.set_dtype(DataType::DT_STRING);
        tensor.set_tensor_shape(shape);
        tensor.set_string_val(RepeatedField::from(vec![markdown.as_bytes().to_vec()]));
        let mut plugin = SummaryMetadata_PluginData::new();
        plugin.set_plugin_name("text".into());
        let mut metadata = SummaryMetadata::new();
        metadata.set_plugin_data(plugin);
        let mut value = Summary_Value::new();
        value.set_tag(tag.into());
        value.set_metadata(metadata);
        value.set_tensor(tensor);
        let mut summary = Summary::new();
        summary.set_value(RepeatedField::from(vec![value]));
        if let Some(w) = &mut self.writer {
            w.add_summary(summary, step as usize);
        }
    }

    /// Finishes the event file: everything logged is on disk when this returns.
    pub fn close(&mut self) {
        if let Some(mut w) = self.writer.take() {
            w.flush();
        }
    }
}

impl dqn::Logger for TensorBoard {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        if let Some(w) = &mut self.writer {
            w.add_summary(scalar(tag, value as f32), step as usize);
        }
    }
}

impl Drop for TensorBoard {
    fn drop(&mut self) {
        self.close();
    }
}
