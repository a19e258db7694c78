//! The staging area and the swap that makes an install all-or-nothing.
//!
//! Everything is fetched under `<parent>/.<install dir>.weir-<pid>/` (beside the install
//! directory, so on the same file system): `work/` for clones and downloads, `new/` for the
//! directory that becomes the install directory. Only when every package is in `new/` is it
//! exchanged with the install directory in one `renameat2(RENAME_EXCHANGE)` (two renames
//! where the file system cannot exchange). A failure before that removes the staging area
//! and leaves the install directory as it was.

use std::path::{Path, PathBuf};

use crate::diagnostics::{io_error, Result};

pub(crate) struct Staging {
    root: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) new: PathBuf,
    install_dir: PathBuf,
}

const MARK: &str = ".weir-";

fn staging_prefix(install_dir: &Path) -> (PathBuf, String) {
    let parent = install_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = install_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "dbt_packages".into());
    (parent, format!(".{name}{MARK}"))
}

/// Whether a process with this id is running (a staging area of a live command is not
/// stale).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

impl Staging {
    /// A fresh staging area for `install_dir`; areas left by killed commands are removed.
    pub(crate) fn new(install_dir: &Path) -> Result<Staging> {
        let (parent, prefix) = staging_prefix(install_dir);
        std::fs::create_dir_all(&parent).map_err(|e| io_error("create", &parent, e))?;
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some(pid) = name.strip_prefix(&prefix) else {
                    continue;
                };
                if pid.parse::<i32>().is_ok_and(|p| !alive(p)) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let root = parent.join(format!("{prefix}{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(|e| io_error("remove", &root, e))?;
        }
        let (work, new) = (root.join("work"), root.join("new"));
        for d in [&work, &new] {
            std::fs::create_dir_all(d).map_err(|e| io_error("create", d, e))?;
        }
        Ok(Staging {
            root,
            work,
            new,
            install_dir: install_dir.to_path_buf(),
        })
    }

    /// Put `new/` in place of the install directory, at once.
    pub(crate) fn swap(&self) -> Result<()> {
        let target = &self.install_dir;
        let exists = std::fs::symlink_metadata(target).is_ok();
        if exists && exchange(&self.new, target).is_ok() {
            return Ok(());
        }
        if exists {
            let old = self.root.join("old");
            std::fs::rename(target, &old).map_err(|e| io_error("move away", target, e))?;
            if let Err(e) = std::fs::rename(&self.new, target) {
                // Put the old one back: a failed install leaves what was there.
                let _ = std::fs::rename(&old, target);
                return Err(io_error("move into place", target, e));
            }
            return Ok(());
        }
        std::fs::rename(&self.new, target).map_err(|e| io_error("move into place", target, e))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths; the call only renames.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}
