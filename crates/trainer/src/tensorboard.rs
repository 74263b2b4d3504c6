//! TensorBoard event files, behind [`dqn::Logger`].
//!
//! The events are encoded with tensorboard-rs's summary builders and tensorboard-proto's types
//! (scalars, raw histograms, and text in the text plugin's format, which tensorboard-rs's own
//! `SummaryWriter` cannot write), framed as TFRecords by its `RecordWriter`, and written by this
//! module to one event file per training session: tensorboard-rs's `FileWriter` writes on a
//! background thread and only when dropped, so a killed run lost all its curves, and two
//! writers opened in the same second clobbered each other.
//!
//! Here events are buffered and appended by [`TensorBoard::flush`] (every few seconds, so curves
//! appear while training) and [`TensorBoard::sync`] (at each checkpoint, fsynced). A checkpoint
//! records the length of every event file of the run ([`TensorBoard::files`]), and a resumed run
//! first cuts the run directory back to those lengths ([`rewind`]): the curves then continue
//! from the checkpoint without the steps that the interrupted session logged after it, which the
//! resumed session logs again.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use protobuf::{Message, RepeatedField};
use tensorboard_proto::event::Event;
use tensorboard_proto::summary::{Summary, Summary_Value, SummaryMetadata, SummaryMetadata_PluginData};
use tensorboard_proto::tensor::TensorProto;
use tensorboard_proto::tensor_shape::TensorShapeProto;
use tensorboard_proto::types::DataType;
use tensorboard_rs::record_writer::RecordWriter;
use tensorboard_rs::summary::{histogram_raw, scalar};

/// What TensorBoard reads: files whose name contains this.
const EVENT_FILE_MARK: &str = "tfevents";

/// Seconds between the appends of [`TensorBoard::flush_every`].
pub const FLUSH_SECONDS: f64 = 5.0;

/// A TensorBoard run directory being written: this session's event file.
pub struct TensorBoard {
    dir: PathBuf,
    /// The event file's name inside `dir`.
    name: String,
    file: Option<File>,
    /// Framed records not yet appended.
    pending: Vec<u8>,
    /// Bytes of the file appended so far.
    written: u64,
    last_flush: Instant,
}

impl std::fmt::Debug for TensorBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorBoard").field("dir", &self.dir).field("name", &self.name).finish_non_exhaustive()
    }
}

fn wall_time() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl TensorBoard {
    /// Opens a new event file in `dir` (created if needed; earlier event files are kept, so a
    /// resumed run appends to the same run), named like TensorBoard's own
    /// (`events.out.tfevents.<seconds>.<host>.<pid>.<n>`, with `n` making it new).
    ///
    /// # Errors
    /// If the directory or the file cannot be created.
    pub fn create(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the run directory", dir.display()))?;
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let host = gethostname::gethostname().to_string_lossy().replace(['/', '\\'], "_");
        let pid = std::process::id();
        let (name, file) = (0..)
            .map(|n| format!("events.out.{EVENT_FILE_MARK}.{seconds:010}.{host}.{pid}.{n}"))
            .find_map(|name| match OpenOptions::new().append(true).create_new(true).open(dir.join(&name)) {
                Ok(file) => Some(Ok((name, file))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            })
            .unwrap_or_else(|| unreachable!("an unbounded range always finds a free name or an error"))
            .with_context(|| format!("{}: cannot create an event file", dir.display()))?;
        let mut tb = Self {
            dir: dir.to_path_buf(),
            name,
            file: Some(file),
            pending: Vec::new(),
            written: 0,
            last_flush: Instant::now(),
        };
        let mut version = Event::new();
        version.set_wall_time(wall_time());
        version.set_file_version("brain.Event:2".into());
        tb.record(&version);
        tb.flush()?;
        Ok(tb)
    }

    fn record(&mut self, event: &Event) {
        // Encoding a message into a Vec and framing it into a Vec cannot fail.
        if let Ok(bytes) = event.write_to_bytes() {
            let _ = RecordWriter::new(&mut self.pending).write(&bytes);
        }
    }

    fn summary(&mut self, summary: Summary, step: u64) {
        let mut event = Event::new();
        event.set_wall_time(wall_time());
        event.set_step(i64::try_from(step).unwrap_or(i64::MAX));
        event.set_summary(summary);
        self.record(&event);
    }

    /// Appends the buffered events to the file (not fsynced: see [`TensorBoard::sync`]).
    ///
    /// # Errors
    /// If the file cannot be written (the events stay buffered).
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        let Some(file) = &mut self.file else { return Ok(()) };
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(&self.name);
        file.write_all(&self.pending).with_context(|| format!("{}: cannot write", path.display()))?;
        self.written += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// [`flush`](Self::flush)es if the last one is [`FLUSH_SECONDS`] old, so that curves
    /// appear while training runs; a failure is reported once and retried later.
    pub fn flush_every(&mut self) {
        if self.last_flush.elapsed().as_secs_f64() >= FLUSH_SECONDS
            && let Err(e) = self.flush()
        {
            eprintln!("cluster-rl: warning: TensorBoard: {e:#}");
        }
    }

    /// Flushes and fsyncs, so that the lengths [`files`](Self::files) reports are on disk.
    ///
    /// # Errors
    /// If the file cannot be written or synced.
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if let Some(file) = &self.file {
            file.sync_data().with_context(|| format!("{}: cannot sync", self.dir.join(&self.name).display()))?;
        }
        Ok(())
    }

    /// This session's event file and its length on disk (after a [`sync`](Self::sync)): what a
    /// checkpoint records, added to the earlier sessions' files.
    pub fn file(&self) -> (String, u64) {
        (self.name.clone(), self.written)
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
        let summary = histogram_raw(tag, min, max, xs.len() as f64, sum, sum_sq, limits, counts);
        self.summary(summary, step);
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
        self.summary(summary, step);
    }

    /// Finishes the event file: everything logged is written when this returns (a failure is
    /// reported, not fatal: the checkpoints are what training must keep).
    pub fn close(&mut self) {
        if let Err(e) = self.sync() {
            eprintln!("cluster-rl: warning: TensorBoard: {e:#}");
        }
        self.file = None;
    }
}

impl dqn::Logger for TensorBoard {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        self.summary(scalar(tag, value as f32), step);
    }
}

impl Drop for TensorBoard {
    fn drop(&mut self) {
        self.close();
    }
}

/// Cuts run directory `dir` back to what a checkpoint recorded (`files`: event file name →
/// length): longer files are truncated, event files it does not know (of a session that
/// started after the checkpoint) are removed. A checkpoint that recorded nothing (written
/// before event files were recorded) changes nothing. Returns how many files changed.
///
/// # Errors
/// If the directory cannot be listed or a file cannot be truncated or removed.
pub fn rewind(dir: &Path, files: &BTreeMap<String, u64>) -> Result<usize> {
    if files.is_empty() {
        return Ok(0);
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot list", dir.display())),
    };
    let mut changed = 0;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.contains(EVENT_FILE_MARK) {
            continue;
        }
        let path = entry.path();
        match files.get(&name) {
            Some(&len) => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .with_context(|| format!("{}: cannot open", path.display()))?;
                let now = file.metadata().with_context(|| format!("{}: cannot stat", path.display()))?.len();
                if now > len {
                    file.set_len(len).with_context(|| format!("{}: cannot truncate", path.display()))?;
                    file.sync_all().with_context(|| format!("{}: cannot sync", path.display()))?;
                    changed += 1;
                }
            }
            None => {
                fs::remove_file(&path).with_context(|| format!("{}: cannot remove", path.display()))?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}
