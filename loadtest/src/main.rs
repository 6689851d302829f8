//! `peregrine-load` command-line entry point. See `--help` and the crate README.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use peregrine_load::report::{progress_line, render_table};
use peregrine_load::{cli, parse_args, Command, RunError};

fn main() -> ExitCode {
    let args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let config = match parse_args(args) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("peregrine-load {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("peregrine-load: {e}");
            return ExitCode::from(2);
        }
    };

    if config.ws {
        return match peregrine_load::ws::run_ws(&config) {
            Ok(summary) => {
                if config.json {
                    match serde_json::to_string_pretty(&summary) {
                        Ok(json) => println!("{json}"),
                        Err(e) => {
                            eprintln!("peregrine-load: cannot encode the summary: {e}");
                            return ExitCode::from(1);
                        }
                    }
                } else {
                    print!("{}", peregrine_load::ws::render(&summary));
                }
                if summary.errors > 0 && !config.allow_errors {
                    eprintln!(
                        "peregrine-load: {} error(s); exit status 1 (--allow-errors to exit 0)",
                        summary.errors
                    );
                    return ExitCode::from(1);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("peregrine-load: {e}");
                ExitCode::from(1)
            }
        };
    }

    let live = io::stderr().is_terminal();
    let result = peregrine_load::run(&config, |tick| {
        if live {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{}", progress_line(tick));
            let _ = err.flush();
        }
    });
    if live {
        eprint!("\r\x1b[K");
    }

    let outcome = match result {
        Ok(outcome) => outcome,
        Err(RunError::Config(e)) => {
            eprintln!("peregrine-load: {e}");
            return ExitCode::from(2);
        }
        Err(RunError::Runtime(e)) => {
            eprintln!("peregrine-load: {e}");
            return ExitCode::from(1);
        }
    };
    let summary = &outcome.summary;
    if config.json {
        match serde_json::to_string_pretty(summary) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("peregrine-load: cannot encode the summary: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", render_table(summary));
    }
    if summary.errors_total > 0 && !config.allow_errors {
        eprintln!(
            "peregrine-load: {} error(s); exit status 1 (--allow-errors to exit 0)",
            summary.errors_total
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
