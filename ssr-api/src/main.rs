//! `ssr-pool`: the render service's command line (serve, render, warm).

/// Renders allocate and free many short-lived buffers (the typed arrays a
/// stream's chunks are written into, the chunks themselves) from several
/// threads; glibc's allocator hands those pages back to the kernel and
/// faults them in again, mimalloc keeps them per thread. With the
/// `override` feature it is also the `malloc` of V8's C++ code, which
/// allocates a backing store and its bookkeeping for every typed array.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ssr_api::cli::main()
}
