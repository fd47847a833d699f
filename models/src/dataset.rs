//! Labelled audio collections: a RAVDESS-named folder or a `path,label` CSV.
//!
//! Used by `ser-features`, `ser-eval` and `ser-bench`, so all three read a
//! data set the same way.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::labels::{label_index, RavdessName, LABELS};

/// One labelled audio file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledFile {
    /// Where the file is.
    pub path: PathBuf,
    /// The path as recorded in outputs: relative to the folder (or as written
    /// in the CSV), with `/` separators.
    pub rel_path: String,
    /// Index in [`LABELS`].
    pub label: usize,
    /// The RAVDESS actor, when the name is a RAVDESS name.
    pub actor: Option<u8>,
}

/// A listing, with what was passed over.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Labelled files, sorted by `rel_path` (folder) or in CSV order.
    pub files: Vec<LabelledFile>,
    /// Files in the folder whose name is not a RAVDESS name (not used).
    pub unlabelled: Vec<PathBuf>,
}

/// List `source`: a folder walked recursively for RAVDESS-named files, or a
/// CSV file of `path,label` rows (a header row `path,label` is optional;
/// relative paths are relative to the CSV's folder; `label` is a name from
/// [`LABELS`] or its index 0..=7).
pub fn list(source: &Path) -> Result<Listing> {
    let meta = fs::metadata(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            path: source.to_path_buf(),
        },
        _ => Error::Io {
            path: source.to_path_buf(),
            source: e,
        },
    })?;
    if meta.is_dir() {
        list_folder(source)
    } else {
        list_csv(source)
    }
}

/// [`list`], refusing a source without any labelled file
/// ([`Error::NoLabelledFiles`]): what the tools that need data call.
pub fn list_labelled(source: &Path) -> Result<Listing> {
    let listing = list(source)?;
    if listing.files.is_empty() {
        return Err(Error::NoLabelledFiles {
            path: source.to_path_buf(),
        });
    }
    Ok(listing)
}

impl Listing {
    /// The labelled files' paths, in listing order.
    pub fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }
}

fn list_folder(root: &Path) -> Result<Listing> {
    let mut listing = Listing::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::Io {
                path: dir.clone(),
                source: e,
            })?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match RavdessName::parse(&name) {
                Some(r) => {
                    let rel = path
                        .strip_prefix(root)
                        .unwrap_or(&path)
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    listing.files.push(LabelledFile {
                        path,
                        rel_path: rel,
                        label: r.label(),
                        actor: Some(r.actor),
                    });
                }
                None => listing.unlabelled.push(path),
            }
        }
    }
    listing.files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    listing.unlabelled.sort();
    Ok(listing)
}

fn list_csv(csv: &Path) -> Result<Listing> {
    let text = fs::read_to_string(csv).map_err(|e| Error::Io {
        path: csv.to_path_buf(),
        source: e,
    })?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut listing = Listing::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: String| Error::UnsupportedFormat {
            path: csv.to_path_buf(),
            reason: format!("line {}: {why}", i + 1),
        };
        let (p, label) = line
            .rsplit_once(',')
            .ok_or_else(|| bad("expected `path,label`".into()))?;
        let (p, label) = (p.trim().trim_matches('"'), label.trim().trim_matches('"'));
        if i == 0 && p.eq_ignore_ascii_case("path") && label.eq_ignore_ascii_case("label") {
            continue;
        }
        let label = label_index(&label.to_lowercase())
            .or_else(|| label.parse::<usize>().ok().filter(|&v| v < LABELS.len()))
            .ok_or_else(|| {
                bad(format!(
                    "unknown label {label:?} (expected one of {} or 0..=7)",
                    LABELS.join(", ")
                ))
            })?;
        let path = if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base.join(p)
        };
        listing.files.push(LabelledFile {
            actor: RavdessName::parse(p).map(|r| r.actor),
            path,
            rel_path: p.replace('\\', "/"),
            label,
        });
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("Actor_03");
        fs::create_dir(&a).unwrap();
        fs::write(a.join("03-01-04-01-01-01-03.wav"), b"x").unwrap();
        fs::write(a.join("03-01-01-01-01-01-03.wav"), b"x").unwrap();
        fs::write(a.join("README.txt"), b"x").unwrap();
        let l = list(dir.path()).unwrap();
        assert_eq!(l.files.len(), 2);
        assert_eq!(l.files[0].rel_path, "Actor_03/03-01-01-01-01-01-03.wav");
        assert_eq!((l.files[1].label, l.files[1].actor), (3, Some(3)));
        assert_eq!(l.unlabelled.len(), 1);

        let csv = dir.path().join("set.csv");
        fs::write(&csv, "path,label\nclips/a.wav,Angry\n/abs/b.flac,2\n\n").unwrap();
        let l = list(&csv).unwrap();
        assert_eq!(l.files.len(), 2);
        assert_eq!(l.files[0].path, dir.path().join("clips/a.wav"));
        assert_eq!((l.files[0].label, l.files[0].actor), (4, None));
        assert_eq!(l.files[1].path, PathBuf::from("/abs/b.flac"));
        assert_eq!(l.files[1].label, 2);

        fs::write(&csv, "a.wav,bored\n").unwrap();
        let e = list(&csv).unwrap_err().to_string();
        assert!(
            e.contains("set.csv") && e.contains("line 1") && e.contains("bored"),
            "{e}"
        );
        assert!(matches!(
            list(&dir.path().join("nope")),
            Err(Error::NotFound { .. })
        ));
    }
}
