//! Archive files: JSON lines, one finished submission a line with every row that belongs to it
//! (`submission`, `destinations`, `attempts`, `outcomes`, each row as PostgreSQL's `to_jsonb`
//! gives it, so every column round-trips), gzip-compressed, with a manifest beside it saying
//! what the file holds and its SHA-256.
//!
//! A file is written as `<name>.part`, synced, then renamed, and its manifest last; a file
//! without a manifest was never finished and nothing was deleted for it.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What the first version of this format is called in every manifest.
pub const FORMAT: &str = "dhis2gw-archive/1";
const SUFFIX: &str = ".jsonl.gz";
const MANIFEST: &str = ".manifest.json";

/// What an archive file holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub file: String,
    pub created: DateTime<Utc>,
    pub gateway_version: String,
    pub compression: String,
    /// Submissions in the file.
    pub records: u64,
    pub first_id: i64,
    pub last_id: i64,
    pub oldest_submitted_at: Option<DateTime<Utc>>,
    pub newest_submitted_at: Option<DateTime<Utc>>,
    pub bytes: u64,
    pub sha256: String,
}

/// One archived submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub submission: Value,
    #[serde(default)]
    pub destinations: Vec<Value>,
    #[serde(default)]
    pub attempts: Vec<Value>,
    #[serde(default)]
    pub outcomes: Vec<Value>,
}

impl Record {
    pub fn id(&self) -> i64 {
        self.submission["id"].as_i64().unwrap_or_default()
    }

    pub fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.submission["submitted_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc())
    }
}

/// An archive being written.
pub struct Writer {
    dir: PathBuf,
    name: String,
    out: GzEncoder<BufWriter<File>>,
    manifest: Manifest,
}

impl Writer {
    /// Starts the next file of `day` in `dir` (`archive-2026-12-04.jsonl.gz`, then `-2`, …).
    pub fn create(dir: &Path, day: chrono::NaiveDate) -> anyhow::Result<Writer> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = (1..)
            .map(|n| if n == 1 { format!("archive-{day}{SUFFIX}") } else { format!("archive-{day}-{n}{SUFFIX}") })
            .find(|name| !dir.join(name).exists() && !dir.join(format!("{name}.part")).exists())
            .expect("some name is free");
        let part = dir.join(format!("{name}.part"));
        let file = File::create(&part).with_context(|| format!("creating {}", part.display()))?;
        let manifest = Manifest {
            format: FORMAT.into(),
            file: name.clone(),
            created: Utc::now(),
            gateway_version: crate::VERSION.into(),
            compression: "gzip".into(),
            records: 0,
            first_id: 0,
            last_id: 0,
            oldest_submitted_at: None,
            newest_submitted_at: None,
            bytes: 0,
            sha256: String::new(),
        };
        Ok(Writer {
            dir: dir.to_path_buf(),
            name,
            out: GzEncoder::new(BufWriter::new(file), Compression::default()),
            manifest,
        })
    }

    pub fn add(&mut self, record: &Record) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        let m = &mut self.manifest;
        let (id, at) = (record.id(), record.submitted_at());
        m.first_id = if m.records == 0 { id } else { m.first_id.min(id) };
        m.last_id = m.last_id.max(id);
        m.oldest_submitted_at = m.oldest_submitted_at.into_iter().chain(at).min();
        m.newest_submitted_at = m.newest_submitted_at.into_iter().chain(at).max();
        m.records += 1;
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.manifest.records
    }

    /// Where the file is while it is written: removed if it is never finished.
    pub fn part_path(&self) -> PathBuf {
        self.dir.join(format!("{}.part", self.name))
    }

    /// Finishes the file: synced, renamed into place, checksummed, its manifest written.
    pub fn finish(self) -> anyhow::Result<Manifest> {
        let part = self.part_path();
        let file = self.out.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let path = self.dir.join(&self.name);
        std::fs::rename(&part, &path)?;
        let (bytes, sha256) = checksum(&path)?;
        let manifest = Manifest { bytes, sha256, ..self.manifest };
        let manifest_path = self.dir.join(format!("{}{MANIFEST}", self.name));
        let mut out = File::create(&manifest_path)?;
        serde_json::to_writer_pretty(&mut out, &manifest)?;
        out.write_all(b"\n")?;
        out.sync_all()?;
        File::open(&self.dir)?.sync_all()?;
        Ok(manifest)
    }
}

/// The size and SHA-256 (hex) of a file.
fn checksum(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (mut hash, mut buffer, mut bytes) = (Sha256::new(), vec![0; 64 * 1024], 0u64);
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok((bytes, hex::encode(hash.finalize())));
        }
        hash.update(&buffer[..n]);
        bytes += n as u64;
    }
}

/// The archive a name or path given on the command line stands for: as given, else in `dir`.
pub fn locate(dir: &Path, given: &str) -> PathBuf {
    let path = PathBuf::from(given);
    if path.exists() || path.components().count() > 1 { path } else { dir.join(given) }
}

/// Reads a manifest and checks the file against it; the manifest, or why the file cannot be
/// trusted.
pub fn verify(path: &Path) -> anyhow::Result<Manifest> {
    let manifest_path = PathBuf::from(format!("{}{MANIFEST}", path.display()));
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("{}: no manifest (an archive never finished?)", manifest_path.display()))?;
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("{} does not read", manifest_path.display()))?;
    anyhow::ensure!(manifest.format == FORMAT, "{} is in format {}, not {FORMAT}", path.display(), manifest.format);
    let (bytes, sha256) = checksum(path)?;
    anyhow::ensure!(
        bytes == manifest.bytes && sha256 == manifest.sha256,
        "{} does not match its manifest (checksum {sha256}, {bytes} bytes; the manifest says {}, {} bytes): damaged",
        path.display(),
        manifest.sha256,
        manifest.bytes
    );
    Ok(manifest)
}

/// The records of a verified archive, one at a time.
pub fn records(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Record>>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let lines = BufReader::new(GzDecoder::new(file)).lines();
    Ok(lines.enumerate().map(|(i, line)| {
        let line = line.with_context(|| format!("line {}", i + 1))?;
        serde_json::from_str(&line).with_context(|| format!("line {} is not an archived submission", i + 1))
    }))
}

/// Every finished archive in `dir`, oldest first, with its manifest or why it cannot be trusted.
pub fn list(dir: &Path) -> anyhow::Result<Vec<(PathBuf, anyhow::Result<Manifest>)>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => {
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.to_string_lossy().ends_with(SUFFIX)).collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    files.sort();
    Ok(files.into_iter().map(|p| (p.clone(), verify(&p))).collect())
}

/// Bytes the archives in `dir` take.
pub fn size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64, at: &str) -> Record {
        Record {
            submission: serde_json::json!({"id": id, "submitted_at": at, "payload": {"k": "ü, \"quoted\"\nnew line"}}),
            destinations: vec![serde_json::json!({"id": id * 10})],
            attempts: vec![],
            outcomes: vec![],
        }
    }

    #[test]
    fn an_archive_reads_back_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let mut w = Writer::create(dir.path(), day).unwrap();
        let written = [record(7, "2026-01-02T03:04:05Z"), record(3, "2025-12-31T23:00:00+00:00")];
        for r in &written {
            w.add(r).unwrap();
        }
        let m = w.finish().unwrap();
        assert_eq!((m.file.as_str(), m.records, m.first_id, m.last_id), ("archive-2026-12-04.jsonl.gz", 2, 3, 7));
        assert_eq!(m.oldest_submitted_at.unwrap().to_rfc3339(), "2025-12-31T23:00:00+00:00");
        let path = dir.path().join(&m.file);
        assert_eq!(verify(&path).unwrap(), m);
        let read: Vec<Record> = records(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(read, written);
        // The next file of the same day gets the next name.
        assert_eq!(Writer::create(dir.path(), day).unwrap().name, "archive-2026-12-04-2.jsonl.gz");

        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert!(verify(&path).unwrap_err().to_string().contains("does not match its manifest"));
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed.len(), 1, "the unfinished second file is not listed");
        assert!(listed[0].1.is_err());
    }
}
