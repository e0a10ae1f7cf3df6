//! Entry point of `nano_node`: parse the reference flags, run the command, print a
//! one-line error and exit non-zero on failure.

use clap::Parser;

fn main() {
    let args = nano_daemon::cli::Args::parse();
    let result = nano_daemon::cli::run(&args);
    // The log lines still queued are written before the process ends.
    nano_daemon::logging::finish();
    match result {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
        }
    }
}
