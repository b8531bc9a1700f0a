//! Persistence for `--data-dir`: an append-only JSON-lines log of puts and deletes, replayed at
//! start and compacted (rewritten with the live objects) at start and when it grows to several
//! times the live set. Writes are flushed per record but not fsynced: a crash of the host may
//! lose the last writes, a crash of the process does not.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::Error;
use crate::store::Key;

pub struct Persist {
    path: PathBuf,
    file: BufWriter<File>,
    records: usize,
}

type Loaded = (Persist, BTreeMap<Key, Value>, u64);

impl Persist {
    /// Opens (creating) `dir/objects.jsonl`, replays it and compacts it.
    pub fn open(dir: &Path) -> Result<Loaded, Error> {
        let io = |source| Error::DataDir {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join("objects.jsonl");
        let mut objects = BTreeMap::new();
        let mut rv = 1u64;
        if path.exists() {
            let reader = BufReader::new(File::open(&path).map_err(io)?);
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(io)?;
                if line.trim().is_empty() {
                    continue;
                }
                let corrupt = |reason: String| Error::Corrupt {
                    path: path.display().to_string(),
                    line: i + 1,
                    reason,
                };
                let rec: Value = match serde_json::from_str(&line) {
                    Ok(v) => v,
                    // A torn last line after a crash: stop there, keep what was complete.
                    Err(e) if e.is_eof() => break,
                    Err(e) => return Err(corrupt(e.to_string())),
                };
                rv = rv.max(rec.get("rv").and_then(Value::as_u64).unwrap_or(0));
                let Some(k) = rec.get("k").and_then(Value::as_array) else {
                    continue;
                };
                let part = |i: usize| k.get(i).and_then(Value::as_str).map(str::to_string);
                let (Some(a), Some(b), Some(c)) = (part(0), part(1), part(2)) else {
                    return Err(corrupt("key must be three strings".into()));
                };
                match rec.get("o") {
                    Some(o) => objects.insert((a, b, c), o.clone()),
                    None => objects.remove(&(a, b, c)),
                };
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut p = Persist {
            path,
            file: BufWriter::new(file),
            records: 0,
        };
        let arcs: BTreeMap<Key, Arc<Value>> = objects
            .iter()
            .map(|(k, v)| (k.clone(), Arc::new(v.clone())))
            .collect();
        p.compact(&arcs, rv).map_err(io)?;
        Ok((p, objects, rv))
    }

    pub fn put(&mut self, key: &Key, obj: &Value, rv: u64) -> std::io::Result<()> {
        self.write(&json!({"rv": rv, "k": [key.0, key.1, key.2], "o": obj}))
    }

    pub fn delete(&mut self, key: &Key, rv: u64) -> std::io::Result<()> {
        self.write(&json!({"rv": rv, "k": [key.0, key.1, key.2]}))
    }

    fn write(&mut self, rec: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.file, rec)?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        self.records += 1;
        Ok(())
    }

    pub fn needs_compaction(&self, live: usize) -> bool {
        self.records > 10_000 && self.records > live * 4
    }

    /// Rewrites the log with one record per live object (atomically, by rename).
    pub fn compact(&mut self, objects: &BTreeMap<Key, Arc<Value>>, rv: u64) -> std::io::Result<()> {
        let tmp = self.path.with_extension("jsonl.tmp");
        {
            let mut w = BufWriter::new(File::create(&tmp)?);
            serde_json::to_writer(&mut w, &json!({"rv": rv}))?;
            w.write_all(b"\n")?;
            for (k, v) in objects {
                serde_json::to_writer(
                    &mut w,
                    &json!({"rv": rv, "k": [k.0, k.1, k.2], "o": v.as_ref()}),
                )?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.file = BufWriter::new(OpenOptions::new().append(true).open(&self.path)?);
        self.records = objects.len();
        Ok(())
    }
}
