//! Persistence for `--data-dir`: an append-only JSON-lines log of puts and deletes, replayed at
//! start and compacted (rewritten with the live objects) at start and when it grows to several
//! times the live set.
//!
//! The promise is etcd's: a write is acknowledged only once it is on disk. A record is appended
//! (one `write`) before the store changes memory, so a failed append — a full disk — fails the
//! request and changes nothing; a partial record is cut off again. The request then waits in
//! [`Durability::sync`] for an `fdatasync` covering its record; concurrent requests share one
//! (group commit). A failed `fdatasync` leaves the page cache in an unknown state, so the log is
//! marked failed: every later write is refused until the process is restarted (PostgreSQL's
//! lesson). Compaction writes a temporary file, fsyncs it, renames it over the log and fsyncs the
//! directory. At start a torn last line (a crash during an append) is dropped with a warning;
//! an unreadable line anywhere else refuses to start, naming file and line, and the log is left
//! untouched. The data dir is 0700 and its files 0600: the log holds Secrets.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::error::Error;
use crate::store::Key;

/// Failures injected into the log's appends and syncs, for tests of the durability promise
/// (a full disk, a failing device) without a real broken disk.
pub trait DiskFaults: Send + Sync + 'static {
    /// Before appending a record of `len` bytes: `Some((n, e))` writes only its first `n`
    /// bytes, then fails with `e`.
    fn append(&self, _len: usize) -> Option<(usize, std::io::Error)> {
        None
    }
    /// Before an `fdatasync`: `Some(e)` fails it with `e`.
    fn sync(&self) -> Option<std::io::Error> {
        None
    }
}

/// What the data dir offers the store: appends of records and their compaction.
pub struct Persist {
    dir: PathBuf,
    path: PathBuf,
    file: Arc<File>,
    /// Length of the log up to its last complete record.
    len: u64,
    records: usize,
    /// Compaction is retried only past this many records after it failed.
    compact_after: usize,
    durable: Arc<Durability>,
}

/// Group commit: how far the log is written and how far it is known to be on disk.
pub struct Durability {
    file: Mutex<Arc<File>>,
    /// Records appended so far (a sequence number, not an offset: compaction resets offsets).
    written: AtomicU64,
    /// Records known to be on disk.
    synced: AtomicU64,
    /// Held by the one task running an `fdatasync`; the others wait for it and find their
    /// records covered.
    leader: tokio::sync::Mutex<()>,
    /// Set when an append could not be undone or an fdatasync failed: no more writes.
    failed: Mutex<Option<String>>,
    fsync: bool,
    faults: Option<Arc<dyn DiskFaults>>,
    path: String,
}

/// Options of the data dir that tests and benchmarks change.
#[derive(Clone, Default)]
pub struct Options {
    /// Skip every fsync (benchmarks only: an acknowledged write may be lost on a host crash).
    pub unsafe_no_fsync: bool,
    pub faults: Option<Arc<dyn DiskFaults>>,
}

type Loaded = (Persist, BTreeMap<Key, Value>, u64);

/// Creates `dir` if needed and makes it private to its owner.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Opens (creating) a file readable and writable by its owner only.
pub fn private_file(path: &Path, opts: &mut OpenOptions) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(path)?;
    // `mode` applies only to a file it creates; an older log may be world-readable.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

/// Replays the log's text: the objects, the highest RV and whether a torn last line was dropped.
fn replay(path: &Path, text: &[u8]) -> Result<(BTreeMap<Key, Value>, u64, bool), Error> {
    let mut objects = BTreeMap::new();
    let mut rv = 1u64;
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    // The last non-empty line is the only one a crash can have torn.
    let last = lines.iter().rposition(|l| !l.trim_ascii().is_empty());
    for (i, line) in lines.iter().enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let corrupt = |reason: String| Error::Corrupt {
            path: path.display().to_string(),
            line: i + 1,
            reason,
        };
        let rec: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(_) if Some(i) == last && !text.ends_with(b"\n") => {
                tracing::warn!(path = %path.display(), line = i + 1,
                    "dropping a torn last record of the data dir log (a crash during its write; it was never acknowledged)");
                return Ok((objects, rv, true));
            }
            Err(e) => return Err(corrupt(e.to_string())),
        };
        rv = rv.max(rec.get("rv").and_then(Value::as_u64).unwrap_or(0));
        let Some(k) = rec.get("k") else {
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
    Ok((objects, rv, false))
}

impl Persist {
    /// Opens (creating) `dir/objects.jsonl`, replays it and compacts it.
    pub fn open(dir: &Path, opts: Options) -> Result<Loaded, Error> {
        let io = |source| Error::DataDir {
            path: dir.display().to_string(),
            source,
        };
        private_dir(dir).map_err(io)?;
        let path = dir.join("objects.jsonl");
        let (objects, rv) = match std::fs::read(&path) {
            Ok(text) => {
                let (objects, rv, _torn) = replay(&path, &text)?;
                (objects, rv)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (BTreeMap::new(), 1),
            Err(e) => return Err(io(e)),
        };
        let file = Arc::new(
            private_file(&path, OpenOptions::new().create(true).append(true)).map_err(io)?,
        );
        let durable = Arc::new(Durability {
            file: Mutex::new(file.clone()),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            leader: tokio::sync::Mutex::new(()),
            failed: Mutex::new(None),
            fsync: !opts.unsafe_no_fsync,
            faults: opts.faults,
            path: path.display().to_string(),
        });
        let mut p = Persist {
            dir: dir.to_path_buf(),
            path,
            file,
            len: 0,
            records: 0,
            compact_after: 0,
            durable,
        };
        let arcs: BTreeMap<Key, Arc<Value>> = objects
            .iter()
            .map(|(k, v)| (k.clone(), Arc::new(v.clone())))
            .collect();
        // Also drops a torn last line, so that appends never follow garbage.
        p.compact(&arcs, rv).map_err(io)?;
        Ok((p, objects, rv))
    }

    pub fn durability(&self) -> Arc<Durability> {
        self.durable.clone()
    }

    pub fn put(&mut self, key: &Key, obj: &Value, rv: u64) -> Result<(), String> {
        self.append(&json!({"rv": rv, "k": [key.0, key.1, key.2], "o": obj}))
    }

    pub fn delete(&mut self, key: &Key, rv: u64) -> Result<(), String> {
        self.append(&json!({"rv": rv, "k": [key.0, key.1, key.2]}))
    }

    /// Appends one record with one `write`; on failure the log is cut back to its last complete
    /// record so that the next append does not follow a partial one.
    fn append(&mut self, rec: &Value) -> Result<(), String> {
        self.durable.check()?;
        let mut buf = serde_json::to_vec(rec).map_err(|e| format!("cannot encode: {e}"))?;
        buf.push(b'\n');
        let res = match self
            .durable
            .faults
            .as_ref()
            .and_then(|f| f.append(buf.len()))
        {
            Some((n, e)) => (&*self.file)
                .write_all(&buf[..n.min(buf.len())])
                .and(Err(e)),
            None => (&*self.file).write_all(&buf),
        };
        if let Err(e) = res {
            let msg = format!(
                "cannot append to the data dir log {}: {e}; the change was not made (free disk space and retry)",
                self.durable.path
            );
            if let Err(e2) = self.file.set_len(self.len) {
                self.durable.fail(format!(
                    "cannot cut a partial record off the data dir log {}: {e2}; restart the server",
                    self.durable.path
                ));
            }
            return Err(msg);
        }
        self.len += buf.len() as u64;
        self.records += 1;
        self.durable.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    pub fn needs_compaction(&self, live: usize) -> bool {
        self.records > 10_000 && self.records > live * 4 && self.records > self.compact_after
    }

    /// Rewrites the log with one record per live object, atomically: the new log is complete
    /// and on disk before it replaces the old one, and the rename is on disk before appends go on.
    pub fn compact(&mut self, objects: &BTreeMap<Key, Arc<Value>>, rv: u64) -> std::io::Result<()> {
        let res = self.try_compact(objects, rv);
        if res.is_err() {
            self.compact_after = self.records * 2;
        }
        res
    }

    fn try_compact(&mut self, objects: &BTreeMap<Key, Arc<Value>>, rv: u64) -> std::io::Result<()> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let written = self.durable.written.load(Ordering::SeqCst);
        let len = {
            let f = private_file(
                &tmp,
                OpenOptions::new().create(true).write(true).truncate(true),
            )?;
            let mut w = BufWriter::new(f);
            serde_json::to_writer(&mut w, &json!({"rv": rv}))?;
            w.write_all(b"\n")?;
            for (k, v) in objects {
                serde_json::to_writer(
                    &mut w,
                    &json!({"rv": rv, "k": [k.0, k.1, k.2], "o": v.as_ref()}),
                )?;
                w.write_all(b"\n")?;
            }
            let f = w.into_inner().map_err(|e| e.into_error())?;
            if self.durable.fsync {
                f.sync_all()?;
            }
            f.metadata()?.len()
        };
        std::fs::rename(&tmp, &self.path)?;
        if self.durable.fsync {
            File::open(&self.dir)?.sync_all()?;
        }
        self.file = Arc::new(OpenOptions::new().append(true).open(&self.path)?);
        *self.durable.file.lock().unwrap_or_else(|e| e.into_inner()) = self.file.clone();
        self.len = len;
        self.records = objects.len();
        self.compact_after = 0;
        // Everything appended so far is in the new log, which is on disk.
        self.durable.synced.fetch_max(written, Ordering::SeqCst);
        Ok(())
    }
}

impl Durability {
    fn check(&self) -> Result<(), String> {
        match &*self.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&self, msg: String) {
        tracing::error!(error = %msg, "the data dir log failed; writes are refused until restart");
        let mut f = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(msg);
    }

    /// Returns once every record appended before the call is on disk; one `fdatasync` serves
    /// all the callers waiting meanwhile.
    pub async fn sync(&self) -> Result<(), String> {
        let target = self.written.load(Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let _leader = self.leader.lock().await;
        self.check()?;
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        // Read the count before the file: a compaction in between only makes the file newer,
        // and a newer file holds every record counted.
        let upto = self.written.load(Ordering::SeqCst);
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fault = self.faults.as_ref().and_then(|f| f.sync());
        let fsync = self.fsync;
        let res = tokio::task::spawn_blocking(move || match fault {
            Some(e) => Err(e),
            None if fsync => file.sync_data(),
            None => Ok(()),
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match res {
            Ok(()) => {
                self.synced.fetch_max(upto, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                let msg = format!(
                    "cannot fdatasync the data dir log {}: {e}; the change may not survive a crash, and writes are refused until the server is restarted",
                    self.path
                );
                self.fail(msg.clone());
                Err(msg)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        ("/pods".into(), "default".into(), n.into())
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let text = b"{\"rv\":1}\n{\"rv\":2,\"k\":[\"/pods\",\"default\",\"a\"],\"o\":{}}\n{\"rv\":3,\"k\":[\"/po";
        let (objects, rv, torn) = replay(Path::new("x"), text).unwrap();
        assert!(torn);
        assert_eq!(rv, 2);
        assert!(objects.contains_key(&key("a")));
    }

    #[test]
    fn a_bad_line_before_the_last_refuses_to_load_naming_the_line() {
        let text = b"{\"rv\":1}\n{\"rv\":2,\"k\":[\"/po\n{\"rv\":3,\"k\":[\"/pods\",\"default\",\"a\"],\"o\":{}}\n";
        let err = replay(Path::new("log"), text).unwrap_err().to_string();
        assert!(err.contains("log") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_bad_last_line_ending_in_a_newline_is_corruption_not_a_torn_write() {
        let text = b"{\"rv\":1}\n{\"rv\":2,\"k\":[\"/po\n";
        let err = replay(Path::new("log"), text).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn corruption_leaves_the_log_untouched() {
        let dir = std::env::temp_dir().join(format!("basalt-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text =
            b"{\"rv\":1}\nnot json\n{\"rv\":3,\"k\":[\"/pods\",\"default\",\"a\"],\"o\":{}}\n";
        std::fs::write(dir.join("objects.jsonl"), text).unwrap();
        let err = Persist::open(&dir, Options::default()).err().unwrap();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert_eq!(std::fs::read(dir.join("objects.jsonl")).unwrap(), text);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_data_dir_and_log_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("basalt-perm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("objects.jsonl"), b"{\"rv\":1}\n").unwrap();
        std::fs::set_permissions(
            dir.join("objects.jsonl"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let (mut p, _, _) = Persist::open(&dir, Options::default()).unwrap();
        p.put(&key("a"), &json!({}), 2).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("objects.jsonl")), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    struct FailNext(std::sync::atomic::AtomicBool);
    impl DiskFaults for FailNext {
        fn append(&self, len: usize) -> Option<(usize, std::io::Error)> {
            self.0
                .swap(false, Ordering::SeqCst)
                .then(|| (len / 2, std::io::Error::other("no space left on device")))
        }
    }

    #[test]
    fn a_failed_append_leaves_no_partial_record() {
        let dir = std::env::temp_dir().join(format!("basalt-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let faults = Arc::new(FailNext(false.into()));
        let opts = Options {
            faults: Some(faults.clone()),
            ..Options::default()
        };
        let (mut p, _, _) = Persist::open(&dir, opts).unwrap();
        p.put(&key("a"), &json!({"x": 1}), 2).unwrap();
        faults.0.store(true, Ordering::SeqCst);
        assert!(p.put(&key("b"), &json!({"x": 2}), 3).is_err());
        p.put(&key("c"), &json!({"x": 3}), 4).unwrap();
        drop(p);
        let (_, objects, rv) = Persist::open(&dir, Options::default()).unwrap();
        assert_eq!(rv, 4);
        let names: Vec<&str> = objects.keys().map(|k| k.2.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
