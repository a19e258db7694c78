//! The warehouse lock: one weir command writes to a warehouse at a time.
//!
//! `seed`, `run`, `test`, `build` and `snapshot` take an exclusive `flock` on
//! `<warehouse>/.weir.lock` before they compile (compilation reads which tables exist) and hold
//! it until they exit. The file says who holds it (pid, host, command, start time), so a second
//! command can name the holder. The kernel releases the lock when its holder exits, however it
//! exits (SIGKILL included), so a lock left by a killed run is never stale: the next command
//! takes it at once, and says whose it was when the file still names a process that is gone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::diagnostics::{io_error, Code, Diagnostic, Result};

/// The lock file's name, in the warehouse root.
pub const LOCK_FILE: &str = ".weir.lock";

/// The holder of a warehouse lock, as its lock file tells it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub started_at: String,
}

impl Holder {
    fn this_process(command: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            command: command.to_string(),
            started_at: chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }

    /// Whether the holder is a process on this host that no longer runs.
    fn is_gone(&self) -> bool {
        if self.host != hostname() {
            return false;
        }
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        !alive
    }

    fn describe(&self) -> String {
        format!(
            "`{}` (pid {} on {}, since {})",
            self.command, self.pid, self.host, self.started_at
        )
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and the last byte stays 0.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return "unknown host".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// An exclusive hold on a warehouse, released when dropped (or when the process exits).
#[derive(Debug)]
pub struct WarehouseLock {
    file: File,
    path: PathBuf,
    /// A holder named by the file that had exited without releasing it (reported once).
    pub took_over: Option<Holder>,
}

impl WarehouseLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WarehouseLock {
    fn drop(&mut self) {
        // Nobody holds it any more: the file says so by being empty. The file itself stays,
        // since removing a file others may have open and be waiting on would let two commands
        // hold "the" lock on two different files.
        let _ = self.file.set_len(0);
        // SAFETY: the descriptor is open for the life of `self.file`.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Takes the lock on the warehouse at `warehouse` (a local directory, created if missing) for
/// `command`, waiting up to `timeout` for another holder to finish. With a zero timeout a held
/// lock fails at once; the error names the holder and how to wait instead.
// Says once on stderr that it waits, and for whom: a wait must not look like a hang.
#[allow(clippy::print_stderr)]
pub fn acquire(warehouse: &Path, command: &str, timeout: Duration) -> Result<WarehouseLock> {
    std::fs::create_dir_all(warehouse)
        .map_err(|e| io_error("create the warehouse directory", warehouse, e))?;
    let path = warehouse.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error("open the warehouse lock", &path, e))?;
    let start = Instant::now();
    let mut announced = false;
    loop {
        // SAFETY: the descriptor is open for the life of `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            let previous = read_holder(&mut file);
            let me = Holder::this_process(command);
            write_holder(&mut file, &me).map_err(|e| io_error("write", &path, e))?;
            return Ok(WarehouseLock {
                file,
                path,
                took_over: previous.filter(Holder::is_gone),
            });
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io_error("lock", &path, err));
        }
        // The holder writes its name just after it takes the lock: give it a moment.
        let mut holder = read_holder(&mut file);
        for _ in 0..50 {
            if holder.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            holder = read_holder(&mut file);
        }
        let who = holder
            .as_ref()
            .map_or_else(|| "another weir command".to_string(), Holder::describe);
        if start.elapsed() >= timeout {
            let mut d = Diagnostic::error(
                Code::E530,
                format!("the warehouse {} is in use by {who}", warehouse.display()),
            )
            .note(format!("lock file: {}", path.display()));
            d = if timeout.is_zero() {
                d.help("wait for it to finish, or pass --lock-timeout (for example --lock-timeout 10m) to wait for it")
            } else {
                d.help(format!(
                    "it was still running after {}; raise --lock-timeout or wait for it to finish",
                    humanize(timeout)
                ))
            };
            return Err(d.into());
        }
        if !announced {
            eprintln!(
                "waiting up to {} for the warehouse lock held by {who}",
                humanize(timeout)
            );
            announced = true;
        }
        std::thread::sleep(Duration::from_millis(100).min(timeout.saturating_sub(start.elapsed())));
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

fn write_holder(file: &mut File, holder: &Holder) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    let text = serde_json::to_string(holder).map_err(std::io::Error::other)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.flush()
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// `--lock-timeout`: a number of seconds, or a number with `ms`, `s`, `m` or `h`.
pub fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (use 30s, 10m, 1h or seconds)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "'{other}' is not a unit of time (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{text}' is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_timeout("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("5d").is_err());
    }

    #[test]
    fn second_holder_is_refused_then_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "weir build", Duration::ZERO).unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts like another process would.
        let err = acquire(dir.path(), "weir run", Duration::from_millis(200)).unwrap_err();
        let d = err.diagnostic();
        assert_eq!(d.code, Code::E530);
        assert!(d.message.contains("`weir build`"), "{}", d.message);
        assert!(d.message.contains(&format!("pid {}", std::process::id())));
        drop(first);
        let second = acquire(dir.path(), "weir run", Duration::ZERO).unwrap();
        assert!(second.took_over.is_none());
    }
}
