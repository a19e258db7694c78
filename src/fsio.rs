//! Files that appear whole or not at all.
//!
//! Everything weir writes under `target/` goes through [`write_atomic`]: the bytes go to a
//! temporary file beside the destination, named for this process and write, which is then
//! renamed over it. A reader (or a second weir process in the same project) sees the old file
//! or the new one, never a torn or interleaved one, and a kill leaves at most a stray
//! `.<name>.<pid>-<n>.tmp`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// The temporary file a write of `path` goes through.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

/// Write `bytes` to `path` atomically (the folder must exist), with the values of secret
/// environment variables scrubbed from text.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if crate::diagnostics::has_secrets() {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let text = crate::diagnostics::scrub(text);
            return write_atomic_with(path, |f| f.write_all(text.as_bytes()));
        }
    }
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Write `path` atomically with `fill`, which gets the temporary file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| fill(&mut f))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
