//! `ssr-pool`: the render service's command line (serve, render, warm).

fn main() -> std::process::ExitCode {
    ssr_api::cli::main()
}
