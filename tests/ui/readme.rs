//! The compile errors README.md shows are rustc's real output: each one is copied verbatim from
//! the expected output of a UI case (`cases/*.stderr`, which `ui` checks against the compiler),
//! and its `-->` line names that case. A block whose text drifts from the file fails here.
//!
//! A README block counts as a compile error when its first line starts with `error`; it must be
//! one or more whole diagnostics, in order, exactly as they are in the case's `.stderr`.

use std::fs;
use std::path::Path;

const README: &str = "README.md";

#[test]
fn readme_compile_errors_are_copies_of_ui_output() {
    let ui_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme_path = ui_dir.join("../..").join(README);
    let readme = fs::read_to_string(&readme_path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", readme_path.display()));
    let blocks: Vec<Block> = fenced_blocks(&readme)
        .into_iter()
        .filter(Block::shows_compile_error)
        .collect();
    assert!(
        !blocks.is_empty(),
        "{README} shows no compile error any more; if that is on purpose, delete this test \
         (tests/ui/readme.rs) and its `[[test]]` in tests/ui/Cargo.toml"
    );
    let problems: Vec<String> = blocks
        .iter()
        .filter_map(|block| {
            block
                .check(|case| fs::read_to_string(ui_dir.join(case)).ok())
                .err()
        })
        .collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

// A fenced code block of the README: the line of its opening fence and its text.
struct Block {
    fence_line: usize,
    lines: Vec<String>,
}

fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        let is_fence = line.trim_start().starts_with("```");
        match (&mut open, is_fence) {
            (None, true) => {
                open = Some(Block {
                    fence_line: index + 1,
                    lines: Vec::new(),
                })
            }
            (Some(_), true) => blocks.extend(open.take()),
            (Some(block), false) => block.lines.push(line.to_owned()),
            (None, false) => {}
        }
    }
    blocks
}

impl Block {
    fn shows_compile_error(&self) -> bool {
        self.lines
            .first()
            .is_some_and(|first| first.starts_with("error"))
    }

    // The UI case the block's first `-->` line names, relative to tests/ui: `cases/x.rs`.
    fn case(&self) -> Option<&str> {
        let location = self
            .lines
            .iter()
            .find_map(|line| line.trim_start().strip_prefix("--> "))?;
        let file = location.split(':').next()?;
        (file.starts_with("cases/") && file.ends_with(".rs")).then_some(file)
    }

    // `Ok` when the block is whole diagnostics of its case's `.stderr`, read by `read`
    // (a path relative to tests/ui in, the file's text out); else what to do about it.
    fn check(&self, read: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let block = format!(
            "{README} line {}: the compile error block `{}`",
            self.fence_line, self.lines[0]
        );
        let Some(case) = self.case() else {
            return Err(format!(
                "{block} names no UI case.\nCopy it from a tests/ui/cases/*.stderr file, with its \
                 `--> cases/NAME.rs:LINE:COL` line, so that this test can keep it true."
            ));
        };
        let stderr_path = format!("{}.stderr", case.trim_end_matches(".rs"));
        let Some(stderr) = read(&stderr_path) else {
            return Err(format!(
                "{block} names `{case}`, which has no tests/ui/{stderr_path}.\nPoint its `-->` \
                 line at an existing case, or add the case and bless it with \
                 `TRYBUILD=overwrite cargo test -p retry-ui-tests --test ui`."
            ));
        };
        let expected: Vec<&str> = stderr.lines().collect();
        let shown: Vec<&str> = trim_trailing_blank(&self.lines);
        if contains_whole_diagnostics(&expected, &shown) {
            return Ok(());
        }
        Err(format!(
            "{block} is not a verbatim copy of tests/ui/{stderr_path}:\n{}\nReplace the \
             block's text with whole diagnostics copied from that file, `-->` line included; if \
             the message changed on purpose, bless the case first with \
             `TRYBUILD=overwrite cargo test -p retry-ui-tests --test ui` and review its diff.",
            self.first_difference(&expected, &shown)
        ))
    }

    // Where the block first parts from the file, for the failure message.
    fn first_difference(&self, expected: &[&str], shown: &[&str]) -> String {
        let quoted = |line: &str| format!("        {line}");
        let Some(start) = expected.iter().position(|line| *line == shown[0]) else {
            return format!("    the file has no line\n{}", quoted(shown[0]));
        };
        for (offset, line) in shown.iter().enumerate() {
            let readme_line = self.fence_line + 1 + offset;
            match expected.get(start + offset) {
                Some(wanted) if wanted == line => {}
                Some(wanted) => {
                    let (line, wanted) = (quoted(line), quoted(wanted));
                    return format!(
                        "    {README} line {readme_line}:\n{line}\n    the file:\n{wanted}"
                    );
                }
                None => {
                    return format!("    {README} line {readme_line}: past the end of the file")
                }
            }
        }
        "    the block stops inside a diagnostic; copy it to its end".to_owned()
    }
}

fn trim_trailing_blank(lines: &[String]) -> Vec<&str> {
    let mut shown: Vec<&str> = lines.iter().map(String::as_str).collect();
    while shown.last().is_some_and(|line| line.trim().is_empty()) {
        shown.pop();
    }
    shown
}

// Whether `shown` is a run of `expected`'s lines that starts where a diagnostic starts (its
// `error` line) and ends where one ends (the end of the file, or the blank line between two).
fn contains_whole_diagnostics(expected: &[&str], shown: &[&str]) -> bool {
    if shown.is_empty() {
        return false;
    }
    (0..=expected.len().saturating_sub(shown.len())).any(|start| {
        let end = start + shown.len();
        end <= expected.len()
            && expected[start..end] == *shown
            && expected.get(end).is_none_or(|next| next.is_empty())
    })
}

mod checker {
    use super::fenced_blocks;

    const STDERR: &str = "\
error: first
 --> cases/x.rs:1:1
  |
1 | a
  | ^

error: second
 --> cases/x.rs:2:1
  |
2 | b
  | ^
";

    fn check(readme: &str) -> Result<(), String> {
        let blocks = fenced_blocks(readme);
        assert_eq!(blocks.len(), 1);
        blocks[0].check(|path| (path == "cases/x.stderr").then(|| STDERR.to_owned()))
    }

    #[test]
    fn whole_diagnostics_pass() {
        check("```text\nerror: first\n --> cases/x.rs:1:1\n  |\n1 | a\n  | ^\n```\n").unwrap();
        check(&format!("```text\n{STDERR}```\n")).unwrap();
        check("```text\nerror: second\n --> cases/x.rs:2:1\n  |\n2 | b\n  | ^\n```\n").unwrap();
    }

    #[test]
    fn an_edited_or_cut_block_fails() {
        let edited = check("```text\nerror: first!\n --> cases/x.rs:1:1\n```\n").unwrap_err();
        assert!(
            edited.contains("the file has no line\n        error: first!"),
            "{edited}"
        );
        let cut = check("```text\nerror: first\n --> cases/x.rs:1:1\n  |\n```\n").unwrap_err();
        assert!(cut.contains("stops inside a diagnostic"), "{cut}");
        let moved = check("```text\nerror: first\n --> cases/x.rs:9:1\n```\n").unwrap_err();
        assert!(
            moved.contains("README.md line 3:\n         --> cases/x.rs:9:1"),
            "{moved}"
        );
    }

    #[test]
    fn a_block_without_a_case_fails() {
        let err = check("```text\nerror: first\n --> src/client.rs:1:1\n```\n").unwrap_err();
        assert!(err.contains("names no UI case"), "{err}");
        let err = check("```text\nerror: first\n --> cases/y.rs:1:1\n```\n").unwrap_err();
        assert!(err.contains("has no tests/ui/cases/y.stderr"), "{err}");
    }
}
