//! Sweep files: which experiment, which training seeds, which settings to vary, and what each
//! run may use on a cluster.
//!
//! ```toml
//! [sweep]
//! name = "park-lb-lr"            # letters, digits, '-', '_', '.'
//! base = "../park-lb.toml"       # the experiment file, relative to this file
//! seeds = [1, 2, 3, 4, 5]        # training seeds: experiment.seed of each run
//!
//! [grid]                          # cartesian product of these lists
//! "agent.learning_rate" = [1e-4, 3e-4]
//!
//! [zip]                           # equal-length lists taken together; product with [grid]
//! "agent.n_step" = [1, 3]
//! "agent.gamma" = [0.99, 0.995]
//!
//! [resources]                     # Slurm only
//! cpus = 1
//! mem = "2G"
//! time = "01:00:00"
//! partition = "debug"
//! max_parallel = 4
//! signal_seconds = 120
//! ```
//!
//! Keys of `[grid]` and `[zip]` are the dotted keys of `cluster-rl train --set`, quoted or
//! written as TOML dotted keys (`agent.learning_rate = [...]` is the same key); the values are
//! TOML values, so lists of lists set list-valued keys (`"agent.hidden_sizes" = [[64], [128]]`).
//!
//! **Order.** Keys are taken in sorted order, whatever order the file lists them in (a TOML
//! table's order depends on crate features; a sweep's numbering must not). Configurations
//! count through the grid with its first key slowest, then through the zip, fastest:
//! configuration `c<i>`. Runs count through configurations, then seeds in the file's order:
//! run `c<i>-s<seed>`, whose index is its Slurm array task id.
//!
//! Every error names the file and the key; the experiments themselves are checked by
//! [`crate::config::load`] when the sweep is planned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// Keys the sweep sets itself in every run's experiment, which `[grid]` and `[zip]` may not.
pub const OWNED_KEYS: [(&str, &str); 4] = [
    ("experiment.seed", "sweep.seeds"),
    ("experiment.name", "the sweep (<sweep.name>-<run id>)"),
    ("logging.runs_dir", "the sweep (inside its directory)"),
    ("logging.checkpoint_dir", "the sweep (inside its directory)"),
];

/// The sections a sweep file may have.
const SECTIONS: [&str; 4] = ["sweep", "grid", "zip", "resources"];

/// `[sweep]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSection {
    name: String,
    base: String,
    seeds: Vec<u64>,
}

/// `[resources]`: what each run asks Slurm for. Ignored by the local backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPUs per run (`--cpus-per-task`); also the run's rayon threads under Slurm.
    #[serde(default = "one")]
    pub cpus: u32,
    /// Memory per run (`--mem`), a number with an optional K, M, G or T suffix: `"2G"`.
    #[serde(default)]
    pub mem: Option<String>,
    /// Time limit per run (`--time`), in a Slurm format: `"MM"`, `"MM:SS"`, `"HH:MM:SS"`,
    /// `"D-HH"`, `"D-HH:MM"` or `"D-HH:MM:SS"`.
    #[serde(default)]
    pub time: Option<String>,
    /// Slurm partition (`--partition`); the cluster's default if absent.
    #[serde(default)]
    pub partition: Option<String>,
    /// Runs at once (the array's `%` throttle); no limit if absent.
    #[serde(default)]
    pub max_parallel: Option<u32>,
    /// Seconds before the time limit at which Slurm sends SIGUSR1, so the run checkpoints and
    /// is requeued (`--signal=B:USR1@<s>`). Slurm checks every 30 s, so give it room.
    #[serde(default = "default_signal_seconds")]
    pub signal_seconds: u32,
}

impl Default for Resources {
    fn default() -> Self {
        Self { cpus: 1, mem: None, time: None, partition: None, max_parallel: None, signal_seconds: 120 }
    }
}

fn one() -> u32 {
    1
}

fn default_signal_seconds() -> u32 {
    120
}

/// A parsed, checked sweep file.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFile {
    /// The file, as given.
    pub path: PathBuf,
    /// `sweep.name`.
    pub name: String,
    /// The base experiment file (`sweep.base` resolved against the sweep file's directory).
    pub base: PathBuf,
    /// Training seeds, in the file's order.
    pub seeds: Vec<u64>,
    /// `[grid]`: key → values, keys sorted.
    pub grid: Vec<(String, Vec<Value>)>,
    /// `[zip]`: key → values (all the same length), keys sorted.
    pub zip: Vec<(String, Vec<Value>)>,
    /// `[resources]`.
    pub resources: Resources,
}

/// One point of the grid × zip: the `--set` values every run of it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    /// `c<i>`.
    pub id: String,
    /// Key → value, keys sorted.
    pub values: Vec<(String, Value)>,
}

impl Configuration {
    /// The `--set key=value` overrides of this configuration, values as TOML literals.
    pub fn sets(&self) -> Vec<String> {
        self.values.iter().map(|(k, v)| format!("{k}={}", literal(v))).collect()
    }

    /// `key=value, key=value`, or `(base)` for a sweep without grid or zip.
    pub fn label(&self) -> String {
        if self.values.is_empty() { "(base)".to_string() } else { self.sets().join(", ") }
    }
}

/// `value` as a TOML literal, as `--set` reads it back: `0.0003`, `"text"`, `[64, 64]`.
pub fn literal(value: &Value) -> String {
    value.to_string()
}

/// Is `name` usable as (part of) an experiment name and a Slurm job name?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Deserialises `value` as `T`, naming the offending key (`section.path`) on error.
fn typed<T: serde::de::DeserializeOwned>(section: &str, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() { section.to_string() } else { format!("{section}.{path}") };
        anyhow!("{key}: {}", e.into_inner())
    })
}

/// The leaves of a `[grid]` or `[zip]` table as dotted keys → lists. A table is a step of the
/// key's path (`agent.learning_rate = [...]` in TOML is `{agent = {learning_rate = [...]}}`);
/// anything else must be a non-empty list.
fn flatten(section: &str, prefix: &str, table: Table, out: &mut BTreeMap<String, Vec<Value>>) -> Result<()> {
    for (k, v) in table {
        let key = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
        if key.split('.').any(str::is_empty) {
            bail!("{section}.{key}: keys must be dotted names like agent.learning_rate");
        }
        match v {
            Value::Table(t) => flatten(section, &key, t, out)?,
            Value::Array(values) => {
                if values.is_empty() {
                    bail!("{section}.{key}: the list is empty; give at least one value");
                }
                for (i, v) in values.iter().enumerate() {
                    if values[..i].contains(v) {
                        bail!("{section}.{key}: value {} is listed twice", literal(v));
                    }
                }
                out.insert(key, values);
            }
            other => bail!(
                "{section}.{key}: expected a list of values (e.g. {key} = [{}]), found a {}",
                literal(&other),
                other.type_str()
            ),
        }
    }
    Ok(())
}

fn take_table(root: &mut Table, name: &str) -> Result<Option<Table>> {
    match root.remove(name) {
        None => Ok(None),
        Some(Value::Table(t)) => Ok(Some(t)),
        Some(other) => bail!("{name}: expected a table ([{name}]), found a {}", other.type_str()),
    }
}

/// `mem`: digits with an optional K, M, G or T suffix.
fn valid_mem(s: &str) -> bool {
    let digits = s.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `time`: one of Slurm's formats (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`).
fn valid_time(s: &str) -> bool {
    let num = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(num) && parts.iter().all(|p| num(p)) && (1..=3).contains(&parts.len())
}

impl Resources {
    fn validate(&self) -> Result<()> {
        if self.cpus == 0 {
            bail!("resources.cpus: must be at least 1");
        }
        if let Some(m) = &self.mem
            && !valid_mem(m)
        {
            bail!("resources.mem: {m:?} is not a memory size like \"500M\" or \"2G\"");
        }
        if let Some(t) = &self.time
            && !valid_time(t)
        {
            bail!("resources.time: {t:?} is not a Slurm time like \"30\", \"01:00:00\" or \"1-12:00:00\"");
        }
        if let Some(p) = &self.partition
            && !valid_name(p)
        {
            bail!("resources.partition: {p:?} must be a name of letters, digits, '-', '_' and '.'");
        }
        if self.max_parallel == Some(0) {
            bail!("resources.max_parallel: must be at least 1");
        }
        if self.signal_seconds == 0 || self.signal_seconds > 65535 {
            bail!("resources.signal_seconds: {} is outside 1..=65535", self.signal_seconds);
        }
        Ok(())
    }
}

impl SweepFile {
    /// Reads and checks the sweep file at `path`.
    ///
    /// # Errors
    /// An unreadable file, invalid TOML, or a bad key or value, naming the file and the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        Self::parse(&text, path).with_context(|| path.display().to_string())
    }

    /// Parses sweep-file text; `path` locates `sweep.base`.
    ///
    /// # Errors
    /// As [`SweepFile::load`], without the file name.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut root: Table = toml::from_str(text).context("invalid toml")?;
        if let Some(k) = root.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            bail!("unknown section {k:?}: valid sections are {}", SECTIONS.join(", "));
        }
        let Some(sweep) = take_table(&mut root, "sweep")? else {
            bail!("sweep: missing (every sweep file needs [sweep] with name, base and seeds)");
        };
        let sweep: SweepSection = typed("sweep", Value::Table(sweep))?;
        if !valid_name(&sweep.name) {
            bail!("sweep.name: {:?} must be a non-empty name of letters, digits, '-', '_' and '.'", sweep.name);
        }
        if sweep.base.is_empty() {
            bail!("sweep.base: empty; give the experiment file, relative to the sweep file");
        }
        if sweep.seeds.is_empty() {
            bail!("sweep.seeds: the list is empty; give at least one training seed");
        }
        for (i, s) in sweep.seeds.iter().enumerate() {
            if sweep.seeds[..i].contains(s) {
                bail!("sweep.seeds: seed {s} is listed twice");
            }
        }
        let base = path.parent().unwrap_or(Path::new("")).join(&sweep.base);

        let mut grid = BTreeMap::new();
        if let Some(t) = take_table(&mut root, "grid")? {
            flatten("grid", "", t, &mut grid)?;
        }
        let mut zip = BTreeMap::new();
        if let Some(t) = take_table(&mut root, "zip")? {
            flatten("zip", "", t, &mut zip)?;
        }
        let zip: Vec<(String, Vec<Value>)> = zip.into_iter().collect();
        if let Some((k0, v0)) = zip.first()
            && let Some((k, v)) = zip.iter().find(|(_, v)| v.len() != v0.len())
        {
            bail!(
                "zip.{k}: has {} values but zip.{k0} has {}; the lists of [zip] go together and must be equally long",
                v.len(),
                v0.len()
            );
        }
        let grid: Vec<(String, Vec<Value>)> = grid.into_iter().collect();
        let keys: Vec<(&str, &str)> = grid
            .iter()
            .map(|(k, _)| ("grid", k.as_str()))
            .chain(zip.iter().map(|(k, _)| ("zip", k.as_str())))
            .collect();
        for (i, (section, key)) in keys.iter().enumerate() {
            if let Some((_, owner)) = OWNED_KEYS.iter().find(|(k, _)| k == key) {
                bail!("{section}.{key}: set by {owner}; it cannot be varied here");
            }
            for (other_section, other) in &keys[..i] {
                let overlap = key == other
                    || key.strip_prefix(other).is_some_and(|r| r.starts_with('.'))
                    || other.strip_prefix(key).is_some_and(|r| r.starts_with('.'));
                if overlap {
                    bail!("{section}.{key}: overlaps {other_section}.{other}; each setting may be varied once");
                }
            }
        }
        let resources = match take_table(&mut root, "resources")? {
            Some(t) => typed("resources", Value::Table(t))?,
            None => Resources::default(),
        };
        resources.validate()?;
        Ok(Self { path: path.to_path_buf(), name: sweep.name, base, seeds: sweep.seeds, grid, zip, resources })
    }

    /// The configurations: the grid's product (first key slowest), times the zip's columns.
    pub fn configurations(&self) -> Vec<Configuration> {
        let zip_len = self.zip.first().map_or(1, |(_, v)| v.len());
        let mut points: Vec<Vec<(String, Value)>> = vec![Vec::new()];
        for (key, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.push((key.clone(), v.clone()));
                        p
                    })
                })
                .collect();
        }
        let mut configurations = Vec::new();
        for point in points {
            for z in 0..zip_len {
                let mut values = point.clone();
                values.extend(self.zip.iter().map(|(k, v)| (k.clone(), v[z].clone())));
                values.sort_by(|a, b| a.0.cmp(&b.0));
                configurations.push(Configuration { id: format!("c{}", configurations.len()), values });
            }
        }
        configurations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SweepFile> {
        SweepFile::parse(text, Path::new("sweeps/s.toml"))
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    const HEAD: &str = "[sweep]\nname = \"s\"\nbase = \"../e.toml\"\nseeds = [1, 2]\n";

    #[test]
    fn grid_times_zip_in_sorted_key_order() {
        let s = parse(&format!(
            "{HEAD}[grid]\n\"b.y\" = [1, 2]\na.x = [\"p\", \"q\", \"r\"]\n[zip]\n\"c.z\" = [[8], [16]]\n\"c.w\" = [0.5, 0.25]\n"
        ))
        .unwrap();
        assert_eq!(s.base, Path::new("sweeps/../e.toml"));
        let c = s.configurations();
        assert_eq!(c.len(), 3 * 2 * 2);
        // a.x slowest, then b.y, then the zip column.
        assert_eq!(c[0].sets(), ["a.x=\"p\"", "b.y=1", "c.w=0.5", "c.z=[8]"]);
        assert_eq!(c[1].sets(), ["a.x=\"p\"", "b.y=1", "c.w=0.25", "c.z=[16]"]);
        assert_eq!(c[2].sets(), ["a.x=\"p\"", "b.y=2", "c.w=0.5", "c.z=[8]"]);
        assert_eq!(c[11].id, "c11");
        assert_eq!(c[11].label(), "a.x=\"r\", b.y=2, c.w=0.25, c.z=[16]");
        assert_eq!(s.resources, Resources::default());
    }

    #[test]
    fn no_grid_is_one_configuration() {
        let c = parse(HEAD).unwrap().configurations();
        assert_eq!(c.len(), 1);
        assert!(c[0].values.is_empty() && c[0].label() == "(base)");
    }

    #[test]
    fn literals_read_back_as_the_same_value() {
        for v in ["1e-4", "0.1", "3", "\"a \\\"b\\\"\"", "[64, 64]", "true", "{ kind = \"x\", n = 2 }"] {
            let t: Table = toml::from_str(&format!("v = {v}")).unwrap();
            let back: Table = toml::from_str(&format!("v = {}", literal(&t["v"]))).unwrap();
            assert_eq!(back, t, "{v}");
        }
    }

    #[test]
    fn bad_files_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("[sweep]\nname = \"s\"\nbase = \"e\"\nseeds = []\n", "sweep.seeds: the list is empty"),
            ("[sweep]\nname = \"s\"\nbase = \"e\"\nseeds = [1, 1]\n", "sweep.seeds: seed 1 is listed twice"),
            ("[sweep]\nname = \"s\"\nbase = \"e\"\nseeds = [1]\nsed = 2\n", "sweep.sed: unknown field `sed`"),
            ("[sweep]\nname = \"s\"\nbase = \"e\"\nseeds = [-1]\n", "sweep.seeds[0]: invalid value"),
            ("[sweep]\nname = \"a b\"\nbase = \"e\"\nseeds = [1]\n", "sweep.name: \"a b\" must be"),
            ("[sweep]\nname = \"s\"\nseeds = [1]\n", "sweep: missing field `base`"),
            ("[grid]\nx = [1]\n", "sweep: missing"),
            (&format!("{HEAD}[grids]\nx = [1]\n"), "unknown section \"grids\""),
            (&format!("{HEAD}[grid]\n\"agent.gamma\" = 0.9\n"), "grid.agent.gamma: expected a list of values"),
            (&format!("{HEAD}[grid]\n\"agent.gamma\" = []\n"), "grid.agent.gamma: the list is empty"),
            (&format!("{HEAD}[grid]\n\"agent.gamma\" = [0.9, 0.9]\n"), "value 0.9 is listed twice"),
            (&format!("{HEAD}[zip]\na.x = [1, 2]\na.y = [1]\n"), "zip.a.y: has 1 values but zip.a.x has 2"),
            (&format!("{HEAD}[grid]\n\"experiment.seed\" = [1]\n"), "grid.experiment.seed: set by sweep.seeds"),
            (&format!("{HEAD}[grid]\na.x = [1]\n[zip]\na.x = [2]\n"), "zip.a.x: overlaps grid.a.x"),
            (&format!("{HEAD}[grid]\n\"env.workload\" = [{{}}]\n\"env.workload.n\" = [1]\n"), "overlaps"),
            (&format!("{HEAD}[resources]\nmem = \"2 GB\"\n"), "resources.mem: \"2 GB\" is not a memory size"),
            (&format!("{HEAD}[resources]\ntime = \"1h\"\n"), "resources.time: \"1h\" is not a Slurm time"),
            (&format!("{HEAD}[resources]\nmax_parallel = 0\n"), "resources.max_parallel: must be at least 1"),
            (&format!("{HEAD}[resources]\ncpu = 2\n"), "resources.cpu: unknown field `cpu`"),
            (&format!("{HEAD}[resources]\ncpus = \"2\"\n"), "resources.cpus: invalid type: string"),
            ("[sweep\n", "invalid toml"),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(got.contains(want), "{text}\nexpected {want:?} in {got}");
        }
    }

    #[test]
    fn slurm_formats() {
        for ok in ["30", "30:00", "01:00:00", "1-12", "1-12:30", "2-00:00:00"] {
            assert!(valid_time(ok), "{ok}");
        }
        for bad in ["", "1h", "1:2:3:4", "-1", "1-", "a:00"] {
            assert!(!valid_time(bad), "{bad}");
        }
        for ok in ["500M", "2G", "1024"] {
            assert!(valid_mem(ok), "{ok}");
        }
        for bad in ["", "G", "2GB", "-1G", "1.5G"] {
            assert!(!valid_mem(bad), "{bad}");
        }
    }
}
