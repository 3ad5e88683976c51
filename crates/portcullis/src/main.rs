use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: a token request allocates a
/// few hundred times (headers, the form, the event), and glibc's malloc and
/// free were about a tenth of its instructions (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = portcullis::cli::Cli::parse();
    portcullis::cli::run(cli).await
}
