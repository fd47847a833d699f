//! The utterance history: JSON Lines, one protocol [`Utterance`] per line.
//!
//! * `history.jsonl` in the data directory (`$XDG_DATA_HOME/ser/`) is appended
//!   to; each result is written with a single `write_all` of the whole line and
//!   then `sync_data`, so a crash leaves at most one torn last line.
//! * When appending would take it over `max_bytes`, it is rotated:
//!   `history.jsonl` → `history.1.jsonl` → `history.2.jsonl` … and only
//!   `keep_files` rotated files are kept.
//! * Rotated files whose last write is older than `retention_days` are deleted
//!   (at start and at each rotation; `0` keeps them forever).
//! * Reading skips lines that do not parse (a torn write, a hand edit) with a
//!   warning; it is never fatal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use ser_ctl::protocol::{Utterance, MAX_HISTORY_LIMIT};
use serde::{Deserialize, Serialize};

/// File name of the current history file.
pub const HISTORY_FILE: &str = "history.jsonl";

/// `[history]` in config.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Rotate `history.jsonl` once it would grow past this many bytes.
    pub max_bytes: u64,
    /// How many rotated files (`history.1.jsonl`…) to keep.
    pub keep_files: usize,
    /// Delete rotated files older than this many days (0: never).
    pub retention_days: u32,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            max_bytes: 10_000_000,
            keep_files: 5,
            retention_days: 90,
        }
    }
}

/// An I/O failure on a history file.
#[derive(Debug, thiserror::Error)]
#[error("history file {}: {source}", .path.display())]
pub struct HistoryError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn err(path: &Path) -> impl FnOnce(io::Error) -> HistoryError + '_ {
    move |source| HistoryError {
        path: path.to_path_buf(),
        source,
    }
}

/// The history store. Not internally synchronised: wrap it in a `Mutex`.
#[derive(Debug)]
pub struct History {
    dir: PathBuf,
    config: HistoryConfig,
    file: Option<File>,
    size: u64,
}

impl History {
    /// A store in `dir` (created on the first append).
    pub fn new(dir: PathBuf, config: HistoryConfig) -> History {
        let h = History {
            dir,
            config,
            file: None,
            size: 0,
        };
        h.prune_old();
        h
    }

    /// The default directory: `$XDG_DATA_HOME/ser`.
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "ser").map(|d| d.data_dir().to_path_buf())
    }

    /// The file being appended to.
    pub fn path(&self) -> PathBuf {
        self.dir.join(HISTORY_FILE)
    }

    fn rotated(&self, n: usize) -> PathBuf {
        self.dir.join(format!("history.{n}.jsonl"))
    }

    pub fn set_config(&mut self, config: HistoryConfig) {
        self.config = config;
        self.prune_old();
    }

    fn open(&mut self) -> Result<&mut File, HistoryError> {
        if self.file.is_none() {
            fs::create_dir_all(&self.dir).map_err(err(&self.dir))?;
            let path = self.path();
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
                .map_err(err(&path))?;
            let mut size = f.metadata().map_err(err(&path))?.len();
            if size > 0 {
                // A torn last line (crash mid-write) must not swallow the next one.
                let mut last = [0u8; 1];
                f.seek(SeekFrom::Start(size - 1)).map_err(err(&path))?;
                f.read_exact(&mut last).map_err(err(&path))?;
                if last[0] != b'\n' {
                    f.write_all(b"\n").map_err(err(&path))?;
                    size += 1;
                }
            }
            self.size = size;
            self.file = Some(f);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Appends one utterance and flushes it to disk.
    pub fn append(&mut self, u: &Utterance) -> Result<(), HistoryError> {
        let mut line = serde_json::to_string(u).expect("utterances always serialise");
        line.push('\n');
        self.open()?;
        if self.size > 0 && self.size + line.len() as u64 > self.config.max_bytes {
            self.rotate()?;
            self.open()?;
        }
        let path = self.path();
        let f = self.file.as_mut().expect("opened above");
        f.write_all(line.as_bytes()).map_err(err(&path))?;
        f.sync_data().map_err(err(&path))?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), HistoryError> {
        self.file = None;
        let keep = self.config.keep_files;
        if keep == 0 {
            let p = self.path();
            return remove_if_exists(&p);
        }
        remove_if_exists(&self.rotated(keep))?;
        for n in (1..keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1)).map_err(err(&from))?;
            }
        }
        let cur = self.path();
        fs::rename(&cur, self.rotated(1)).map_err(err(&cur))?;
        tracing::info!(file = %cur.display(), "history rotated");
        self.prune_old();
        Ok(())
    }

    /// Every history file that exists, newest first.
    fn files_newest_first(&self) -> Vec<PathBuf> {
        let mut v = vec![self.path()];
        let mut n = 1;
        // Also pick up files left beyond `keep_files` by an older configuration.
        loop {
            let p = self.rotated(n);
            if !p.exists() && n > self.config.keep_files {
                break;
            }
            v.push(p);
            n += 1;
        }
        v.into_iter().filter(|p| p.exists()).collect()
    }

    /// Deletes rotated files older than the retention period and beyond `keep_files`.
    fn prune_old(&self) {
        let files = self.files_newest_first();
        let limit = (self.config.retention_days > 0)
            .then(|| Duration::from_secs(u64::from(self.config.retention_days) * 86_400));
        for (i, p) in files.iter().enumerate() {
            if p == &self.path() {
                continue;
            }
            let beyond_keep = i > self.config.keep_files;
            let too_old = limit.is_some_and(|limit| {
                fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .is_some_and(|age| age > limit)
            });
            if beyond_keep || too_old {
                match fs::remove_file(p) {
                    Ok(()) => tracing::info!(file = %p.display(), "old history file deleted"),
                    Err(e) => {
                        tracing::warn!(file = %p.display(), "cannot delete old history file: {e}")
                    }
                }
            }
        }
    }

    /// Utterances that started at or after `since`, oldest first; at most the
    /// newest `limit` of them (clamped to [`MAX_HISTORY_LIMIT`]). The flag is
    /// true when the limit cut older ones off.
    pub fn read(
        &self,
        since: Option<DateTime<Utc>>,
        limit: Option<usize>,
    ) -> Result<(Vec<Utterance>, bool), HistoryError> {
        let limit = limit.unwrap_or(MAX_HISTORY_LIMIT).min(MAX_HISTORY_LIMIT);
        let mut newest_first = Vec::new();
        let mut truncated = false;
        'files: for path in self.files_newest_first() {
            let text = match fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(err(&path)(e)),
            };
            for (i, line) in text
                .split(|&b| b == b'\n')
                .enumerate()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let u: Utterance = match serde_json::from_slice(line) {
                    Ok(u) => u,
                    Err(e) => {
                        tracing::warn!(file = %path.display(), line = i + 1, "skipping an unreadable history line: {e}");
                        continue;
                    }
                };
                if since.is_some_and(|s| u.start < s) {
                    continue;
                }
                if newest_first.len() == limit {
                    truncated = true;
                    break 'files;
                }
                newest_first.push(u);
            }
        }
        newest_first.reverse();
        Ok((newest_first, truncated))
    }

    /// Deletes every history file.
    pub fn clear(&mut self) -> Result<(), HistoryError> {
        self.file = None;
        self.size = 0;
        for p in self.files_newest_first() {
            remove_if_exists(&p)?;
        }
        Ok(())
    }
}

fn remove_if_exists(p: &Path) -> Result<(), HistoryError> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(p)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ser_ctl::protocol::{Emotion, Probs};

    fn utt(seq: u64) -> Utterance {
        let mut p = [0.0; 8];
        p[(seq % 8) as usize] = 1.0;
        let e = Emotion::ALL[(seq % 8) as usize];
        Utterance {
            seq,
            start: Utc.timestamp_opt(1_700_000_000 + seq as i64, 0).unwrap(),
            duration_s: 1.5,
            emotion: e,
            emoji: e.emoji().into(),
            confidence: 1.0,
            probs: Probs(p),
            model: "test".into(),
        }
    }

    #[test]
    fn append_then_read_back_with_since_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::new(dir.path().join("ser"), HistoryConfig::default());
        for s in 1..=10 {
            h.append(&utt(s)).unwrap();
        }
        let (all, trunc) = h.read(None, None).unwrap();
        assert_eq!(
            all.iter().map(|u| u.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        assert!(!trunc);
        assert_eq!(all[3], utt(4));
        let (last3, trunc) = h.read(None, Some(3)).unwrap();
        assert_eq!(
            last3.iter().map(|u| u.seq).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        assert!(trunc);
        let (since, _) = h.read(Some(utt(7).start), None).unwrap();
        assert_eq!(
            since.iter().map(|u| u.seq).collect::<Vec<_>>(),
            vec![7, 8, 9, 10]
        );
        // Exactly `limit` matches is not truncated.
        let (_, trunc) = h.read(Some(utt(7).start), Some(4)).unwrap();
        assert!(!trunc);
    }

    #[test]
    fn a_torn_line_is_skipped_and_the_next_append_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let mut h = History::new(d.clone(), HistoryConfig::default());
        h.append(&utt(1)).unwrap();
        drop(h);
        // Simulate a crash in the middle of a write, plus some garbage line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.join(HISTORY_FILE))
            .unwrap();
        f.write_all(b"not json\n{\"seq\":2,\"start\":\"2023-")
            .unwrap();
        drop(f);
        let mut h = History::new(d.clone(), HistoryConfig::default());
        h.append(&utt(3)).unwrap();
        let (all, _) = h.read(None, None).unwrap();
        assert_eq!(all.iter().map(|u| u.seq).collect::<Vec<_>>(), vec![1, 3]);
        let text = fs::read_to_string(d.join(HISTORY_FILE)).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
    }

    #[test]
    fn rotates_by_size_keeps_n_files_and_reads_across_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        // Lines of equal length: two-digit seqs, one emotion.
        let fixed = |seq: u64| Utterance {
            emotion: Emotion::Calm,
            emoji: Emotion::Calm.emoji().into(),
            ..utt(seq)
        };
        let line_len = serde_json::to_string(&fixed(11)).unwrap().len() as u64 + 1;
        let cfg = HistoryConfig {
            max_bytes: line_len * 3, // three lines per file
            keep_files: 2,
            retention_days: 90,
        };
        let mut h = History::new(d.clone(), cfg);
        for s in 11..=20 {
            h.append(&fixed(s)).unwrap();
        }
        // 10 lines, 3 per file: current holds 20, .1 holds 17-19, .2 holds 14-16; 11-13 were dropped.
        let seqs = |p: &str| -> Vec<u64> {
            fs::read_to_string(d.join(p))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Utterance>(l).unwrap().seq)
                .collect()
        };
        assert_eq!(seqs(HISTORY_FILE), vec![20]);
        assert_eq!(seqs("history.1.jsonl"), vec![17, 18, 19]);
        assert_eq!(seqs("history.2.jsonl"), vec![14, 15, 16]);
        assert!(!d.join("history.3.jsonl").exists());
        let (all, trunc) = h.read(None, None).unwrap();
        assert_eq!(
            all.iter().map(|u| u.seq).collect::<Vec<_>>(),
            (14..=20).collect::<Vec<_>>()
        );
        assert!(!trunc);
        let (some, trunc) = h.read(None, Some(5)).unwrap();
        assert_eq!(
            some.iter().map(|u| u.seq).collect::<Vec<_>>(),
            (16..=20).collect::<Vec<_>>()
        );
        assert!(trunc);
        h.clear().unwrap();
        assert!(!d.join(HISTORY_FILE).exists());
        assert!(!d.join("history.1.jsonl").exists());
        assert_eq!(h.read(None, None).unwrap().0, vec![]);
        h.append(&utt(21)).unwrap();
        assert_eq!(h.read(None, None).unwrap().0, vec![utt(21)]);
    }

    #[test]
    fn old_rotated_files_are_deleted_by_retention() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        fs::write(
            d.join("history.1.jsonl"),
            serde_json::to_string(&utt(1)).unwrap() + "\n",
        )
        .unwrap();
        let old = SystemTime::now() - Duration::from_secs(100 * 86_400);
        File::options()
            .write(true)
            .open(d.join("history.1.jsonl"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        fs::write(d.join("history.2.jsonl"), "").unwrap();
        let h = History::new(d.clone(), HistoryConfig::default());
        assert!(!d.join("history.1.jsonl").exists());
        assert!(d.join("history.2.jsonl").exists(), "recent files stay");
        assert!(h.read(None, None).unwrap().0.is_empty());
    }

    #[test]
    fn missing_history_reads_empty() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path().join("nothing"), HistoryConfig::default());
        assert_eq!(h.read(None, Some(5)).unwrap(), (vec![], false));
    }
}
