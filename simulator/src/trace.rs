//! Trace readers: a small header-addressed CSV reader whose every failure names file, line,
//! column and reason, and on top of it the openb pod list, the generic job CSV and the Philly
//! runtime list. Readers only parse; turning pods into arrivals for a protocol (e.g. FGD's
//! inflation) is the caller's business.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Result, TraceError, read_to_string};
use crate::workload::{JobKind, JobSpec, Workload};

/// A parsed CSV file: header and data rows with their line numbers.
#[derive(Clone, Debug)]
pub struct Csv {
    path: PathBuf,
    header: Vec<String>,
    /// Data rows.
    pub rows: Vec<Row>,
}

/// One data row.
#[derive(Clone, Debug)]
pub struct Row {
    path: PathBuf,
    line: usize,
    cells: Vec<String>,
    header: std::rc::Rc<Vec<String>>,
}

/// A column position, looked up once by name.
#[derive(Clone, Copy, Debug)]
pub struct Col(usize);

impl Csv {
    /// Reads and splits `path` (plain comma-separated, no quoting: what these traces use).
    pub fn read(path: &Path) -> Result<Self> {
        let text = read_to_string(path)?;
        Ok(Self::parse(path, &text)?)
    }

    /// Splits `text`; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, TraceError> {
        let mut lines = text.lines().enumerate();
        let header: Vec<String> = match lines.next() {
            Some((_, h)) => h.split(',').map(|c| c.trim().to_owned()).collect(),
            None => {
                return Err(TraceError::new(
                    path,
                    1,
                    "",
                    "the file is empty; expected a header row",
                ));
            }
        };
        let shared = std::rc::Rc::new(header.clone());
        let mut rows = Vec::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let cells: Vec<String> = line.split(',').map(|c| c.trim().to_owned()).collect();
            if cells.len() != header.len() {
                let col = header.get(cells.len().min(header.len().saturating_sub(1)));
                return Err(TraceError::new(
                    path,
                    i + 1,
                    col.map_or("", String::as_str),
                    format!(
                        "row has {} cells, the header has {}",
                        cells.len(),
                        header.len()
                    ),
                ));
            }
            rows.push(Row {
                path: path.to_path_buf(),
                line: i + 1,
                cells,
                header: shared.clone(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// The position of a required column.
    pub fn column(&self, name: &str) -> Result<Col, TraceError> {
        self.optional(name).ok_or_else(|| {
            TraceError::new(
                &self.path,
                1,
                name,
                format!("missing column; the header has: {}", self.header.join(", ")),
            )
        })
    }

    /// The position of an optional column.
    pub fn optional(&self, name: &str) -> Option<Col> {
        self.header.iter().position(|h| h == name).map(Col)
    }
}

impl Row {
    /// The raw cell.
    pub fn get(&self, col: Col) -> &str {
        &self.cells[col.0]
    }

    /// An error about this row's cell in `col`.
    pub fn error(&self, col: Col, reason: impl Into<String>) -> TraceError {
        TraceError::new(&self.path, self.line, &self.header[col.0], reason)
    }

    /// Parses the cell in `col`.
    pub fn parse<T: FromStr>(&self, col: Col) -> Result<T, TraceError>
    where
        T::Err: std::fmt::Display,
    {
        let cell = self.get(col);
        cell.parse::<T>().map_err(|e| {
            self.error(
                col,
                format!("{cell:?} is not a valid {}: {e}", short_type::<T>()),
            )
        })
    }

    /// Parses a non-negative number of seconds into milliseconds.
    pub fn seconds_ms(&self, col: Col) -> Result<u64, TraceError> {
        let v: f64 = self.parse(col)?;
        if !v.is_finite() || v < 0.0 {
            return Err(self.error(col, format!("{v} is not a non-negative number of seconds")));
        }
        Ok((v * 1000.0).round() as u64)
    }
}

fn short_type<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// One pod of an openb pod list.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenbPod {
    /// Pod name.
    pub name: String,
    /// CPU request, millicores.
    pub cpu_milli: i64,
    /// Memory request, MiB.
    pub memory_mib: i64,
    /// Number of GPUs.
    pub num_gpu: u32,
    /// Per-GPU share in milli (clipped to 0..=1000; 0 when `num_gpu == 0`).
    pub gpu_milli: u32,
    /// Accepted GPU models (empty = any).
    pub gpu_spec: Vec<String>,
    /// QoS class (used as the tenant in time replays).
    pub qos: String,
    /// Creation, scheduled and deletion time in seconds, when the file has them (scheduled and
    /// deletion are empty for pods that never ran or never ended).
    pub times: Option<(u64, Option<u64>, Option<u64>)>,
}

/// Reads an openb pod list (any of the variants; the time columns are optional).
pub fn read_openb_pods(path: &Path) -> Result<Vec<OpenbPod>> {
    let csv = Csv::read(path)?;
    let name = csv.column("name")?;
    let cpu = csv.column("cpu_milli")?;
    let mem = csv.column("memory_mib")?;
    let num = csv.column("num_gpu")?;
    let milli = csv.column("gpu_milli")?;
    let spec = csv.optional("gpu_spec");
    let qos = csv.optional("qos");
    let times = match (
        csv.optional("creation_time"),
        csv.optional("scheduled_time"),
        csv.optional("deletion_time"),
    ) {
        (Some(c), Some(s), Some(d)) => Some((c, s, d)),
        _ => None,
    };
    let mut pods = Vec::with_capacity(csv.rows.len());
    for row in &csv.rows {
        let num_gpu: u32 = row.parse(num)?;
        let raw_milli: i64 = row.parse(milli)?;
        if num_gpu > 1 && raw_milli < 1000 {
            return Err(row
                .error(
                    milli,
                    "a multi-GPU pod must use whole GPUs (gpu_milli 1000)",
                )
                .into());
        }
        let gpu_milli = if num_gpu == 0 {
            0
        } else {
            raw_milli.clamp(0, 1000) as u32
        };
        let times = match times {
            Some((c, s, d)) => {
                let opt = |col| -> Result<Option<u64>, TraceError> {
                    if row.get(col).is_empty() {
                        Ok(None)
                    } else {
                        row.parse(col).map(Some)
                    }
                };
                Some((row.parse(c)?, opt(s)?, opt(d)?))
            }
            None => None,
        };
        pods.push(OpenbPod {
            name: row.get(name).to_owned(),
            cpu_milli: row.parse(cpu)?,
            memory_mib: row.parse(mem)?,
            num_gpu,
            gpu_milli,
            gpu_spec: spec
                .map(|c| {
                    row.get(c)
                        .split('|')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            qos: qos.map_or_else(|| "default".to_owned(), |c| row.get(c).to_owned()),
            times,
        });
    }
    Ok(pods)
}

/// An openb pod list as a time replay: one single-pod job per pod, submitted at its creation
/// time, running for `deletion − scheduled` (`scheduled` defaults to creation; a pod that never
/// ended runs until the trace's last deletion), tenant = QoS class. Pod lists without time
/// columns are rejected.
pub fn openb_workload(path: &Path) -> Result<Workload> {
    let pods = read_openb_pods(path)?;
    let trace_end = pods
        .iter()
        .filter_map(|p| p.times.and_then(|t| t.2))
        .max()
        .unwrap_or(0);
    let mut w = Workload::default();
    for (i, p) in pods.iter().enumerate() {
        let Some((created, scheduled, deleted)) = p.times else {
            return Err(TraceError::new(path, 1, "creation_time", "this pod list has no time columns; use it with the fgd experiment, not a time replay").into());
        };
        let start = scheduled.unwrap_or(created).max(created);
        let deleted = deleted.unwrap_or(trace_end);
        let tenant = w.tenant_index(&p.qos);
        w.jobs.push(JobSpec {
            name: format!("{}-{i}", p.name),
            tenant,
            submit_ms: created * 1000,
            duration_ms: deleted.saturating_sub(start).max(1) * 1000,
            pods: 1,
            gpus_per_pod: p.num_gpu,
            gpu_milli: p.gpu_milli,
            cpu_milli: p.cpu_milli,
            memory_bytes: p.memory_mib << 20,
            gang: false,
            kind: if p.gpu_milli < 1000 {
                JobKind::Inference
            } else {
                JobKind::Training
            },
            priority: 0,
            gpu_models: p.gpu_spec.clone(),
            declared_runtime_ms: None,
        });
    }
    w.sort();
    Ok(w)
}

/// The generic job CSV: required `submit` (s), `duration` (s), `gpus` (total), `tenant`;
/// optional `pods` (default ⌈gpus/8⌉), `gang` (true/false, default true when pods > 1),
/// `gpu_milli` (per-card share, default 1000), `priority` (0), `name`.
pub fn read_generic(path: &Path) -> Result<Workload> {
    let csv = Csv::read(path)?;
    let submit = csv.column("submit")?;
    let duration = csv.column("duration")?;
    let gpus_col = csv.column("gpus")?;
    let tenant_col = csv.column("tenant")?;
    let pods_col = csv.optional("pods");
    let gang_col = csv.optional("gang");
    let milli_col = csv.optional("gpu_milli");
    let prio_col = csv.optional("priority");
    let name_col = csv.optional("name");
    let mut w = Workload::default();
    for (i, row) in csv.rows.iter().enumerate() {
        let gpus: u32 = row.parse(gpus_col)?;
        let pods: u32 = match pods_col {
            Some(c) => row.parse(c)?,
            None => gpus.div_ceil(8).max(1),
        };
        if pods == 0 || !gpus.is_multiple_of(pods) {
            let col = pods_col.unwrap_or(gpus_col);
            return Err(row
                .error(
                    col,
                    format!("{gpus} GPUs do not split evenly over {pods} pods"),
                )
                .into());
        }
        let gpu_milli: u32 = match milli_col {
            Some(c) => row.parse(c)?,
            None => 1000,
        };
        if gpu_milli == 0 || gpu_milli > 1000 || (gpu_milli < 1000 && gpus != 1) {
            let c = milli_col.unwrap_or(gpus_col);
            return Err(row
                .error(
                    c,
                    "gpu_milli must be 1..=1000, and below 1000 only for a 1-GPU job",
                )
                .into());
        }
        let gang = match gang_col {
            Some(c) => row.parse(c)?,
            None => pods > 1,
        };
        let tenant = row.get(tenant_col).to_owned();
        if tenant.is_empty() {
            return Err(row
                .error(tenant_col, "tenant is empty; name the team or queue")
                .into());
        }
        let tenant = w.tenant_index(&tenant);
        w.jobs.push(JobSpec {
            name: name_col.map_or_else(|| format!("job-{i:06}"), |c| row.get(c).to_owned()),
            tenant,
            submit_ms: row.seconds_ms(submit)?,
            duration_ms: row.seconds_ms(duration)?.max(1),
            pods,
            gpus_per_pod: gpus / pods,
            gpu_milli,
            cpu_milli: 8_000,
            memory_bytes: 64 << 30,
            gang,
            kind: JobKind::Training,
            priority: match prio_col {
                Some(c) => row.parse(c)?,
                None => 0,
            },
            gpu_models: Vec::new(),
            declared_runtime_ms: None,
        });
    }
    w.sort();
    Ok(w)
}

/// The Philly runtime list (`runtime` in seconds).
pub fn read_philly(path: &Path) -> Result<Vec<f64>> {
    let csv = Csv::read(path)?;
    let col = csv.column("runtime")?;
    let mut out = Vec::with_capacity(csv.rows.len());
    for row in &csv.rows {
        let v: f64 = row.parse(col)?;
        if !v.is_finite() || v < 0.0 {
            return Err(row
                .error(col, format!("{v} is not a non-negative number of seconds"))
                .into());
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tmp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("basalt-sim-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn generic_csv_reads_jobs_and_defaults() {
        let p = write_tmp(
            "ok.csv",
            "submit,duration,gpus,tenant\n0,60,16,a\n30.5,10,1,b\n",
        );
        let w = read_generic(&p).unwrap();
        assert_eq!(w.jobs.len(), 2);
        assert_eq!(
            (w.jobs[0].pods, w.jobs[0].gpus_per_pod, w.jobs[0].gang),
            (2, 8, true)
        );
        assert_eq!(w.jobs[1].submit_ms, 30_500);
        assert_eq!(w.tenants.len(), 2);
    }

    #[test]
    fn bad_rows_name_file_line_column_and_reason() {
        let p = write_tmp(
            "bad1.csv",
            "submit,duration,gpus,tenant\n0,60,1,a\n5,x,1,a\n",
        );
        let e = read_generic(&p).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "bad1.csv:3: column \"duration\": \"x\" is not a valid f64: invalid float literal"
            ),
            "{e}"
        );
        let p = write_tmp("bad2.csv", "submit,duration,gpus,tenant\n0,60,1\n");
        let e = read_generic(&p).unwrap_err().to_string();
        assert!(
            e.contains("bad2.csv:2:") && e.contains("row has 3 cells"),
            "{e}"
        );
        let p = write_tmp("bad3.csv", "submit,duration,tenant\n");
        let e = read_generic(&p).unwrap_err().to_string();
        assert!(
            e.contains("bad3.csv:1: column \"gpus\": missing column"),
            "{e}"
        );
        let p = write_tmp("bad4.csv", "submit,duration,gpus,tenant,pods\n0,1,6,a,4\n");
        let e = read_generic(&p).unwrap_err().to_string();
        assert!(
            e.contains(":2: column \"pods\": 6 GPUs do not split evenly over 4 pods"),
            "{e}"
        );
        let p = write_tmp("bad5.csv", "submit,duration,gpus,tenant\n-3,1,1,a\n");
        let e = read_generic(&p).unwrap_err().to_string();
        assert!(
            e.contains(":2: column \"submit\": -3 is not a non-negative"),
            "{e}"
        );
        let p = write_tmp(
            "bad6.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,10,2,500\n",
        );
        let e = read_openb_pods(&p).unwrap_err().to_string();
        assert!(
            e.contains(":2: column \"gpu_milli\": a multi-GPU pod"),
            "{e}"
        );
    }

    #[test]
    fn repository_traces_parse() {
        let base = &crate::repo_traces_dir();
        let pods = read_openb_pods(&base.join("openb-2023/openb_pod_list_default.csv")).unwrap();
        assert_eq!(pods.len(), 8152);
        let multi = read_openb_pods(&base.join("openb-2023/openb_pod_list_multigpu20.head100.csv"))
            .unwrap();
        assert_eq!(multi.len(), 100);
        assert!(multi.iter().all(|p| p.times.is_none()));
        let w = openb_workload(&base.join("openb-2023/openb_pod_list_default.csv")).unwrap();
        assert_eq!(w.jobs.len(), 8152);
        let philly = read_philly(&base.join("philly-2017/philly_runtime.csv")).unwrap();
        assert_eq!(philly.len(), 83_154);
    }
}
