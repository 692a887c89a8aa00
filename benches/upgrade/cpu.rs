//! The real CPU time of the simulator's threads and of upshift's apart, and memory.

#[allow(unused_imports)]
use super::*;

/// A size line of /proc/self/status (`VmRSS:`, `VmHWM:`) in megabytes.
pub fn memory_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds of this process, and of its threads by name (`sim`, `upshift`, the
/// main thread's).
#[derive(Clone, Debug, Default)]
pub struct Cpu {
    pub process: f64,
    pub threads: BTreeMap<i64, (String, f64)>,
}

/// Linux's fixed unit of /proc times (USER_HZ).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a /proc `stat` line, in seconds.
pub fn stat_seconds(stat: &str) -> Option<f64> {
    // the name is in parentheses and may hold spaces: count fields after it
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

impl Cpu {
    pub fn read() -> Cpu {
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| stat_seconds(&s))
            .unwrap_or(f64::NAN);
        let mut threads = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for t in dir.flatten() {
                let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
                    continue;
                };
                let p = t.path();
                let name = std::fs::read_to_string(p.join("comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                // schedstat's first field is the thread's CPU time in nanoseconds
                let secs = std::fs::read_to_string(p.join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                    .map(|ns| ns / 1e9)
                    .or_else(|| {
                        std::fs::read_to_string(p.join("stat"))
                            .ok()
                            .and_then(|s| stat_seconds(&s))
                    });
                if let Some(secs) = secs {
                    threads.insert(tid, (name, secs));
                }
            }
        }
        Cpu { process, threads }
    }

    pub fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            process: self.process - before.process,
            threads: self
                .threads
                .iter()
                .map(|(tid, (name, s))| {
                    let was = before.threads.get(tid).map_or(0.0, |(_, b)| *b);
                    (*tid, (name.clone(), s - was))
                })
                .collect(),
        }
    }

    /// Seconds of the threads whose name starts with `prefix`.
    pub fn of(&self, prefix: &str) -> f64 {
        self.threads
            .values()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, s)| s)
            .sum()
    }
}
