//! The example's command line: flags, errors, and a server started from them.

mod support;

use mock_llm::cli::{parse_args, usage, Command};

fn serve(args: &[&str]) -> mock_llm::MockLlmBuilder {
    match parse_args(args.iter().copied()) {
        Ok(Command::Serve(builder)) => *builder,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn error(args: &[&str]) -> String {
    match parse_args(args.iter().copied()) {
        Err(e) => e.to_string(),
        other => panic!("{args:?} parsed: {other:?}"),
    }
}

#[test]
fn help_lists_every_flag() {
    assert!(matches!(parse_args(["--help"]), Ok(Command::Help)));
    assert!(matches!(
        parse_args(["--port", "1", "-h"]),
        Ok(Command::Help)
    ));
    let text = usage();
    for flag in [
        "--host",
        "--port",
        "--latency-ms",
        "--seed",
        "--capacity",
        "--burst",
        "--rate-429",
        "--hint-ms",
        "--rate-429-nohint",
        "--rate-500",
        "--rate-502",
        "--rate-503",
        "--rate-529",
        "--rate-slow",
        "--slow-ms",
        "--rate-cut",
        "--rate-disconnect",
        "--random",
        "--script",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn unknown_flags_and_bad_values_are_clear_errors() {
    assert!(error(&["--nope"]).contains("unknown flag `--nope`"));
    assert!(error(&["stray"]).contains("unknown flag"));
    assert!(error(&["--port"]).contains("--port needs a value"));
    assert!(error(&["--port", "70000"]).contains("not a port"));
    assert!(error(&["--rate-503", "1.5"]).contains("between 0 and 1"));
    assert!(error(&["--rate-503", "NaN"]).contains("between 0 and 1"));
    assert!(error(&["--rate-503", "0.6", "--rate-500", "0.6"]).contains("more than 1"));
    assert!(error(&["--capacity", "0"]).contains("--capacity"));
    assert!(error(&["--capacity", "fast"]).contains("--capacity"));
    assert!(error(&["--burst", "0"]).contains("--burst"));
    assert!(error(&["--host", "localhost"]).contains("IP address"));
    assert!(error(&["--random", "503"]).contains("SPEC@RATE"));
    assert!(error(&["--random", "teapot@0.1"]).contains("unknown fault"));
    assert!(error(&["--script", "429,wat"]).contains("--script"));
    assert!(error(&["--seed=-1"]).contains("--seed"));
}

#[test]
fn flags_are_accepted_in_both_forms() {
    let _ = serve(&[]);
    let _ = serve(&[
        "--port=0",
        "--host",
        "127.0.0.1",
        "--rate-429",
        "0.1",
        "--rate-503=0.05",
        "--capacity",
        "20",
        "--burst",
        "2",
        "--seed",
        "7",
        "--latency-ms",
        "5",
        "--hint-ms",
        "250",
        "--random",
        "gemini-retry-delay:50@0.1",
        "--script",
        "retry-after:0.05,503",
        "--script",
        "ok",
    ]);
}

#[tokio::test]
async fn a_server_started_from_flags_follows_them() {
    let builder = serve(&[
        "--port",
        "0",
        "--script",
        "retry-after-ms:20,529+x-should-retry=false",
        "--rate-503",
        "1",
    ]);
    let server = builder.start().await.expect("starts");
    let first = support::chat_ok(server.addr(), &[]).await;
    assert_eq!(first.status, 429);
    assert_eq!(first.header("retry-after-ms"), Some("20"));
    let second = support::chat_ok(server.addr(), &[]).await;
    assert_eq!(second.status, 529);
    assert_eq!(second.header("x-should-retry"), Some("false"));
    // Then the random rate of 1: always 503.
    assert_eq!(support::chat_ok(server.addr(), &[]).await.status, 503);
}
