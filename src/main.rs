// Compiling a project allocates many small values on every thread; mimalloc keeps that cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // `weir ls | head` should end quietly when the reader goes away, as other CLIs do.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    weir::cli::main()
}
