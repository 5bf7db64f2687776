//! The `chat-harness` binary: parses the command line, installs the signal
//! handler, builds the runtime and hands everything else to [`chat_harness::run`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = chat_harness::cli::parse();
    if let Err(e) = chat_harness::shutdown::install() {
        eprintln!("warning: {e}; a signal will end the process without reports");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(chat_harness::error::exit_code::UNREACHABLE);
        }
    };
    ExitCode::from(runtime.block_on(chat_harness::run(cli)))
}
