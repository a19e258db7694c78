// Compiling a project allocates many small values on every thread; mimalloc keeps that cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    // mimalloc's option setter (linked in by `libmimalloc-sys`; not re-exported by `mimalloc`).
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t` (the version `libmimalloc-sys`
/// builds by default).
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;

fn main() -> std::process::ExitCode {
    // mimalloc hands memory freed by one phase back to the OS after 10 ms, and the next phase
    // faults it in again, zeroed (page zeroing is 13-15 % of a large compile's CPU on the
    // benchmark VM). A second keeps the memory for the next phase and still returns it during
    // a long run.
    // SAFETY: sets an integer option; called before any thread starts.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
    }
    // `weir ls | head` should end quietly when the reader goes away, as other CLIs do.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    weir::cli::main()
}
