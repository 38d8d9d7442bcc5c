// docs/src/benchmarks.md "Mobile API under load": glibc's malloc took a quarter of the
// server's CPU per answer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sceneflow::cli::main()
}
