fn main() -> std::process::ExitCode {
    sceneflow::cli::main()
}
