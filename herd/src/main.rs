//! The thundering-herd simulator: many clients call one provider of fixed capacity at once and
//! retry through the real runtime, in virtual time. Prints a table per (scenario, strategy) and
//! writes a chart of the provider's load per scenario (SVG and PNG).
//!
//! ```sh
//! cargo run --release -p herd -- --clients 1000 --capacity 100 --seed 1 --out target/herd
//! ```
//!
//! The simulator itself is the `herd` crate (`herd/`); this is its command line.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use herd::cli::{self, Command};
use herd::{plot, report, sim};

fn main() -> ExitCode {
    let (setup, out) = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run { setup, out }) => (setup, out),
        Ok(Command::Help) => return print(&format!("{}\n", cli::USAGE)),
        Err(error) => {
            eprintln!("herd: {error}\n(run with --help for the options)");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let runs = match sim::run_all(&setup) {
        Ok(runs) => runs,
        Err(error) => {
            eprintln!("herd: cannot start the simulation: {error}");
            return ExitCode::FAILURE;
        }
    };
    let simulated = started.elapsed();
    let mut text = report::table(&runs);
    match plot::write_charts(&runs, &out) {
        Ok(paths) => {
            text.push('\n');
            for path in paths {
                text.push_str(&format!("wrote {}\n", path.display()));
            }
        }
        Err(error) => {
            eprintln!("herd: {error}");
            return ExitCode::FAILURE;
        }
    }
    text.push_str(&format!(
        "wall time: {:.2} s simulating, {:.2} s drawing\n",
        simulated.as_secs_f64(),
        (started.elapsed() - simulated).as_secs_f64()
    ));
    print(&text)
}

/// Writes to stdout; a closed pipe (`| head`) ends the program quietly rather than in a panic.
fn print(text: &str) -> ExitCode {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herd: cannot write the report: {error}");
            ExitCode::FAILURE
        }
    }
}
