//! A fake OpenAI-compatible provider with fault injection, on a fixed port.
//!
//! ```text
//! cargo run --example mock_llm -- --port 8080 --rate-429 0.1 --rate-503 0.05 --capacity 20 --seed 7
//! curl -s http://127.0.0.1:8080/v1/chat/completions \
//!   -H 'content-type: application/json' -H 'idempotency-key: k1' \
//!   -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
//! ```
//!
//! Point any OpenAI-compatible client at the printed base URL. It serves until Ctrl-C, then
//! prints what it received, billed and replayed. `--help` lists the flags; an unknown flag or a
//! bad value exits with code 2.

use std::process::ExitCode;

use mock_llm::cli::{parse_args, usage, Command};

fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(arg) => {
                eprintln!("mock_llm: argument {arg:?} is not valid UTF-8");
                return ExitCode::from(2);
            }
        }
    }
    let builder = match parse_args(args) {
        Ok(Command::Help) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(builder)) => *builder,
        Ok(_) => {
            eprintln!("mock_llm: unsupported command");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("mock_llm: {error}\nRun with --help to list the flags.");
            return ExitCode::from(2);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mock_llm: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match builder.start().await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("mock_llm: cannot start the server: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("mock-llm listening on {}", server.addr());
        println!("base URL:          {}", server.base_url());
        println!("chat completions:  POST {}", server.chat_completions_url());
        println!("Ctrl-C to stop.");
        match server.run_until_ctrl_c().await {
            Ok(stats) => {
                println!("\n{stats}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("mock_llm: cannot wait for Ctrl-C: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
