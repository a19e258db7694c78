//! The memory limit of queries as it is written (`4GB`, `512MB`, `60%`, a number of bytes) and
//! what it comes to on this machine.

use std::fmt;

/// A memory limit as written in profiles.yml or on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryLimit {
    /// A size in bytes.
    Bytes(u64),
    /// A percentage (above 0, at most 100) of the machine's memory: the smaller of its
    /// physical memory and the memory its cgroup may use.
    Percent(f64),
}

/// The limit when none is given: 60% of the machine's memory, leaving room for the rest of
/// the process (Delta writes, cached views) and the system.
pub const DEFAULT_MEMORY_LIMIT: MemoryLimit = MemoryLimit::Percent(60.0);

/// Units: DuckDB's and dbt-duckdb's, with KB, MB, GB and TB in powers of 1000 and KiB, MiB,
/// GiB and TiB in powers of 1024; case does not matter.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("bytes", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

impl MemoryLimit {
    /// Parse `4GB`, `512 MB`, `1.5GiB`, `60%` or `1073741824`. The error says what is wrong.
    pub fn parse(text: &str) -> Result<MemoryLimit, String> {
        let t = text.trim();
        if let Some(pct) = t.strip_suffix('%') {
            let n: f64 = pct
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a percentage such as 60%"))?;
            if !(n > 0.0 && n <= 100.0) {
                return Err(format!(
                    "`{text}`: a percentage of the machine's memory must be above 0 and at most 100"
                ));
            }
            return Ok(MemoryLimit::Percent(n));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use KB, MB, GB, TB, KiB, MiB, GiB, TiB or %)"
            ));
        };
        let n: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size such as 4GB or 512MB"))?;
        let bytes = (n * scale as f64).round();
        if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(format!("`{text}`: the limit must be at least one byte"));
        }
        Ok(MemoryLimit::Bytes(bytes as u64))
    }

    /// The limit in bytes on this machine.
    pub fn bytes(self) -> Result<u64, String> {
        match self {
            MemoryLimit::Bytes(n) => Ok(n),
            MemoryLimit::Percent(p) => Ok((machine_memory()? as f64 * p / 100.0) as u64),
        }
    }
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryLimit::Bytes(n) => f.write_str(&human_size(*n)),
            MemoryLimit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// `20 MB`, `1.5 GB`, `512 bytes`: in the decimal units [`MemoryLimit::parse`] reads.
pub fn human_size(bytes: u64) -> String {
    for (unit, scale) in [
        ("TB", 1_000_000_000_000u64),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("kB", 1_000),
    ] {
        if bytes >= scale {
            let v = bytes as f64 / scale as f64;
            let text = format!("{v:.1}");
            let text = text.strip_suffix(".0").unwrap_or(&text);
            return format!("{text} {unit}");
        }
    }
    format!("{bytes} bytes")
}

/// The memory this process may use: the physical memory (`MemTotal` in /proc/meminfo), or
/// the cgroup's limit when that is smaller (cgroup v2 `memory.max`, v1
/// `memory.limit_in_bytes`).
pub fn machine_memory() -> Result<u64, String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| {
        format!("cannot read this machine's memory from /proc/meminfo ({e}); give memory_limit as a size such as 4GB")
    })?;
    let total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| {
            "/proc/meminfo has no MemTotal line in kB; give memory_limit as a size such as 4GB"
                .to_string()
        })?;
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    // "max" (v2) means no limit; v1 writes a huge number for none, which `min` ignores.
    .filter_map(|v| v.trim().parse::<u64>().ok())
    .min();
    Ok(cgroup.map_or(total, |c| c.min(total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_percentages() {
        let p = MemoryLimit::parse;
        assert_eq!(p("4GB"), Ok(MemoryLimit::Bytes(4_000_000_000)));
        assert_eq!(p("512MB"), Ok(MemoryLimit::Bytes(512_000_000)));
        assert_eq!(p("512 mb"), Ok(MemoryLimit::Bytes(512_000_000)));
        assert_eq!(p("1.5GiB"), Ok(MemoryLimit::Bytes(3 << 29)));
        assert_eq!(p("20MiB"), Ok(MemoryLimit::Bytes(20 << 20)));
        assert_eq!(p("1073741824"), Ok(MemoryLimit::Bytes(1 << 30)));
        assert_eq!(p("100 bytes"), Ok(MemoryLimit::Bytes(100)));
        assert_eq!(p("60%"), Ok(MemoryLimit::Percent(60.0)));
        assert_eq!(p(" 100 % "), Ok(MemoryLimit::Percent(100.0)));
        for bad in [
            "", "GB", "4XB", "0", "0MB", "-1GB", "0%", "150%", "abc", "4 G B", "1.2.3GB", "%",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(p("4ZB").unwrap_err().contains("unknown unit `zb`"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(20_000_000), "20 MB");
        assert_eq!(human_size(1_500_000_000), "1.5 GB");
        assert_eq!(human_size(20 << 20), "21 MB");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(MemoryLimit::Percent(60.0).to_string(), "60%");
    }

    #[test]
    fn machine_memory_is_known_here() {
        let m = machine_memory().unwrap();
        assert!(m > 64 << 20, "{m}");
        let sixty = DEFAULT_MEMORY_LIMIT.bytes().unwrap();
        assert!(sixty < m && sixty > m / 2);
    }
}
